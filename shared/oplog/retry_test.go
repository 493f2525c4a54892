package oplog

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
)

// lostAckLayout is a writer whose connection goes through a proxy that can
// hold and drop NATS's answers, and a reader connected directly, on a
// single server or a three-node cluster (the writer on the first node).
func lostAckLayout(t *testing.T, ctx context.Context, cluster bool) (w, r *broker.Infra, px *natstest.Proxy) {
	t.Helper()
	px, direct, replicas := natstest.StartBehindProxy(t, cluster)
	l := broker.Layout{Replicas: replicas}
	var err error
	if w, err = broker.ProvisionRetry(ctx, px.Connect(t), l, nil); err != nil {
		t.Fatal(err)
	}
	if r, err = broker.ProvisionRetry(ctx, direct, l, nil); err != nil {
		t.Fatal(err)
	}
	return w, r, px
}

// appendFirst appends version 1 of session sid and encodes version 2,
// for the caller to publish after it.
func appendFirst(t *testing.T, ctx context.Context, w *broker.Infra, sid string) (uint64, *nats.Msg) {
	t.Helper()
	seq1, err := Append(ctx, w.JS, sid, Entry{Version: 1, UserID: "u", OpID: "op-1", ConnID: "c", Timestamp: 1,
		Ops: ot.Op{ot.Insert("x")}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Encode(sid, Entry{Version: 2, UserID: "u", OpID: "op-2", ConnID: "c", Timestamp: 2,
		Ops: ot.Op{ot.Retain(1), ot.Insert("y")}})
	if err != nil {
		t.Fatal(err)
	}
	return seq1, m
}

// An append whose acknowledgement is lost (the connection dropped after
// the stream stored it) is stored once: Publish sends the same message
// again, and JetStream answers with the stored copy (a cluster: a
// duplicate acknowledgement) or with a refusal of the expected sequence
// (a single server: the entry is the subject's last), which Publish reads
// back and takes for its own. Before, the append failed at its deadline
// though it was stored.
// The same with the acknowledgements on a reply box (Retry.Replies), whose
// subscription comes back with the connection.
func TestPublishOnceWhenTheAckIsLost(t *testing.T) {
	for _, boxed := range []bool{false, true} {
		t.Run(map[bool]string{false: "request", true: "replies"}[boxed], func(t *testing.T) {
			testPublishOnceWhenTheAckIsLost(t, boxed)
		})
	}
}

func testPublishOnceWhenTheAckIsLost(t *testing.T, boxed bool) {
	natstest.SingleAndCluster(t, func(t *testing.T, cluster bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		w, r, px := lostAckLayout(t, ctx, cluster)
		var rp *Replies
		if boxed {
			rp = NewReplies(w.NC, 1)
			defer rp.Close()
		}
		sid := uuid.NewString()
		seq1, m := appendFirst(t, ctx, w, sid)

		px.Hold()
		var resends atomic.Int64
		type result struct {
			seq uint64
			err error
		}
		done := make(chan result, 1)
		go func() {
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			seq, err := Publish(pctx, w.JS, sid, 2, m, seq1, Retry{Try: 200 * time.Millisecond, Resends: &resends, Replies: rp})
			done <- result{seq, err}
		}()
		var stored uint64
		// Stored, its acknowledgement held, and lost:
		px.CutWhen(t, ctx, "version 2 stored", func() bool {
			last, ok, err := Last(ctx, r, sid)
			stored = last.Seq
			return err == nil && ok && last.Version == 2
		})
		got := natstest.Receive(t, ctx, done, "Publish")
		if got.err != nil || got.seq != stored {
			t.Fatalf("Publish = seq %d, %v; want the stored seq %d", got.seq, got.err, stored)
		}
		if resends.Load() == 0 {
			t.Error("no resend counted, yet the acknowledgement was lost")
		}
		all, _, err := ReadAfter(ctx, r, sid, 0, Limits{})
		if err != nil || len(all) != 2 || all[1].Version != 2 || all[1].Seq != stored {
			t.Fatalf("log = %+v, %v; want versions 1 and 2 once each", all, err)
		}
		// Another entry at that version is still a conflict, not taken
		// for ours.
		other := Entry{Version: 2, UserID: "v", OpID: "op-2", ConnID: "d", Timestamp: 3, Ops: ot.Op{ot.Retain(1), ot.Insert("z")}}
		if _, err := Append(ctx, w.JS, sid, other, seq1); !errors.Is(err, ErrConflict) {
			t.Fatalf("another append after seq %d: %v, want ErrConflict", seq1, err)
		}
	})
}

// MsgID names one append exactly: the same entry on the same subject has
// the same id (a resend is recognised), and any difference in the entry
// or the session makes another (a new append is never taken for a copy).
func TestMsgID(t *testing.T) {
	base := Entry{Version: 4, UserID: "u", OpID: "op-4", ConnID: "c", Timestamp: 1000, Ops: ot.Op{ot.Retain(3), ot.Insert("x")}, Offset: 300}
	id := func(sid string, e Entry) string {
		t.Helper()
		m, err := Encode(sid, e)
		if err != nil {
			t.Fatal(err)
		}
		return m.Header.Get("Nats-Msg-Id")
	}
	want := id("s1", base)
	if want == "" || want != id("s1", base) {
		t.Fatalf("the same entry has ids %q and %q", want, id("s1", base))
	}
	for _, tc := range []struct {
		name string
		sid  string
		edit func(e *Entry)
	}{
		{"another session", "s2", func(*Entry) {}},
		{"a later version (a resend transformed)", "s1", func(e *Entry) { e.Version, e.Ops = 5, ot.Op{ot.Retain(4), ot.Insert("x")} }},
		{"another time", "s1", func(e *Entry) { e.Timestamp++ }},
		{"another connection", "s1", func(e *Entry) { e.ConnID = "d" }},
		{"another opId", "s1", func(e *Entry) { e.OpID = "op-5" }},
		{"another offset", "s1", func(e *Entry) { e.Offset++ }},
	} {
		e := base
		tc.edit(&e)
		if got := id(tc.sid, e); got == want {
			t.Errorf("%s: same id %q", tc.name, got)
		}
	}
}

// Retry.Until ends an append as a deadline of its context would: with
// every answer held, Publish sends again until Until and then gives up
// with DeadlineExceeded, though its context has a minute left; an Until
// already past sends nothing.
func TestPublishUntil(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, r, px := lostAckLayout(t, ctx, false)
	sid := uuid.NewString()
	seq1, m := appendFirst(t, ctx, w, sid)
	pctx, pcancel := context.WithTimeout(ctx, time.Minute)
	defer pcancel()
	if _, err := Publish(pctx, w.JS, sid, 2, m, seq1, Retry{Try: time.Second, Until: time.Now().Add(-time.Second)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish with Until past = %v, want DeadlineExceeded", err)
	}
	if last, ok, err := Last(ctx, r, sid); err != nil || !ok || last.Version != 1 {
		t.Fatalf("last entry = %+v, %v, %v; want version 1: an Until past sends nothing", last, ok, err)
	}

	px.Hold()
	var resends atomic.Int64
	done := make(chan error, 1)
	go func() {
		_, err := Publish(pctx, w.JS, sid, 2, m, seq1, Retry{Try: 200 * time.Millisecond, Resends: &resends,
			Until: time.Now().Add(time.Second)})
		done <- err
	}()
	// Past Until the context still has most of its minute: Publish must
	// have returned long before it ends.
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := natstest.Receive(t, wctx, done, "Publish"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish with its answers held = %v, want DeadlineExceeded at Until", err)
	}
	if resends.Load() == 0 {
		t.Error("no resend before Until")
	}
}

// lateDeadline is a context whose deadline has passed while its timer has
// not fired yet: Err is nil for its first late calls. A loaded machine
// shows every deadline so for a while (its timers run late).
type lateDeadline struct {
	context.Context
	deadline time.Time
	late     int64
	errCalls atomic.Int64
}

func (c *lateDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *lateDeadline) Err() error {
	if c.errCalls.Add(1) <= c.late {
		return nil
	}
	return context.DeadlineExceeded
}

// A deadline that passed is the end of an append even before its context
// says so: Publish gives up with DeadlineExceeded at once instead of
// counting a resend and trying again, which it did in a loop until the
// context's timer fired (10 million "resends" in one 20 s window of the
// split layout's heavy interview, on one instance, under its session's
// submit lock). Nothing was sent, so nothing is stored.
func TestPublishPastDeadline(t *testing.T) {
	in := setup(t, broker.Layout{})
	sid := uuid.NewString()
	m, err := Encode(sid, Entry{Version: 1, UserID: "u", OpID: "op-1", Ops: ot.Op{ot.Insert("x")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := &lateDeadline{Context: context.Background(), deadline: time.Now().Add(-time.Millisecond), late: 1000}
	var resends atomic.Int64
	if _, err := Publish(ctx, in.JS, sid, 1, m, 0, Retry{Try: time.Second, Resends: &resends}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish past its deadline = %v, want DeadlineExceeded", err)
	}
	if n := resends.Load(); n != 0 {
		t.Errorf("Publish past its deadline counted %d resends, want 0", n)
	}
	if e, ok, err := Last(ctxT(t), in, sid); err != nil || ok {
		t.Fatalf("last entry = %+v, %t, %v; want none", e, ok, err)
	}
}
