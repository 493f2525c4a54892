package document

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestWindowBudget drives many sessions with fullCode edits of a 2 KiB
// document through one engine and checks the windows stay within the
// engine's memory budget, the documents converge, and every byte counted
// is given back when the sessions unload.
func TestWindowBudget(t *testing.T) {
	const (
		sessions = 24
		edits    = 40
		workers  = 6
		budget   = 128 << 10
	)
	in := newInfra(t, natstest.Start(t))
	e := newEngineOpts(t, in, Options{Instance: "a", MemoryBudget: budget,
		SnapshotDebounce: 100 * time.Millisecond, SnapshotMaxDelay: 300 * time.Millisecond})
	// Without the budget the windows would hold sessions × edits versions
	// of about 2 KiB texts and ops: several times the budget.
	start := strings.Repeat("// a line of the candidate's code\n", 60)

	type doc struct {
		d    *Doc
		r    *recorder
		want string
	}
	docs := make([]*doc, sessions)
	for i := range docs {
		d, r := open(t, e, newSessionID(), -1)
		docs[i] = &doc{d: d, r: r}
	}
	// Each push is followed by its submitter's trim, so the total can
	// pass the budget only by what the workers push between two trims.
	slack := int64(workers * 4 * len(start))
	var (
		mu   sync.Mutex
		peak int64
	)
	jobs := make(chan *doc)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dc := range jobs {
				text := start
				for k := range edits {
					text += fmt.Sprintf("x%d\n", k)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := dc.d.Submit(ctx, "typist", "c1", fullUpdate(int64(k), fmt.Sprintf("op-%d", k), text))
					cancel()
					if err != nil {
						errs <- fmt.Errorf("edit %d: %w", k, err)
						return
					}
					if k == 0 {
						// The first edit replaces the empty document.
						text = start + "x0\n"
					}
					mu.Lock()
					peak = max(peak, e.WindowBytes())
					mu.Unlock()
				}
				dc.want = text
			}
		}()
	}
	for _, dc := range docs {
		jobs <- dc
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, dc := range docs {
		if got := waitVersion(t, dc.r, edits); got != dc.want {
			t.Fatalf("document diverged: got %d bytes, want %d", len(got), len(dc.want))
		}
	}
	if got := e.WindowBytes(); got > budget {
		t.Fatalf("windows hold %d bytes after the edits, budget %d", got, budget)
	}
	if peak > budget+slack {
		t.Fatalf("windows peaked at %d bytes, budget %d (+%d in flight)", peak, budget, slack)
	}
	if peak < budget/2 {
		t.Fatalf("windows peaked at %d bytes: the load never came near the budget %d", peak, budget)
	}
	for _, dc := range docs {
		dc.d.Close()
	}
	e.Close()
	if got := e.WindowBytes(); got != 0 {
		t.Fatalf("%d window bytes still counted after every session unloaded", got)
	}
}

