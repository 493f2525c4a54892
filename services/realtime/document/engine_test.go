package document

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

func TestSubmitAndAck(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngine(t, in, "a")
	sid := newSessionID()
	d, r := open(t, e, sid, -1)
	if r.state.Version != 0 || r.state.Code != "" || !r.replayOK {
		t.Fatalf("opened with %+v %v", r.state, r.replayOK)
	}
	if res := submit(t, d, "u1", "c1", opsUpdate(0, "op1", ot.Op{ot.Insert("hello")})); res.Version != 1 || res.Duplicate || res.OpID != "op1" {
		t.Fatalf("got %+v", res)
	}
	// Submit returns after the listener was handed the update.
	if _, v, _ := r.snapshot(); v != 1 {
		t.Fatalf("listener at %d after Submit returned", v)
	}
	if res := submit(t, d, "u1", "c1", fullUpdate(1, "", "hello world")); res.Version != 2 {
		t.Fatalf("got %+v", res)
	}
	// An update that changes nothing still takes a version.
	if res := submit(t, d, "u1", "c1", fullUpdate(2, "", "hello world")); res.Version != 3 {
		t.Fatalf("no-op: got %+v", res)
	}
	if got := waitVersion(t, r, 3); got != "hello world" {
		t.Fatalf("listener text %q", got)
	}
	a := r.applied[0]
	if a.SessionID != sid || a.UserID != "u1" || a.ConnID != "c1" || a.OpID != "op1" || a.Timestamp == 0 {
		t.Fatalf("applied %+v", a)
	}
	if st := d.State(); st.Code != "hello world" || st.Version != 3 {
		t.Fatalf("state %+v", st)
	}
	if n := e.Stats(); n != 1 {
		t.Fatalf("stats %d", n)
	}
	entries, next, err := oplog.Read(context.Background(), in, sid, 1, oplog.Limits{Entries: 10})
	if err != nil || len(entries) != 3 || next != nil || entries[1].Version != 2 {
		t.Fatalf("history: %+v %v %v", entries, next, err)
	}
}

// Two users insert at the same place from the same version, on different
// instances: both keep their text, the lower version's first.
func TestSamePositionTieBreak(t *testing.T) {
	srv := natstest.Start(t)
	ea, eb := newEngine(t, newInfra(t, srv), "a"), newEngine(t, newInfra(t, srv), "b")
	sid := newSessionID()
	da, ra := open(t, ea, sid, -1)
	db, rb := open(t, eb, sid, -1)
	submit(t, da, "u0", "c0", fullUpdate(0, "", "ab"))
	waitVersion(t, rb, 1)

	// In sequence: the second is transformed over the first.
	submit(t, da, "u1", "c1", opsUpdate(1, "", ot.Op{ot.Retain(1), ot.Insert("X"), ot.Retain(1)}))
	submit(t, db, "u2", "c2", opsUpdate(1, "", ot.Op{ot.Retain(1), ot.Insert("Y"), ot.Retain(1)}))
	if got := waitVersion(t, ra, 3); got != "aXYb" {
		t.Fatalf("sequential: got %q, want aXYb", got)
	}

	// At the same moment: whichever got the lower version comes first.
	var wg sync.WaitGroup
	var resP, resQ Result
	wg.Go(func() { resP = submit(t, da, "u1", "c1", opsUpdate(3, "p", ot.Op{ot.Insert("P"), ot.Retain(4)})) })
	wg.Go(func() { resQ = submit(t, db, "u2", "c2", opsUpdate(3, "q", ot.Op{ot.Insert("Q"), ot.Retain(4)})) })
	wg.Wait()
	want := "PQaXYb"
	if resQ.Version < resP.Version {
		want = "QPaXYb"
	}
	for _, r := range []*recorder{ra, rb} {
		if got := waitVersion(t, r, 5); got != want {
			t.Fatalf("concurrent: got %q, want %q (P=%d Q=%d)", got, want, resP.Version, resQ.Version)
		}
	}
}

