package document

import (
	"context"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
)

// An update whose op-log append was stored but whose acknowledgement was
// lost (the engine's NATS connection dropped meanwhile) is applied once
// and acknowledged, not refused: the engine sends the append again with
// the same Nats-Msg-Id and takes what the stream holds for its own, on a
// single server and on a three-node cluster. Its listener gets it once, a
// client's resend of it is a duplicate, and the next update follows it.
// Before, the update failed at the append's deadline though it was in the
// document.
func TestSubmitWhoseAckIsLost(t *testing.T) {
	natstest.SingleAndCluster(t, func(t *testing.T, cluster bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		px, direct, replicas := natstest.StartBehindProxy(t, cluster)
		l := broker.Layout{Replicas: replicas}
		in, err := broker.ProvisionRetry(ctx, px.Connect(t), l, nil)
		if err != nil {
			t.Fatal(err)
		}
		check, err := broker.ProvisionRetry(ctx, direct, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		e := newEngine(t, in, "a")
		e.appendTry = 200 * time.Millisecond
		sid := newSessionID()
		d, rec := open(t, e, sid, -1)
		submit(t, d, "u", "conn-u", opsUpdate(0, "op-1", ot.Op{ot.Insert("x")}))
		waitVersion(t, rec, 1)

		px.Hold()
		type result struct {
			res Result
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := d.Submit(ctx, "u", "conn-u", opsUpdate(1, "op-2", ot.Op{ot.Retain(1), ot.Insert("y")}))
			done <- result{res, err}
		}()
		// Stored, its acknowledgement held, and lost:
		px.CutWhen(t, ctx, "version 2 stored", func() bool {
			last, ok, err := oplog.Last(ctx, check, sid)
			return err == nil && ok && last.Version == 2
		})
		got := natstest.Receive(t, ctx, done, "Submit")
		if got.err != nil || got.res.Version != 2 || got.res.Duplicate {
			t.Fatalf("Submit = %+v, %v; want version 2, applied", got.res, got.err)
		}
		if e.AppendResends() == 0 {
			t.Error("no resend counted, yet the acknowledgement was lost")
		}
		if res := submit(t, d, "u", "conn-u2", opsUpdate(1, "op-2", ot.Op{ot.Retain(1), ot.Insert("y")})); !res.Duplicate || res.Version != 2 {
			t.Fatalf("resend = %+v, want a duplicate of version 2", res)
		}
		submit(t, d, "v", "conn-v", opsUpdate(2, "op-3", ot.Op{ot.Retain(2), ot.Insert("z")}))
		if text := waitVersion(t, rec, 3); text != "xyz" {
			t.Fatalf("text %q, want xyz", text)
		}
		all, _, err := oplog.ReadAfter(ctx, check, sid, 0, oplog.Limits{})
		if err != nil || len(all) != 3 {
			t.Fatalf("log = %d entries (%v), want 3", len(all), err)
		}
		for i, en := range all {
			if en.Version != int64(i+1) {
				t.Fatalf("log entry %d has version %d", i, en.Version)
			}
		}
	})
}