// TestShrunkWindow: with a budget every window passes, the engine keeps
// only the newest version of each; older bases are served from the op log
// (ops), or answered with a sync (fullCode, replays).
func TestShrunkWindow(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngineOpts(t, in, Options{Instance: "a", MemoryBudget: 1,
		SnapshotDebounce: 100 * time.Millisecond, SnapshotMaxDelay: 300 * time.Millisecond})
	sid := newSessionID()
	d, r := open(t, e, sid, -1)
	submit(t, d, "u1", "c1", opsUpdate(0, "", ot.Op{ot.Insert("abc")}))
	for v := int64(1); v < 8; v++ {
		submit(t, d, "u1", "c1", opsUpdate(v, "", ot.Op{ot.Retain(int(v) + 2), ot.Insert("d")}))
	}
	waitVersion(t, r, 8) // "abcddddddd"
	e.mu.Lock()
	s, _ := e.sessions.Get(sid)
	e.mu.Unlock()
	s.mu.Lock()
	base, n := s.hist.baseVersion, len(s.hist.entries)
	s.mu.Unlock()
	if base != 7 || n != 1 {
		t.Fatalf("window %d+%d, want the newest version only (7+1)", base, n)
	}

	// Version 3 was "abcdd": an insert after "ab" lands there now.
	res := submit(t, d, "u2", "c2", opsUpdate(3, "old", ot.Op{ot.Retain(2), ot.Insert("!"), ot.Retain(3)}))
	if got := waitVersion(t, r, res.Version); got != "ab!cddddddd" {
		t.Fatalf("ops from before the window: got %q", got)
	}
	// The version before the newest is kept: a typist's usual base.
	res = submit(t, d, "u1", "c1", fullUpdate(res.Version-1, "full", "abcdddddddX"))
	if got := waitVersion(t, r, res.Version); got != "ab!cdddddddX" {
		t.Fatalf("fullCode on the kept version: got %q", got)
	}
	err := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := d.Submit(ctx, "u1", "c1", fullUpdate(4, "", "abcddd?"))
		return err
	}()
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidPayload || pe.Details["sync"] != true {
		t.Fatalf("fullCode before the window: %v, want INVALID_PAYLOAD with sync", err)
	}
	if _, rr := open(t, e, sid, 4); rr.replayOK {
		t.Fatal("replay from before the window succeeded")
	}
	if _, rr := open(t, e, sid, res.Version-1); !rr.replayOK || len(rr.replay) != 1 || rr.replay[0].Code != "ab!cdddddddX" {
		t.Fatalf("replay of the newest version: %v %+v", rr.replayOK, rr.replay)
	}
}

// TestReload: edits after the window was dropped for quiet and after the
// document was unloaded continue with the right version, hash and opId
// dedupe.
func TestReload(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngineOpts(t, in, Options{Instance: "a", UnloadAfter: 50 * time.Millisecond,
		SnapshotDebounce: 100 * time.Millisecond, SnapshotMaxDelay: 300 * time.Millisecond})
	sid := newSessionID()
	d, r := open(t, e, sid, -1)
	submit(t, d, "u1", "c1", fullUpdate(0, "op-1", "hello"))
	submit(t, d, "u1", "c1", fullUpdate(1, "op-2", "hello world"))
	waitVersion(t, r, 2)

	// Quiet: the window goes, the text, version, hash and opIds stay.
	waitFor(t, "the quiet window to be dropped", func() bool { return e.WindowBytes() == 0 })
	if st := d.State(); st.Version != 2 || st.Code != "hello world" || st.Hash != protocol.DocumentHash("hello world") {
		t.Fatalf("state after the window was dropped: %+v", st)
	}
	if res := submit(t, d, "u1", "c1", fullUpdate(1, "op-2", "hello world")); !res.Duplicate || res.Version != 2 {
		t.Fatalf("resend after the window was dropped: %+v", res)
	}
	res := submit(t, d, "u1", "c1", fullUpdate(2, "op-3", "hello world!"))
	if res.Version != 3 || waitVersion(t, r, 3) != "hello world!" {
		t.Fatalf("edit after the window was dropped: %+v", res)
	}

	// Unloaded: the last listener leaves and the session stops.
	d.Close()
	waitFor(t, "the session to unload", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.sessions.Len() == 0 && len(e.stopping) == 0
	})
	d2, r2 := open(t, e, sid, -1)
	if st := d2.State(); st.Version != 3 || st.Code != "hello world!" || st.Hash != protocol.DocumentHash("hello world!") {
		t.Fatalf("state after a reload: %+v", st)
	}
	for _, op := range []struct {
		id string
		v  int64
	}{{"op-1", 1}, {"op-2", 2}, {"op-3", 3}} {
		if res := submit(t, d2, "u1", "c1", fullUpdate(op.v-1, op.id, "ignored")); !res.Duplicate || res.Version != op.v {
			t.Fatalf("resend of %s after a reload: %+v", op.id, res)
		}
	}
	res = submit(t, d2, "u1", "c1", fullUpdate(3, "op-4", "hello, world!"))
	if res.Version != 4 || waitVersion(t, r2, 4) != "hello, world!" {
		t.Fatalf("edit after a reload: %+v", res)
	}
	if st := d2.State(); st.Hash != protocol.DocumentHash("hello, world!") {
		t.Fatalf("hash after a reload: %+v", st)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
