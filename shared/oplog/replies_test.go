package oplog

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
)

// Appends through a pool of reply boxes are acknowledged with their
// stored sequences, as requests are, one box serves appends one after
// another, and a conflict is still a conflict.
func TestPublishWithReplies(t *testing.T) {
	in := setup(t, broker.Layout{})
	ctx := ctxT(t)
	rp := NewReplies(in.NC, 1)
	defer rp.Close()
	sid := uuid.NewString()
	var last uint64
	for v := int64(1); v <= 5; v++ {
		m, err := Encode(sid, Entry{Version: v, UserID: "u", OpID: "op-" + strconv.FormatInt(v, 10), Ops: ot.Op{ot.Insert("x")}})
		if err != nil {
			t.Fatal(err)
		}
		seq, err := Publish(ctx, in.JS, sid, v, m, last, Retry{Try: time.Second, Replies: rp})
		if err != nil {
			t.Fatalf("append version %d: %v", v, err)
		}
		e, ok, err := Last(ctx, in, sid)
		if err != nil || !ok || e.Seq != seq || e.Version != v {
			t.Fatalf("after version %d acknowledged at seq %d the last entry is %+v, %t, %v", v, seq, e, ok, err)
		}
		last = seq
	}
	if n := len(rp.free); n != 1 {
		t.Errorf("%d idle boxes after appends one at a time, want 1", n)
	}
	m, err := Encode(sid, Entry{Version: 5, UserID: "v", OpID: "other", Ops: ot.Op{ot.Insert("y")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(ctx, in.JS, sid, 5, m, last-1, Retry{Try: time.Second, Replies: rp}); !errors.Is(err, ErrConflict) {
		t.Fatalf("append after an old sequence = %v, want ErrConflict", err)
	}
}

// A box sends with one reply subject while its sends are answered; a send
// left without its answer (its wait ran out) moves the box to a new one,
// so that answer, arriving late while the next send waits, is dropped and
// not taken for the next send's. A send nobody listens for is
// ErrNoResponders and one nobody answers ends at its wait, as nats.go's
// RequestMsg would.
func TestReplyBox(t *testing.T) {
	srv := natstest.Start(t)
	nc, responder := natstest.Connect(t, srv), natstest.Connect(t, srv)
	ctx := ctxT(t)
	b, err := newReplyBox(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()

	// test.slow holds what it gets unanswered; test.append answers the
	// held send first (seq 999: late, past its wait), then this one (seq
	// 42), in that order on one connection.
	held, late := make(chan *nats.Msg, 1), make(chan *nats.Msg, 1)
	replies := make(chan string, 4)
	slow, err := responder.Subscribe("test.slow", func(m *nats.Msg) { held <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Unsubscribe()
	sub, err := responder.Subscribe("test.append", func(m *nats.Msg) {
		replies <- m.Reply
		select {
		case l := <-late:
			_ = responder.Publish(l.Reply, []byte(`{"stream":"SESSION_OPS","seq":999}`))
		default:
		}
		_ = responder.Publish(m.Reply, []byte(`{"stream":"SESSION_OPS","seq":42}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := responder.Flush(); err != nil {
		t.Fatal(err)
	}
	send := func(step string) {
		t.Helper()
		seq, dup, err := publishExpect(ctx, nc, b, &nats.Msg{Subject: "test.append", Data: []byte("x")}, 7, 10*time.Second)
		if err != nil || seq != 42 || dup {
			t.Fatalf("%s: publishExpect = seq %d, dup %t, %v; want seq 42: the answer to this send", step, seq, dup, err)
		}
	}
	send("first send")
	send("second send")
	first, second := <-replies, <-replies
	if first != second {
		t.Fatalf("two answered sends of one box replied to %q and %q, want one subject", first, second)
	}
	if _, err := b.request(ctx, &nats.Msg{Subject: "test.slow"}, 100*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a send nobody answers = %v, want DeadlineExceeded at its wait", err)
	}
	late <- <-held
	send("the send after one unanswered")
	if third := <-replies; third == first {
		t.Fatalf("the send after an unanswered one replied to %q, the subject the late answer goes to", third)
	}
	if len(late) != 0 {
		t.Fatal("the held send was not answered before the next send's answer")
	}

	if _, err := b.request(ctx, &nats.Msg{Subject: "test.nobody"}, 10*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("a send nobody listens for = %v, want ErrNoResponders", err)
	}
	silent, err := responder.Subscribe("test.silent", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Unsubscribe()
	if err := responder.Flush(); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.request(cctx, &nats.Msg{Subject: "test.silent"}, 10*time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("a send with its context cancelled = %v, want Canceled", err)
	}
}

// A pool keeps at most keep idle boxes, closes the rest as they come
// back, and after Close keeps none.
func TestRepliesPool(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	rp := NewReplies(nc, 1)
	a, err := rp.get()
	if err != nil {
		t.Fatal(err)
	}
	b, err := rp.get()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two writers at once got the same box")
	}
	rp.put(a)
	rp.put(b)
	if len(rp.free) != 1 || rp.free[0] != a || !a.sub.IsValid() || b.sub.IsValid() {
		t.Fatalf("idle boxes %d (want the first back, open), the second open: %t", len(rp.free), b.sub.IsValid())
	}
	if c, err := rp.get(); err != nil || c != a {
		t.Fatalf("get = %p, %v; want the idle box %p", c, err, a)
	}
	rp.Close()
	if rp.put(a); a.sub.IsValid() || len(rp.free) != 0 {
		t.Fatal("a box given back after Close is kept open")
	}
}

// Appends over a connection whose writes are batched (realtime's main
// connection, NATS_FLUSH_DELAY) are acknowledged as on any other: writers
// appending at once to sessions of their own each get their sequences,
// and the log holds every entry once, in order.
func TestPublishBatchedConnection(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := broker.Connect(srv.ClientURL(), broker.ConnOptions{Name: "batched", FlushDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := ctxT(t)
	in, err := broker.Provision(ctx, nc, broker.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	rp := NewReplies(nc, 8)
	defer rp.Close()
	const writers, appends = 8, 20
	var wg sync.WaitGroup
	sids := make([]string, writers)
	for w := range writers {
		sids[w] = uuid.NewString()
		wg.Go(func() {
			var last uint64
			for v := int64(1); v <= appends; v++ {
				m, err := Encode(sids[w], Entry{Version: v, UserID: "u", OpID: "op-" + strconv.FormatInt(v, 10), Ops: ot.Op{ot.Insert("x")}})
				if err != nil {
					t.Error(err)
					return
				}
				seq, err := Publish(ctx, in.JS, sids[w], v, m, last, Retry{Try: 5 * time.Second, Replies: rp})
				if err != nil {
					t.Errorf("writer %d, version %d: %v", w, v, err)
					return
				}
				if seq <= last {
					t.Errorf("writer %d, version %d: seq %d after %d", w, v, seq, last)
					return
				}
				last = seq
			}
		})
	}
	wg.Wait()
	for _, sid := range sids {
		entries, more, err := ReadAfter(ctx, in, sid, 0, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if more || len(entries) != appends {
			t.Fatalf("%s holds %d entries (more: %t), want %d", sid, len(entries), more, appends)
		}
		for i, e := range entries {
			if e.Version != int64(i+1) {
				t.Fatalf("%s: entry %d is version %d", sid, i, e.Version)
			}
		}
	}
}
