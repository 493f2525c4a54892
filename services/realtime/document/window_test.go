package document

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
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
		sessions = 16
		edits    = 40
		workers  = 6
		// The budget counts the texts too (TestDocumentMemory): a window
		// shrunk to its newest version still holds two of them, so the
		// floor is about three texts per session.
		budget = 192 << 10
	)
	_, e := budgetEngine(t, budget)
	// Without the budget the windows would hold sessions × edits versions
	// of about 2 KiB texts and ops: several times the budget.
	start := codeStart

	docs := make([]*editedDoc, sessions)
	for i := range docs {
		d, r := open(t, e, newSessionID(), -1)
		docs[i] = &editedDoc{d: d, r: r}
	}
	// Each push is followed by its submitter's trim, so the total can
	// pass the budget only by what the workers push between two trims.
	slack := int64(workers * 4 * len(start))
	peak := editAll(t, docs, edits, workers, e.WindowBytes, func(dc *editedDoc, k int) error {
		text := dc.want + fmt.Sprintf("x%d\n", k)
		if k == 0 {
			// The first edit replaces the empty document.
			text = start + "x0\n"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := dc.d.Submit(ctx, "typist", "c1", fullUpdate(int64(k), fmt.Sprintf("op-%d", k), text))
		dc.want = text
		return err
	})
	t.Logf("peak %d: windows %d indexes %d texts %d", peak, e.windowBytes.Load(), e.indexBytes.Load(), e.textBytes.Load())
	checkBudget(t, "windows", docs, edits, e.WindowBytes(), peak, budget, slack)
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
	// The last push may be trimmed by another goroutine's pass (the
	// replica goroutine's, left the work when the submitter found it
	// trimming), after Submit returned: wait for that trim.
	waitFor(t, "the window to hold the newest version only (7+1)", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.hist.baseVersion == 7 && len(s.hist.entries) == 1
	})

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

// TestTrimAfterAPassVisited: a push to a window that a trim pass has
// already visited, made while the pass goes on (its submitter leaves the
// trim to that pass), is shrunk by a pass after it: the floor the pass
// records is what it left, not the push it never saw.
func TestTrimAfterAPassVisited(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngineOpts(t, in, Options{Instance: "a", MemoryBudget: 1})
	held := func(sid string) *replica {
		e.mu.Lock()
		defer e.mu.Unlock()
		s, _ := e.sessions.Get(sid)
		return s
	}
	entries := func(s *replica) int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.hist.entries)
	}
	// appendX appends an "x" to the text of version v (v characters).
	appendX := func(v int64) protocol.CodeUpdate {
		if v == 0 {
			return opsUpdate(v, "", ot.Op{ot.Insert("x")})
		}
		return opsUpdate(v, "", ot.Op{ot.Retain(int(v)), ot.Insert("x")})
	}
	// Windows of 3 versions each while "another goroutine" trims; b is
	// edited last, so a pass visits a first.
	e.trimming.Store(true)
	sa, sb := newSessionID(), newSessionID()
	da, ra := open(t, e, sa, -1)
	db, _ := open(t, e, sb, -1)
	for _, d := range []*Doc{da, db} {
		for v := range int64(3) {
			submit(t, d, "u1", "c1", appendX(v))
		}
	}
	a, b := held(sa), held(sb)
	if n := entries(a); n != 3 {
		t.Fatalf("a's window holds %d versions before the trim, want 3", n)
	}

	// The pass shrinks a and waits for b's lock; meanwhile a gets a push.
	b.mu.Lock()
	e.trimming.Store(false)
	e.trimFloor.Store(0)
	passed := make(chan struct{})
	go func() {
		defer close(passed)
		e.trim()
	}()
	waitFor(t, "the pass to shrink a", func() bool { return entries(a) == shrinkKeep })
	submit(t, da, "u1", "c1", appendX(3))
	waitVersion(t, ra, 4)
	if n := entries(a); n != shrinkKeep+1 {
		t.Fatalf("a's window holds %d versions after the push, want %d (the pass still holds trimming)", n, shrinkKeep+1)
	}
	b.mu.Unlock()
	<-passed
	// The pass after it may be another goroutine's (a's replica goroutine,
	// woken by the push), still going when this one gave up.
	waitFor(t, "a pass to shrink a's push", func() bool { return entries(a) == shrinkKeep })
}

