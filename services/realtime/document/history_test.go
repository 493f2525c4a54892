package document

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestHistoryWindow checks the window against every text it has seen:
// texts rebuilt from checkpoints, lengths, replays and eviction bounds.
func TestHistoryWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h history
	h.reset(defaultHistLimits, "", 0, nil)
	texts := []string{""}
	text := ""
	const n = 3000
	for v := int64(1); v <= n; v++ {
		var op ot.Op
		if l := ot.UTF16Len(text); l > 0 && rng.IntN(3) == 0 {
			op = buildOp(0, "", 1, l-1)
		} else {
			op = buildOp(l16(text), fmt.Sprint(v%10), 0, 0)
		}
		next, err := ot.Apply(text, op)
		if err != nil {
			t.Fatal(err)
		}
		text = next
		texts = append(texts, text)
		h.push(Applied{Version: v, Ops: op, Code: text})
		if len(h.entries) > h.lim.versions+h.lim.every || int64(len(h.entries)) < min(v, int64(h.lim.versions)) {
			t.Fatalf("window of %d entries at version %d: want %d..%d", len(h.entries), v, h.lim.versions, h.lim.versions+h.lim.every)
		}
		if h.baseVersion+int64(len(h.entries)) != v {
			t.Fatalf("window %d+%d does not end at %d", h.baseVersion, len(h.entries), v)
		}
	}
	if h.baseVersion == 0 || n-h.baseVersion < int64(h.lim.versions) {
		t.Fatalf("base %d: eviction kept too little or nothing", h.baseVersion)
	}
	for v := h.baseVersion; v <= n; v++ {
		got, err := h.textAt(v)
		if err != nil || got != texts[v] {
			t.Fatalf("textAt(%d) = %q, %v; want %q", v, got, err, texts[v])
		}
		if v < n && h.lenAt(v) != ot.UTF16Len(texts[v]) {
			t.Fatalf("lenAt(%d) = %d", v, h.lenAt(v))
		}
	}
	for _, since := range []int64{h.baseVersion, h.baseVersion + 1, n - 100, n - 1} {
		rep, ok := h.replay(since, n, n)
		if !ok || int64(len(rep)) != n-since {
			t.Fatalf("replay(%d): %d updates, %v", since, len(rep), ok)
		}
		for i, a := range rep {
			if a.Version != since+1+int64(i) || a.Code != texts[a.Version] {
				t.Fatalf("replay(%d)[%d] = v%d %q", since, i, a.Version, a.Code)
			}
		}
	}
	if _, ok := h.replay(h.baseVersion-1, n, n); ok {
		t.Fatal("replay before the window succeeded")
	}
	if _, ok := h.replay(n+1, n, n); ok {
		t.Fatal("replay from the future succeeded")
	}
	if rep, ok := h.replay(n, n, n); !ok || len(rep) != 0 {
		t.Fatal("replay from now is not empty")
	}
	// A replay up to an older version stops there (a listener that has
	// been handed only that far).
	for _, r := range []struct{ since, upto int64 }{{h.baseVersion, h.baseVersion + 1}, {n - 100, n - 37}, {n - 2, n - 1}} {
		rep, ok := h.replay(r.since, r.upto, n)
		if !ok || int64(len(rep)) != r.upto-r.since || rep[len(rep)-1].Code != texts[r.upto] {
			t.Fatalf("replay(%d, %d): %d updates, %v", r.since, r.upto, len(rep), ok)
		}
	}
	for _, r := range []struct{ since, upto int64 }{{n - 1, n - 2}, {n - 1, n + 1}, {h.baseVersion - 1, n - 1}} {
		if _, ok := h.replay(r.since, r.upto, n); ok {
			t.Fatalf("replay(%d, %d) succeeded", r.since, r.upto)
		}
	}
	for _, v := range []int64{h.baseVersion, h.baseVersion + 1, n - 63, n - 1} {
		if got, want := h.hashAt(v, n), protocol.DocumentHash(texts[v]); got != want {
			t.Fatalf("hashAt(%d) = %q, want %q", v, got, want)
		}
	}
	for _, v := range []int64{h.baseVersion - 1, n, n + 1} {
		if got := h.hashAt(v, n); got != "" {
			t.Fatalf("hashAt(%d) = %q outside the window", v, got)
		}
	}
}