func TestOpIDResend(t *testing.T) {
	srv := natstest.Start(t)
	in := newInfra(t, srv)
	ea, eb := newEngine(t, in, "a"), newEngine(t, newInfra(t, srv), "b")
	sid := newSessionID()
	da, ra := open(t, ea, sid, -1)
	db, _ := open(t, eb, sid, -1)

	first := submit(t, da, "u1", "c1", opsUpdate(0, "same", ot.Op{ot.Insert("x")}))
	steps := []struct {
		name string
		d    *Doc
		user string
		u    protocol.CodeUpdate
		want Result
	}{
		{"resend", da, "u1", opsUpdate(0, "same", ot.Op{ot.Insert("x")}), Result{Version: 1, OpID: "same", Duplicate: true}},
		{"resend as fullCode", da, "u1", fullUpdate(1, "same", "zzz"), Result{Version: 1, OpID: "same", Duplicate: true}},
		{"resend through the other instance", db, "u1", opsUpdate(1, "same", ot.Op{ot.Retain(1), ot.Insert("x")}), Result{Version: 1, OpID: "same", Duplicate: true}},
		{"same opId, other user", db, "u2", opsUpdate(1, "same", ot.Op{ot.Retain(1), ot.Insert("y")}), Result{Version: 2, OpID: "same"}},
		{"other opId", da, "u1", opsUpdate(2, "next", ot.Op{ot.Retain(2), ot.Insert("z")}), Result{Version: 3, OpID: "next"}},
	}
	if first.Version != 1 {
		t.Fatalf("first: %+v", first)
	}
	for _, st := range steps {
		if got := submit(t, st.d, st.user, "c", st.u); got != st.want {
			t.Fatalf("%s: got %+v, want %+v", st.name, got, st.want)
		}
	}
	if got := waitVersion(t, ra, 3); got != "xyz" {
		t.Fatalf("text %q", got)
	}

	// After both instances stop, a new one rebuilds the index from the
	// snapshot, and without a snapshot from the log.
	ea.Close()
	eb.Close()
	for _, purge := range []bool{false, true} {
		if purge {
			if err := in.Documents.Purge(context.Background(), sid); err != nil {
				t.Fatal(err)
			}
		}
		ec := newEngine(t, in, "c")
		dc, rc := open(t, ec, sid, -1)
		if got := submit(t, dc, "u1", "c9", opsUpdate(0, "same", ot.Op{ot.Insert("x")})); got != (Result{Version: 1, OpID: "same", Duplicate: true}) {
			t.Fatalf("after restart (purged snapshot %t): %+v", purge, got)
		}
		if got := submit(t, dc, "u2", "c9", opsUpdate(0, "same", ot.Op{ot.Insert("y")})); got != (Result{Version: 2, OpID: "same", Duplicate: true}) {
			t.Fatalf("after restart (purged snapshot %t), u2: %+v", purge, got)
		}
		if rc.state.Code != "xyz" || rc.state.Version != 3 {
			t.Fatalf("reloaded %+v", rc.state)
		}
		ec.Close()
	}
}

