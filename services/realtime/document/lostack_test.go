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

// The stream republishes an entry before it acknowledges it, so an
// instance's own append usually comes back through the applied
// subscription before its submitter has the ack: that copy is left to the
// submitter, which folds it with the text it computed. When the append
// then fails (its ack never came), the entry was stored all the same, and
// the replica goroutine reads it back: it is in the document and handed
// to the listener once.
func TestOwnRepublishLeftToTheSubmitter(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngine(t, in, "a")
	sid := newSessionID()
	d, r := open(t, e, sid, -1)
	submit(t, d, "u", "c", opsUpdate(0, "op-1", ot.Op{ot.Insert("x")}))
	s := d.s
	s.submitMu.Lock() // what a submit holds
	defer s.submitMu.Unlock()
	s.mu.Lock()
	next := oplog.Entry{Version: s.version + 1, UserID: "u", OpID: "op-2", ConnID: "c", Timestamp: 2,
		Ops: ot.Op{ot.Retain(1), ot.Insert("y")}, Offset: s.logEnd}
	expect := s.seq
	m, err := oplog.Encode(sid, next)
	if err != nil {
		s.mu.Unlock()
		t.Fatal(err)
	}
	s.ownID = m.Header.Get("Nats-Msg-Id")
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := oplog.Publish(ctx, in.JS, sid, next.Version, m, expect, oplog.Retry{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the republished copy left to the submitter", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.ownSkipped
	})
	s.mu.Lock()
	v, inbox := s.version, len(s.inbox)
	s.mu.Unlock()
	if v != 1 || inbox != 0 {
		t.Fatalf("the copy left to the submitter was folded: version %d, %d in the inbox", v, inbox)
	}
	// The submit fails (say its ack was lost): the entry is read back.
	s.ownFailed()
	if got := waitVersion(t, r, 2); got != "xy" {
		t.Fatalf("after the failed append: %q, want the stored entry's text", got)
	}
}