func l16(s string) int { return ot.UTF16Len(s) }

func TestDedupeBound(t *testing.T) {
	var total atomic.Int64
	d := dedupe{total: &total}
	// Three connections of two users, then more connections than the bound.
	d.add("u1", "c1", "a1", 1)
	d.add("u1", "c2", "b1", 2)
	d.add("u2", "c3", "x1", 3)
	d.add("u1", "c1", "a2", 4)
	d.add("u1", "c1", "a1", 1) // an older update of c1 is not its newest
	steps := []struct {
		user, op string
		want     int64
		ok       bool
	}{
		{"u1", "a2", 4, true},
		{"u1", "a1", 0, false}, // c1 sent a2 since
		{"u1", "b1", 2, true},
		{"u2", "x1", 3, true},
		{"u2", "a2", 0, false}, // per user
	}
	for _, st := range steps {
		if v, ok := d.get(st.user, st.op); v != st.want || ok != st.ok {
			t.Fatalf("get(%s, %s) = %d, %v; want %d, %v", st.user, st.op, v, ok, st.want, st.ok)
		}
	}
	for i := range 2 * dedupeConns {
		d.add("u3", fmt.Sprint("conn-", i), fmt.Sprint("op-", i), int64(10+i))
	}
	if len(d.recs) != dedupeConns {
		t.Fatalf("%d records, bound %d", len(d.recs), dedupeConns)
	}
	if _, ok := d.get("u1", "a2"); ok {
		t.Fatal("the least recent connection is still known")
	}
	if v, ok := d.get("u3", fmt.Sprint("op-", 2*dedupeConns-1)); !ok || v != int64(10+2*dedupeConns-1) {
		t.Fatalf("newest = %d, %v", v, ok)
	}
	if total.Load() != int64(d.bytes) || d.bytes < dedupeConns*opRecordSize {
		t.Fatalf("counted %d, engine total %d", d.bytes, total.Load())
	}
	d.release()
	if total.Load() != 0 {
		t.Fatalf("engine total %d after release", total.Load())
	}
}

// TestWindowEncoding holds the window's flat form to what was pushed: ops
// (retains, deletes, inserts of any text) come back as they went in, with
// their opIds, ids and hashes, through replay, find and opsAfter.
func TestWindowEncoding(t *testing.T) {
	ops := []ot.Op{
		{ot.Insert("x")},
		{ot.Retain(1), ot.Insert("héllo 😀\x00<>")},
		{ot.Retain(3), ot.Delete(4), ot.Retain(2)},
		{ot.Delete(9), ot.Insert(strings.Repeat("y", 300))},
		{ot.Retain(1 << 40)},
		{ot.Delete(1 << 40)},
		{},
	}
	var h history
	h.reset(histLimits{versions: 100, bytes: 1 << 20, every: 1}, "", 0, nil) // every version keeps its text
	hashes := []string{protocol.DocumentHash("a"), "", "0000000000000000", "ffffffffffffffff", "not a hash", protocol.DocumentHash("b"), "0123456789abcdef"}
	for i, op := range ops {
		h.push(Applied{SessionID: "s", Version: int64(i + 1), UserID: fmt.Sprint("u", i%2), OpID: fmt.Sprint("op-", i),
			ConnID: "c", Timestamp: int64(1000 + i), Ops: op, Hash: hashes[i], Code: fmt.Sprint("text ", i)})
	}
	got := h.opsAfter(0)
	if len(got) != len(ops) {
		t.Fatalf("opsAfter(0): %d ops, want %d", len(got), len(ops))
	}
	for i, op := range ops {
		if !reflect.DeepEqual(got[i], op) && !(len(got[i]) == 0 && len(op) == 0) {
			t.Errorf("op %d = %v, want %v", i, got[i], op)
		}
		v, ok := h.find(0, int64(len(ops)), fmt.Sprint("u", i%2), fmt.Sprint("op-", i))
		if !ok || v != int64(i+1) {
			t.Errorf("find op-%d = %d, %v", i, v, ok)
		}
		if _, ok := h.find(0, int64(len(ops)), fmt.Sprint("u", (i+1)%2), fmt.Sprint("op-", i)); ok {
			t.Errorf("op-%d found for the other user", i)
		}
	}
	rep, ok := h.replay(0, int64(len(ops)), int64(len(ops)))
	if !ok || len(rep) != len(ops) {
		t.Fatalf("replay: %d, %v", len(rep), ok)
	}
	for i, a := range rep {
		want := hashes[i]
		if _, ok := parseHash(want); !ok {
			want = protocol.DocumentHash(a.Code) // not kept: computed again
		}
		if a.SessionID != "s" || a.Version != int64(i+1) || a.OpID != fmt.Sprint("op-", i) || a.UserID != fmt.Sprint("u", i%2) ||
			a.ConnID != "c" || a.Timestamp != int64(1000+i) || a.Code != fmt.Sprint("text ", i) || a.Hash != want {
			t.Errorf("replay[%d] = %+v", i, a)
		}
	}
}