func TestSinceReplay(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	// No automatic snapshot: the test decides which one exists.
	ea := newEngineOpts(t, in, Options{SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour})
	sid := newSessionID()
	d, r := open(t, ea, sid, -1)
	for i := range 10 {
		submit(t, d, "u1", "c1", opsUpdate(int64(i), string(rune('a'+i)), buildOp(i, string(rune('a'+i)), 0, 0)))
	}
	waitVersion(t, r, 10)

	check := func(t *testing.T, e *Engine, since int64, wantOK bool, wantFrom int64) {
		t.Helper()
		_, rr := open(t, e, sid, since)
		if rr.replayOK != wantOK {
			t.Fatalf("since %d: replayOK %v, want %v", since, rr.replayOK, wantOK)
		}
		if rr.state.Version != 10 || rr.state.Code != "abcdefghij" {
			t.Fatalf("since %d: state %+v", since, rr.state)
		}
		if !wantOK {
			if len(rr.replay) != 0 {
				t.Fatalf("since %d: replay of %d with replayOK=false", since, len(rr.replay))
			}
			return
		}
		var want []Applied
		if since >= 0 {
			want = r.applied[wantFrom-1:]
		}
		if len(rr.replay) != len(want) {
			t.Fatalf("since %d: %d updates, want %d", since, len(rr.replay), len(want))
		}
		for i, a := range rr.replay {
			w := want[i]
			if a.Version != w.Version || a.Code != w.Code || a.OpID != w.OpID || a.ConnID != w.ConnID {
				t.Fatalf("since %d: update %d is %+v, want %+v", since, i, a, w)
			}
		}
	}
	type sinceCase struct {
		since    int64
		ok       bool
		wantFrom int64
	}
	tests := []sinceCase{{-1, true, 0}, {0, true, 1}, {3, true, 4}, {9, true, 10}, {10, true, 11}, {11, false, 0}, {500, false, 0}}
	for _, tc := range tests {
		check(t, ea, tc.since, tc.ok, tc.wantFrom)
	}

	// Another instance, no snapshot: it loads the whole log and replays all of it.
	eb := newEngineOpts(t, in, Options{SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour})
	for _, tc := range tests {
		check(t, eb, tc.since, tc.ok, tc.wantFrom)
	}

	// A snapshot at version 5. An instance whose window is shorter than
	// that loads it: replays reach back to it. One whose window reaches
	// the start, which the op log still holds, loads the log from there:
	// replays reach back as far as on the instance that wrote it.
	entries, _, err := oplog.Read(context.Background(), in, sid, 5, oplog.Limits{Entries: 1})
	if err != nil || len(entries) != 1 {
		t.Fatalf("read 5: %v %v", entries, err)
	}
	if _, err := ea.writeSnapshot(context.Background(), sid, snapshot{Code: "abcde", Version: 5, Seq: entries[0].Seq}, 0); err != nil {
		t.Fatal(err)
	}
	ea.Drop(sid)
	eb.Drop(sid)
	for _, w := range []struct {
		versions int
		tests    []sinceCase
	}{
		{4, []sinceCase{{4, false, 0}, {5, true, 6}, {8, true, 9}, {10, true, 11}}},
		{DefaultWindowVersions, tests},
	} {
		e := newEngineOpts(t, in, Options{SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour, WindowVersions: w.versions})
		for _, tc := range w.tests {
			check(t, e, tc.since, tc.ok, tc.wantFrom)
		}
		e.Drop(sid)
	}
}

