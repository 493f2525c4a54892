package document

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
)

// replicaGoroutines counts the goroutines in a replica's run (a loading
// session's included), from the goroutine profile.
func replicaGoroutines(t testing.TB) int {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		if !strings.Contains(rec, "document.(*replica).run+") {
			continue
		}
		count, _, _ := strings.Cut(rec, " @ ")
		c, err := strconv.Atoi(strings.TrimSpace(count))
		if err != nil {
			t.Fatalf("goroutine profile record %q: %v", rec, err)
		}
		n += c
	}
	return n
}

// settle waits until no session of any engine has a goroutine.
func settle(t testing.TB, what string) {
	t.Helper()
	waitFor(t, what, func() bool { return replicaGoroutines(t) == 0 })
}

// replicaOf returns e's replica of sid.
func replicaOf(t testing.TB, e *Engine, sid string) *replica {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions.Get(sid)
	if !ok {
		t.Fatalf("session %s is not loaded", sid)
	}
	return s
}

// idlePair opens a new session on ea and eb, applies text as version 1
// through eb and waits until both sessions are idle; it returns ea's
// replica and listener, and eb's Doc and listener.
func idlePair(t *testing.T, ea, eb *Engine, text string) (*replica, *recorder, *Doc, *recorder) {
	t.Helper()
	sid := newSessionID()
	_, ra := open(t, ea, sid, -1)
	db, rb := open(t, eb, sid, -1)
	submit(t, db, "u2", "c2", fullUpdate(0, "", text))
	waitVersion(t, ra, 1)
	settle(t, "the sessions to settle")
	return replicaOf(t, ea, sid), ra, db, rb
}

// An idle session holds no goroutine, loaded or after its edits were
// snapshotted, and still takes what comes: a submit, an update another
// instance applied, and its quiet window is dropped by the engine's sweep.
func TestIdleSessionHoldsNoGoroutine(t *testing.T) {
	srv := natstest.Start(t)
	in := newInfra(t, srv)
	ea := newEngineOpts(t, in, Options{Instance: "a", SnapshotDebounce: 50 * time.Millisecond,
		SnapshotMaxDelay: 200 * time.Millisecond, UnloadAfter: 300 * time.Millisecond})
	eb := newEngine(t, newInfra(t, srv), "b")
	sid := newSessionID()
	da, ra := open(t, ea, sid, -1)
	_, ra2 := open(t, ea, sid, -1) // a session of two on this instance
	db, rb := open(t, eb, sid, -1)
	settle(t, "the loaded sessions to hold no goroutine")

	submit(t, da, "u1", "c1", fullUpdate(0, "a1", "hello"))
	for _, r := range []*recorder{ra, ra2, rb} {
		if got := waitVersion(t, r, 1); got != "hello" {
			t.Fatalf("after a submit: %q", got)
		}
	}
	settle(t, "the sessions to end their goroutines after the snapshot")
	if snap := readSnapshot(t, in, sid); snap.Version != 1 || snap.Code != "hello" {
		t.Fatalf("snapshot %d %q", snap.Version, snap.Code)
	}

	// Applied on b: a's idle session has it from its applied subscription.
	submit(t, db, "u2", "c2", opsUpdate(1, "b1", ot.Op{ot.Retain(5), ot.Insert("!")}))
	for _, r := range []*recorder{ra, ra2} {
		if got := waitVersion(t, r, 2); got != "hello!" {
			t.Fatalf("after an update applied elsewhere: %q", got)
		}
	}
	settle(t, "the sessions to settle again")

	// The sweep drops the quiet window without a goroutine for the session.
	s := replicaOf(t, ea, sid)
	waitFor(t, "the quiet window to be dropped", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.hist.entries) == 0
	})
	if st := da.State(); st.Version != 2 || st.Code != "hello!" {
		t.Fatalf("state after the window was dropped: %+v", st)
	}
	// Then the sweep's ticks leave it alone: it is off the watch list.
	waitFor(t, "the quiet session to leave the sweep's watch list", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.watched
	})
	ea.watchMu.Lock()
	listed := len(ea.watch)
	ea.watchMu.Unlock()
	if listed != 0 {
		t.Fatalf("%d sessions on the watch list of an engine whose only session is quiet", listed)
	}
	// An edit puts it back, and its new window is dropped in turn.
	submit(t, da, "u1", "c1", opsUpdate(2, "a2", ot.Op{ot.Retain(6), ot.Insert("?")}))
	waitFor(t, "the new quiet window to be dropped", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.hist.entries) == 0 && s.version == 3
	})
}

// Updates the applied subscription never delivered (a slow consumer here)
// are read back from the stream, also by an idle session: the last of them is
// never followed by another that would show the gap, so only the sweep's
// look at the subscription's dropped count finds it, which it takes when
// the dispatcher's queue was full (Dispatcher.Fills): with a queue of one,
// full at every message, and of four, full only with the burst.
func TestIdleSessionReadsWhatItsSubscriptionDropped(t *testing.T) {
	srv := natstest.Start(t)
	for _, queue := range []int{1, 4} {
		t.Run(strconv.Itoa(queue), func(t *testing.T) {
			ea, eb := newEngine(t, newInfra(t, srv), "a"), newEngine(t, newInfra(t, srv), "b")
			// One goroutine with room for queue messages: while it is
			// stalled, what arrives after that is dropped.
			ea.subs.Close()
			ea.subs = broker.NewDispatcher(1, queue)
			s, ra, db, rb := idlePair(t, ea, eb, "0")
			s.mu.Lock() // stalls a's applied handler
			last := int64(1 + queue + 3)
			want := "0"
			for v := int64(1); v <= last; v++ {
				submit(t, db, "u2", "c2", opsUpdate(v, "", ot.Op{ot.Retain(len(want)), ot.Insert(strconv.FormatInt(v, 10))}))
				want += strconv.FormatInt(v, 10)
			}
			// One message is in the stalled handler, queue in the queue,
			// three dropped.
			waitFor(t, "three dropped messages", func() bool {
				n, err := s.sub.Dropped()
				return err == nil && n >= 3
			})
			s.mu.Unlock()
			if got := waitVersion(t, rb, last+1); got != want {
				t.Fatalf("b has %q, want %q", got, want)
			}
			if got := waitVersion(t, ra, last+1); got != want {
				t.Fatalf("a has %q, want %q", got, want)
			}
		})
	}
}

// An idle session whose NATS connection reconnected reads what was stored
// while it was away: the update's applied message was lost with the old
// connection, and nothing after it shows the gap, so only the sweep's
// look at the reconnect count finds it.
func TestIdleSessionCatchesUpAfterAReconnect(t *testing.T) {
	srv := natstest.Start(t)
	px := natstest.StartProxy(t, srv.Addr().String())
	nc := px.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inA, err := broker.Provision(ctx, nc, broker.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	ea, eb := newEngine(t, inA, "a"), newEngine(t, newInfra(t, srv), "b")
	_, ra, db, rb := idlePair(t, ea, eb, "x")
	reconnects := nc.Stats().Reconnects
	px.Hold() // what the server sends a stays in the proxy...
	submit(t, db, "u2", "c2", opsUpdate(1, "", ot.Op{ot.Retain(1), ot.Insert("y")}))
	px.Cut() // ...and is lost with the connection: a reconnects
	waitFor(t, "a to reconnect", func() bool { return nc.Stats().Reconnects > reconnects && nc.Status() == nats.CONNECTED })
	want := waitVersion(t, rb, 2)
	if got := waitVersion(t, ra, 2); got != want || want != "xy" {
		t.Fatalf("a has %q, b has %q", got, want)
	}
}