// TestReplayAfterAnotherInstancesSnapshot: an instance that loads a
// session after another one wrote its snapshot replays from a version
// before the snapshot, as the loaded instance would, while the op log still
// holds the document from its start and the snapshot is within a window's
// versions of it; its opId index is the same.
func TestReplayAfterAnotherInstancesSnapshot(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	a := newEngineOpts(t, in, Options{Instance: "a", SnapshotDebounce: 10 * time.Millisecond, SnapshotMaxDelay: 20 * time.Millisecond})
	sid := newSessionID()
	da, _ := open(t, a, sid, -1)
	texts := []string{"", "hello", "hello world", "hello world!"}
	for v := 1; v < len(texts); v++ {
		submit(t, da, "u1", "c1", fullUpdate(int64(v-1), fmt.Sprintf("op-%d", v), texts[v]))
	}
	waitFor(t, "a's snapshot of version 3", func() bool {
		ent, err := in.Documents.Get(context.Background(), sid)
		if err != nil {
			return false
		}
		var snap snapshot
		return json.Unmarshal(ent.Value(), &snap) == nil && snap.Version == 3
	})

	b := newEngine(t, in, "b")
	db, rb := open(t, b, sid, 0)
	if !rb.replayOK || len(rb.replay) != 3 {
		t.Fatalf("replay since 0 on the instance that loaded the snapshot: ok %v, %d versions, want 3", rb.replayOK, len(rb.replay))
	}
	for i, u := range rb.replay {
		if u.Version != int64(i+1) || u.Code != texts[i+1] || u.Hash != protocol.DocumentHash(texts[i+1]) || u.OpID != fmt.Sprintf("op-%d", i+1) {
			t.Fatalf("replayed %+v, want version %d %q", u, i+1, texts[i+1])
		}
	}
	if res := submit(t, db, "u1", "c1", fullUpdate(2, "op-3", texts[3])); !res.Duplicate || res.Version != 3 {
		t.Fatalf("resend on the instance that loaded the snapshot: %+v", res)
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

// TestDocumentMemory: the texts, opId indexes and windows of an instance's
// documents together stay within the engine's memory budget while many
// connections edit (each index keeps only the newest update of each of
// its connections, at most dedupeConns), and a resend is still answered as
// a duplicate, before and after a reload: a connection's newest update
// even rebased on the current version (the index), an older one against
// the version it was based on (the window, else the op log).
func TestDocumentMemory(t *testing.T) {
	const (
		sessions = 12
		conns    = dedupeConns + 8 // more than an index keeps
		edits    = 3 * conns       // each connection sends three
		workers  = 4
		budget   = 320 << 10 // above the floor: texts, indexes and shrunk windows
	)
	in, e := budgetEngine(t, budget)
	start := codeStart
	opID := func(k int) string { return fmt.Sprintf("opid-of-edit-%03d", k) }
	conn := func(k int) string { return fmt.Sprintf("connection-%03d", k%conns) }
	insert := func(k int) string { return fmt.Sprintf("x%d\n", k) }

	docs := make([]*editedDoc, sessions)
	for i := range docs {
		sid := newSessionID()
		d, r := open(t, e, sid, -1)
		docs[i] = &editedDoc{sid: sid, d: d, r: r}
	}
	// Each push is followed by its submitter's trim (see TestWindowBudget),
	// and one push may double a window's slice of entries (counted: the
	// capacity is memory too); after a trim that could not reach its
	// target, the windows grow by 1/trimStep of the budget before the next.
	slack := int64(workers*4*len(start)+edits*appliedSize) + budget/trimStep
	peak := editAll(t, docs, edits, workers, e.MemoryBytes, func(dc *editedDoc, k int) error {
		// Edit k is version k+1: the start, then a line.
		ins := start
		if k > 0 {
			ins = insert(k)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := dc.d.Submit(ctx, "typist", conn(k), opsUpdate(int64(k), opID(k), ot.Op{ot.Retain(l16(dc.want)), ot.Insert(ins)}.Normalize()))
		dc.want += ins
		return err
	})
	t.Logf("peak %d: windows %d indexes %d texts %d", peak, e.windowBytes.Load(), e.indexBytes.Load(), e.textBytes.Load())
	checkBudget(t, "documents", docs, edits, e.MemoryBytes(), peak, budget, slack)
	// A record per connection, not per edit (that would be most of the
	// budget here, and grow with the edits).
	if idx := e.indexBytes.Load(); idx < sessions*dedupeConns*int64(opRecordSize) || idx > budget/2 {
		t.Fatalf("opId indexes count %d bytes: want the newest update of %d connections per session", idx, dedupeConns)
	}

	resends := func(dc *editedDoc, d *Doc) {
		t.Helper()
		text := dc.want
		for _, k := range []int{edits - 1, edits - dedupeConns} {
			// Rebased on the current version: found in the index.
			u := opsUpdate(edits, opID(k), ot.Op{ot.Retain(l16(text)), ot.Insert(insert(k))})
			if res := submit(t, d, "typist", "resending", u); !res.Duplicate || res.Version != int64(k+1) {
				t.Fatalf("resend of edit %d, its connection's newest, rebased: %+v", k, res)
			}
		}
		// Not their connections' newest, resent against their own base:
		// the window, else the op log.
		if res := submit(t, d, "typist", "resending", opsUpdate(0, opID(0), ot.Op{ot.Insert(start)})); !res.Duplicate || res.Version != 1 {
			t.Fatalf("resend of the first update against its base: %+v", res)
		}
		if res := submit(t, d, "typist", "resending", fullUpdate(1, opID(1), "ignored")); !res.Duplicate || res.Version != 2 {
			t.Fatalf("fullCode resend of the second update against its base: %+v", res)
		}
	}
	for _, dc := range docs {
		resends(dc, dc.d)
	}
	for _, dc := range docs {
		dc.d.Close()
	}
	e.Close()
	if got := e.MemoryBytes(); got != 0 {
		t.Fatalf("%d bytes still counted after every session unloaded", got)
	}

	// Reloaded from the snapshots (each carries its index) and the log.
	e2 := newEngineOpts(t, in, Options{Instance: "b", MemoryBudget: budget})
	for _, dc := range docs[:2] {
		d, r := open(t, e2, dc.sid, -1)
		if r.state.Code != dc.want {
			t.Fatalf("reloaded %d bytes, want %d", len(r.state.Code), len(dc.want))
		}
		resends(dc, d)
	}
}

// editedDoc is a session a test edits and the text it should converge on.
type editedDoc struct {
	sid  string
	d    *Doc
	r    *recorder
	want string
}

// editAll runs edit(dc, k) for k in [0, edits) on every document, the
// documents shared among workers goroutines (each document's edits in
// order, by one of them), and returns the peak of measure after an edit.
func editAll(t *testing.T, docs []*editedDoc, edits, workers int, measure func() int64, edit func(dc *editedDoc, k int) error) int64 {
	t.Helper()
	var (
		mu   sync.Mutex
		peak int64
	)
	jobs := make(chan *editedDoc)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for dc := range jobs {
				for k := range edits {
					if err := edit(dc, k); err != nil {
						errs <- fmt.Errorf("edit %d: %w", k, err)
						return
					}
					mu.Lock()
					peak = max(peak, measure())
					mu.Unlock()
				}
			}
		})
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
	return peak
}

// checkBudget checks that every document converged at version v and that
// what was counted (now, and its peak during the edits) stayed within the
// budget, with slack for the edits in flight, after coming near it.
func checkBudget(t *testing.T, what string, docs []*editedDoc, v, now, peak, budget, slack int64) {
	t.Helper()
	for _, dc := range docs {
		if got := waitVersion(t, dc.r, v); got != dc.want {
			t.Fatalf("document diverged: got %d bytes, want %d", len(got), len(dc.want))
		}
	}
	if now > budget {
		t.Fatalf("%s hold %d bytes after the edits, budget %d", what, now, budget)
	}
	if peak > budget+slack {
		t.Fatalf("%s peaked at %d bytes, budget %d (+%d in flight)", what, peak, budget, slack)
	}
	if peak < budget/2 {
		t.Fatalf("%s peaked at %d bytes: the load never came near the budget %d", what, peak, budget)
	}
}

// codeStart is a 2 KiB document.
var codeStart = strings.Repeat("// a line of the candidate's code\n", 60)

// budgetEngine returns an engine with a memory budget on a new server.
func budgetEngine(t *testing.T, budget int64) (*broker.Infra, *Engine) {
	in := newInfra(t, natstest.Start(t))
	return in, newEngineOpts(t, in, Options{Instance: "a", MemoryBudget: budget,
		SnapshotDebounce: 100 * time.Millisecond, SnapshotMaxDelay: 300 * time.Millisecond})
}

// TestWindowVersions: a window keeps Options.WindowVersions versions
// (DefaultWindowVersions when unset): a client that many versions behind
// still has its fullCode update transformed and gets a replay when it
// reconnects; one behind by more than the window's extent (the versions
// plus the checkpoint spacing eviction rounds to) gets INVALID_PAYLOAD with
// details.sync and a sync instead of a replay.
func TestWindowVersions(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	for _, tc := range []struct {
		name   string
		option int
		want   int64
	}{
		{"default", 0, DefaultWindowVersions},
		{"configured", 16, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngineOpts(t, in, Options{Instance: "a", WindowVersions: tc.option})
			sid := newSessionID()
			d, r := open(t, e, sid, -1)
			extent := tc.want + int64(e.hist.every)
			n := 2 * extent
			for v := int64(0); v < n; v++ {
				submit(t, d, "typist", "c1", opsUpdate(v, "", buildOp(int(v), "a", 0, 0)))
			}
			waitVersion(t, r, n)
			e.mu.Lock()
			s, _ := e.sessions.Get(sid)
			e.mu.Unlock()
			s.mu.Lock()
			held := int64(len(s.hist.entries))
			s.mu.Unlock()
			if held < tc.want || held > extent {
				t.Fatalf("the window holds %d versions, want %d..%d", held, tc.want, extent)
			}

			// A fullCode update tc.want versions behind: the text at its base
			// with a "!" in front, transformed over what followed.
			behind := n - tc.want
			full := "!" + strings.Repeat("a", int(behind))
			res := submit(t, d, "slow", "c2", fullUpdate(behind, "slow-1", full))
			if got, want := waitVersion(t, r, res.Version), "!"+strings.Repeat("a", int(n)); got != want {
				t.Fatalf("fullCode %d versions behind gave %q, want %q", tc.want, got, want)
			}
			if _, rr := open(t, e, sid, behind); !rr.replayOK || int64(len(rr.replay)) != res.Version-behind {
				t.Fatalf("replay of the %d versions after %d: ok %v, %d updates", res.Version-behind, behind, rr.replayOK, len(rr.replay))
			}

			// Beyond the window: a sync.
			gone := res.Version - extent - 1
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := d.Submit(ctx, "slow", "c2", fullUpdate(gone, "slow-2", strings.Repeat("a", int(gone))+"?"))
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidPayload || pe.Details["sync"] != true {
				t.Fatalf("fullCode %d versions behind: %v, want INVALID_PAYLOAD with sync", res.Version-gone, err)
			}
			if _, rr := open(t, e, sid, gone); rr.replayOK {
				t.Fatalf("replay from %d versions behind succeeded", res.Version-gone)
			}
		})
	}
}