func TestInvalidUpdates(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngine(t, in, "a")
	sid := newSessionID()
	d, r := open(t, e, sid, -1)
	submit(t, d, "u1", "c1", fullUpdate(0, "", "a😀b")) // 4 UTF-16 units
	code := "x"
	raw := func(s string) protocol.CodeUpdate {
		return protocol.CodeUpdate{Delta: protocol.Delta{Ops: json.RawMessage(s)}, Version: 1}
	}
	tests := []struct {
		name string
		u    protocol.CodeUpdate
		want protocol.Code
	}{
		{"both fullCode and ops", protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &code, Ops: json.RawMessage(`[4]`)}, Version: 1}, protocol.CodeInvalidPayload},
		{"neither", protocol.CodeUpdate{Version: 1}, protocol.CodeInvalidPayload},
		{"ops null", raw(`null`), protocol.CodeInvalidPayload},
		{"negative version", protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &code}, Version: -1}, protocol.CodeInvalidPayload},
		{"version ahead", protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &code}, Version: 2}, protocol.CodeInvalidPayload},
		{"ops version ahead", protocol.CodeUpdate{Delta: protocol.Delta{Ops: json.RawMessage(`[4]`)}, Version: 7}, protocol.CodeInvalidPayload},
		{"opId too long", protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &code}, Version: 1, OpID: strings.Repeat("o", 65)}, protocol.CodeInvalidPayload},
		{"zero count", raw(`[0]`), protocol.CodeInvalidPayload},
		{"object", raw(`{}`), protocol.CodeInvalidPayload},
		{"string", raw(`"abc"`), protocol.CodeInvalidPayload},
		{"fraction", raw(`[1.5]`), protocol.CodeInvalidPayload},
		{"empty insert", raw(`[""]`), protocol.CodeInvalidPayload},
		{"too long", raw(`[4,"x",1]`), protocol.CodeInvalidPayload},
		{"too short", raw(`[3]`), protocol.CodeInvalidPayload},
		{"splits a surrogate pair", raw(`[2,"x",2]`), protocol.CodeInvalidPayload},
		{"deletes half a pair", raw(`[1,-1,2]`), protocol.CodeInvalidPayload},
		{"wrong length at an old version", protocol.CodeUpdate{Delta: protocol.Delta{Ops: json.RawMessage(`[1]`)}, Version: 0}, protocol.CodeInvalidPayload},
		{"trailing data", raw(`[4] [4]`), protocol.CodeInvalidPayload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := submitErr(t, d, "u1", tc.u); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if st := d.State(); st.Version != 1 || st.Code != "a😀b" {
		t.Fatalf("state changed: %+v", st)
	}
	// Still usable, and nothing refused reached the listener.
	submit(t, d, "u1", "c1", raw(`[3,"!",1]`))
	if got := waitVersion(t, r, 2); got != "a😀!b" || len(r.applied) != 2 {
		t.Fatalf("got %q after %d updates", got, len(r.applied))
	}
}

func TestDocumentTooLarge(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngineOpts(t, in, Options{MaxDocBytes: 16})
	sid := newSessionID()
	d, r := open(t, e, sid, -1)
	submit(t, d, "u1", "c1", fullUpdate(0, "", "0123456789abcdef")) // exactly 16 bytes
	tests := []struct {
		name string
		u    protocol.CodeUpdate
	}{
		{"fullCode", fullUpdate(1, "", "0123456789abcdefg")},
		{"emoji counts 4 bytes", opsUpdate(1, "", ot.Op{ot.Insert("😀"), ot.Delete(3), ot.Retain(13)})},
		{"stale", opsUpdate(0, "", ot.Op{ot.Insert("!")})},
	}
	for _, tc := range tests {
		if got := submitErr(t, d, "u1", tc.u); got != protocol.CodeDocumentTooLarge {
			t.Fatalf("%s: got %q, want DOCUMENT_TOO_LARGE", tc.name, got)
		}
	}
	// Same length in UTF-8 bytes is fine.
	submit(t, d, "u1", "c1", opsUpdate(1, "", ot.Op{ot.Insert("😀"), ot.Delete(4), ot.Retain(12)}))
	if got := waitVersion(t, r, 2); got != "😀456789abcdef" {
		t.Fatalf("got %q", got)
	}
}

