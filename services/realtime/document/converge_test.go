package document

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
)

// filler is what random edits type and delete; markers ⟨user.n⟩ are only
// ever inserted, so each acknowledged one must survive to the end.
var filler = []string{"a", "b", "c", "é", "😀", "\n", "z", "𝄞"}

// randomEdit picks a random edit of text that never cuts into a marker or
// deletes marker characters: it returns the op in UTF-16 units and the
// marker it inserts, if any.
func randomEdit(rng *rand.Rand, text, marker string) (ot.Op, string) {
	runes := []rune(text)
	inMarker := make([]bool, len(runes)+1) // position i is inside a marker
	depth := false
	for i, r := range runes {
		switch r {
		case '⟨':
			depth = true
		case '⟩':
			depth = false
			inMarker[i] = true
			continue
		}
		if depth && r != '⟨' {
			inMarker[i] = true
		}
	}
	var free []int
	for i := 0; i <= len(runes); i++ {
		if !inMarker[i] {
			free = append(free, i)
		}
	}
	u16 := func(rs []rune) int { return ot.UTF16Len(string(rs)) }
	pos := free[rng.IntN(len(free))]
	if rng.IntN(5) < 2 { // delete a run of filler
		end := pos
		for end < len(runes) && end-pos < 3 && runes[end] != '⟨' && runes[end] != '⟩' && !inMarker[end] {
			end++
		}
		if end > pos {
			return buildOp(u16(runes[:pos]), "", u16(runes[pos:end]), u16(runes[end:])), ""
		}
	}
	ins := filler[rng.IntN(len(filler))] + filler[rng.IntN(len(filler))]
	if rng.IntN(2) == 0 {
		ins = marker
	} else {
		marker = ""
	}
	return buildOp(u16(runes[:pos]), ins, 0, u16(runes[pos:])), marker
}

func buildOp(pre int, ins string, del, post int) ot.Op {
	var op ot.Op
	if pre > 0 {
		op = append(op, ot.Retain(pre))
	}
	if ins != "" {
		op = append(op, ot.Insert(ins))
	}
	if del > 0 {
		op = append(op, ot.Delete(del))
	}
	if post > 0 {
		op = append(op, ot.Retain(post))
	}
	if op == nil {
		op = ot.Op{}
	}
	return op
}

// TestConvergence runs two engines (two realtime instances) on one NATS
// server; four users submit random ops and fullCode updates from stale
// versions at the same time. Every listener must end with the same text
// as every engine and the snapshot, with dense versions, keeping every
// acknowledged marker. With a tiny in-memory window, stale ops are
// transformed over updates read back from the stream.
func TestConvergence(t *testing.T) {
	tests := []struct {
		name     string
		hist     histLimits
		stale    int  // how many versions back users may base an update
		fullCode bool // whether users also send fullCode updates
	}{
		{"default window", defaultHistLimits, 4, true},
		{"tiny window", histLimits{versions: 8, bytes: 1 << 20, every: 4}, 30, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			converge(t, seed, tc.hist, tc.stale, tc.fullCode)
		})
	}
}

func converge(t *testing.T, seed uint64, hist histLimits, stale int, withFullCode bool) {
	srv := natstest.Start(t)
	inA, inB := newInfra(t, srv), newInfra(t, srv)
	engA, engB := newEngine(t, inA, "a"), newEngine(t, inB, "b")
	engA.hist, engB.hist = hist, hist
	sid := newSessionID()

	const users, perUser = 4, 30
	docs := make([]*Doc, users)
	recs := make([]*recorder, users)
	for u := range users {
		e := engA
		if u%2 == 1 {
			e = engB
		}
		docs[u], recs[u] = open(t, e, sid, -1)
	}
	// Two more listeners that never submit.
	_, watchA := open(t, engA, sid, 0)
	_, watchB := open(t, engB, sid, 0)

	var mu sync.Mutex
	var markers []string
	versions := map[int64]string{}
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(u)))
			user := fmt.Sprintf("user-%d", u)
			for i := range perUser {
				base, text := recs[u].recent(rng.IntN, stale)
				op, marker := randomEdit(rng, text, fmt.Sprintf("⟨%d.%d⟩", u, i))
				upd := opsUpdate(base, fmt.Sprintf("op-%d", i), op)
				if withFullCode && rng.IntN(3) == 0 {
					full, err := ot.Apply(text, op)
					if err != nil {
						t.Errorf("test edit: %v", err)
						return
					}
					upd = fullUpdate(base, fmt.Sprintf("op-%d", i), full)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := docs[u].Submit(ctx, user, fmt.Sprintf("conn-%d", u), upd)
				cancel()
				if err != nil {
					t.Errorf("user %d update %d: %v", u, i, err)
					return
				}
				mu.Lock()
				if prev, dup := versions[res.Version]; dup || res.Duplicate {
					t.Errorf("version %d given twice (%s, %s/%d)", res.Version, prev, user, i)
				}
				versions[res.Version] = user
				if marker != "" {
					markers = append(markers, marker)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	n := int64(users * perUser)
	for v := int64(1); v <= n; v++ {
		if _, ok := versions[v]; !ok {
			t.Fatalf("version %d missing from the acknowledgements", v)
		}
	}
	want := waitVersion(t, watchA, n)
	for i, r := range append(recs, watchB) {
		if got := waitVersion(t, r, n); got != want {
			t.Fatalf("listener %d has %q, want %q", i, got, want)
		}
	}
	for i, e := range []*Doc{docs[0], docs[1]} {
		if st := e.State(); st.Code != want || st.Version != n {
			t.Fatalf("engine %d state %d %q, want %d %q", i, st.Version, st.Code, n, want)
		}
	}
	for _, m := range markers {
		if !strings.Contains(want, m) {
			t.Errorf("acknowledged marker %s is missing from %q", m, want)
		}
	}
	if !utf8.ValidString(want) {
		t.Fatalf("invalid UTF-8: %q", want)
	}

	// The snapshot written on the last close holds the same document.
	engA.Close()
	engB.Close()
	snap := readSnapshot(t, inA, sid)
	if snap.Code != want || snap.Version != n {
		t.Fatalf("snapshot %d %q, want %d %q", snap.Version, snap.Code, n, want)
	}
	// A fresh instance loads the same state.
	_, fresh := open(t, newEngine(t, inB, "c"), sid, -1)
	if fresh.state.Code != want || fresh.state.Version != n {
		t.Fatalf("reloaded %d %q", fresh.state.Version, fresh.state.Code)
	}
}