// TestWindowBytes holds a window of interview-light's typing (one-character
// edits of a 2 KiB document, the load generator's opIds, two updates a
// second for ten minutes) to the bytes its narrow entries and sized slices
// allow: 36 KB before (72-byte entries, slices doubled past the next
// eviction), 27 KB with them (BenchmarkWindowMemory).
func TestWindowBytes(t *testing.T) {
	for _, h := range typedWindows(defaultHistLimits, 1, 1200) {
		if h.bytes > 28<<10 {
			t.Fatalf("the window holds %d bytes for %d versions, want at most %d", h.bytes, len(h.entries), 28<<10)
		}
		if len(h.entries) < h.lim.versions {
			t.Fatalf("the window holds %d versions, want at least %d", len(h.entries), h.lim.versions)
		}
	}
}

// TestWindowRestartsPastItsIDs: an update the window's narrow entries cannot
// name (more users and connections than its bound, an opId over 64 KiB)
// starts the window over at it instead of naming the wrong ids: what it
// holds is still right.
func TestWindowRestartsPastItsIDs(t *testing.T) {
	const ids, n = 256, 1000
	var h history
	h.reset(histLimits{versions: 1 << 20, bytes: 1 << 30, every: 64, recent: 2, ids: ids}, "", 0, nil)
	text := ""
	for v := int64(1); v <= n; v++ {
		next := text + "x"
		op := buildOp(len(text), "x", 0, 0)
		opID := fmt.Sprint("op-", v)
		if v == n-10 {
			opID = strings.Repeat("o", 1<<16)
		}
		h.push(Applied{SessionID: "s", Version: v, UserID: fmt.Sprint("u", v), ConnID: fmt.Sprint("c", v), OpID: opID, Ops: op,
			Code: next, Hash: protocol.DocumentHash(next)})
		text = next
		if len(h.ids) > ids {
			t.Fatalf("version %d: the window names %d ids", v, len(h.ids))
		}
	}
	if h.baseVersion < n-10 {
		t.Fatalf("the window starts at %d: it did not start over at the long opId", h.baseVersion)
	}
	rep, ok := h.replay(h.baseVersion, n, n)
	if !ok || len(rep) == 0 {
		t.Fatalf("replay from %d: %d updates, %v", h.baseVersion, len(rep), ok)
	}
	for _, a := range rep {
		if a.UserID != fmt.Sprint("u", a.Version) || a.ConnID != fmt.Sprint("c", a.Version) || a.OpID != fmt.Sprint("op-", a.Version) ||
			a.Code != strings.Repeat("x", int(a.Version)) {
			t.Fatalf("replay of version %d: %+v", a.Version, a)
		}
	}
}