// Characters outside the BMP at the edges of edits, fullCode and ops mixed.
func TestSurrogatePairs(t *testing.T) {
	srv := natstest.Start(t)
	ea, eb := newEngine(t, newInfra(t, srv), "a"), newEngine(t, newInfra(t, srv), "b")
	sid := newSessionID()
	da, ra := open(t, ea, sid, -1)
	db, rb := open(t, eb, sid, -1)
	submit(t, da, "u1", "c1", fullUpdate(0, "", "a😀b"))
	// 😀 and 😁 share their first three UTF-8 bytes and their high surrogate.
	submit(t, da, "u1", "c1", fullUpdate(1, "", "a😁b"))
	// Two stale edits on either side of the pair.
	submit(t, db, "u2", "c2", opsUpdate(1, "", ot.Op{ot.Retain(1), ot.Insert("𝄞"), ot.Retain(3)}))
	submit(t, db, "u2", "c2", fullUpdate(1, "", "a😀🎉b"))
	// 😁 (version 2) and 𝄞 (version 3) went in at the same place: the
	// lower version first; 🎉 followed the replaced pair, so it follows both.
	want := "a😁𝄞🎉b"
	for _, r := range []*recorder{ra, rb} {
		if got := waitVersion(t, r, 4); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	for _, a := range ra.applied {
		if _, err := json.Marshal(a.Ops); err != nil {
			t.Fatalf("version %d ops do not encode: %v", a.Version, err)
		}
	}
}

func TestDrop(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngineOpts(t, in, Options{SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour})
	sid := newSessionID()
	d, _ := open(t, e, sid, -1)
	submit(t, d, "u1", "c1", fullUpdate(0, "", "x"))
	e.Drop(sid)
	if got := submitErr(t, d, "u1", fullUpdate(1, "", "y")); got != protocol.CodeSessionNotFound {
		t.Fatalf("submit after drop: %q", got)
	}
	if n := e.Stats(); n != 0 {
		t.Fatalf("stats %d after drop", n)
	}
	d.Close()
	if _, err := in.Documents.Get(context.Background(), sid); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("snapshot after drop: %v", err)
	}
	// Closing the engine closes the doors.
	e.Close()
	if _, err := e.Open(context.Background(), sid, -1, &recorder{}); err == nil {
		t.Fatal("open after close succeeded")
	}
}

// The last Close of a session writes its snapshot and lets it go.
func TestLastCloseSnapshots(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngineOpts(t, in, Options{SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour})
	sid := newSessionID()
	d1, _ := open(t, e, sid, -1)
	d2, _ := open(t, e, sid, -1)
	submit(t, d1, "u1", "c1", fullUpdate(0, "k", "kept"))
	d1.Close()
	d1.Close() // idempotent
	if n := e.Stats(); n != 1 {
		t.Fatalf("stats %d with one listener left", n)
	}
	d2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ent, err := in.Documents.Get(context.Background(), sid)
		if err == nil {
			var s snapshot
			if err := json.Unmarshal(ent.Value(), &s); err != nil || s.Code != "kept" || s.Version != 1 ||
				len(s.OpIDs) != 1 || s.OpIDs[0] != (snapshotOp{UserID: "u1", ConnID: "c1", OpID: "k", Version: 1}) {
				t.Fatalf("snapshot %+v %v", s, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.Stats(); n != 0 {
		t.Fatalf("stats %d after the last close", n)
	}
	// An older snapshot never replaces a newer one.
	if _, err := e.writeSnapshot(context.Background(), sid, snapshot{Code: "old", Version: 0}, 0); err != nil {
		t.Fatal(err)
	}
	if s := readSnapshot(t, in, sid); s.Code != "kept" {
		t.Fatalf("older snapshot won: %+v", s)
	}
}

// A session that cannot be loaded fails Open with INTERNAL_SERVER_ERROR,
// and the next Open tries again.
func TestLoadFailure(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngine(t, in, "a")
	sid := newSessionID()
	if _, err := in.Documents.Put(context.Background(), sid, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Open(context.Background(), sid, -1, &recorder{}); protocol.ErrorCode(err) != protocol.CodeInternal {
		t.Fatalf("open with a corrupt snapshot: %v", err)
	}
	if n := e.Stats(); n != 0 {
		t.Fatalf("stats %d after a failed load", n)
	}
	if err := in.Documents.Purge(context.Background(), sid); err != nil {
		t.Fatal(err)
	}
	d, _ := open(t, e, sid, -1)
	submit(t, d, "u", "c", fullUpdate(0, "", "ok"))
}

// TestSnapshotWithoutWakes: a submit wakes the replica goroutine only when
// it has something to do (the first edit since a snapshot arms its timer;
// without the wake the timer would never be armed and waitFor would fail);
// the edits after it move the due without waking it, and the timer, armed
// for the first one's due, is set again for the last one's, so the
// snapshot still holds the last edit.
func TestSnapshotWithoutWakes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		debounce time.Duration
	}{
		{"the timer far away", time.Hour},
		{"the timer firing during the edits", 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInfra(t, natstest.Start(t))
			e := newEngineOpts(t, in, Options{SnapshotDebounce: tc.debounce, SnapshotMaxDelay: time.Hour})
			sid := newSessionID()
			d, r := open(t, e, sid, -1)
			// The first edit wakes it, unless its republished copy did
			// first: either way it arms the timer.
			submit(t, d, "u1", "c1", fullUpdate(0, "", "a"))
			waitFor(t, "the snapshot timer armed", func() bool {
				d.s.mu.Lock()
				defer d.s.mu.Unlock()
				return d.s.snapWatched
			})
			text := "a"
			for v := int64(1); v <= 20; v++ {
				text += "b"
				res := submit(t, d, "u1", "c1", fullUpdate(v, "", text))
				if tc.debounce == time.Hour && res.wake {
					t.Fatalf("edit %d woke the replica goroutine with its timer armed", v+1)
				}
				if tc.debounce < time.Hour {
					time.Sleep(tc.debounce / 4) // the first due passes during the edits
				}
			}
			waitVersion(t, r, 21)
			if tc.debounce == time.Hour {
				return
			}
			waitFor(t, "the snapshot of the last edit", func() bool {
				ent, err := in.Documents.Get(context.Background(), sid)
				if err != nil {
					return false
				}
				var s snapshot
				return json.Unmarshal(ent.Value(), &s) == nil && s.Version == 21 && s.Code == text
			})
		})
	}
}

// Each run of unsaved edits gets its own bound on the snapshot's delay,
// between half of SnapshotMaxDelay and all of it: sessions whose editing
// began together do not all snapshot together.
func TestSnapshotCapIsSpread(t *testing.T) {
	e := &Engine{o: Options{SnapshotMaxDelay: 10 * time.Second}}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := e.snapshotCap()
		if d < 5*time.Second || d > 10*time.Second {
			t.Fatalf("snapshotCap = %v, want within [5s, 10s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("200 draws gave %d different bounds, want them spread", len(seen))
	}
}

// A snapshot is written over the revision this instance last wrote without
// reading the stored one first; when another writer stored one since, the
// stored version is read and compared, so an older snapshot still never
// replaces a newer one.
func TestSnapshotWriteByRevision(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngineOpts(t, in, Options{SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour})
	sid := newSessionID()
	ctx := context.Background()
	steps := []struct {
		name     string
		snap     snapshot
		rev      func(prev []uint64) uint64
		wantRev  bool // a revision is returned: it was stored
		wantCode string
	}{
		{"the first", snapshot{Code: "a", Version: 1}, func([]uint64) uint64 { return 0 }, true, "a"},
		{"over our own revision", snapshot{Code: "ab", Version: 2}, func(p []uint64) uint64 { return p[0] }, true, "ab"},
		{"another writer's, newer", snapshot{Code: "abcd", Version: 4}, func([]uint64) uint64 { return 0 }, true, "abcd"},
		{"ours, older, over a revision no longer stored", snapshot{Code: "abc", Version: 3}, func(p []uint64) uint64 { return p[1] }, false, "abcd"},
		{"ours, newer, over a revision no longer stored", snapshot{Code: "abcde", Version: 5}, func(p []uint64) uint64 { return p[1] }, true, "abcde"},
	}
	var revs []uint64
	for _, st := range steps {
		rev, err := e.writeSnapshot(ctx, sid, st.snap, st.rev(revs))
		if err != nil || (rev != 0) != st.wantRev {
			t.Fatalf("%s: revision %d, %v; want one stored: %t", st.name, rev, err, st.wantRev)
		}
		revs = append(revs, rev)
		if got := readSnapshot(t, in, sid); got.Code != st.wantCode {
			t.Fatalf("%s: stored %q, want %q", st.name, got.Code, st.wantCode)
		}
	}
}
