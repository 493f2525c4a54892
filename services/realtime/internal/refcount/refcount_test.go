package refcount

import (
	"slices"
	"sync"
	"testing"
)

type item struct{ name string }

// step is one call on the map. The values Acquire makes are named by
// their key and how many were made for it before ("a", "a2", ...);
// the other calls name the value they act on.
type step struct {
	op   string // acquire, hold, release, forget
	arg  string // the key (acquire) or the value's name
	want string // acquire: the value's name; release: last and removed as "last", "last removed" or ""
	made bool   // acquire: a new value was made
}

func TestMap(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		refs  map[string]int // holders of each named value at the end
		keys  []string       // the values by key at the end, sorted
	}{
		{
			name:  "first acquire makes the value",
			steps: []step{{op: "acquire", arg: "a", want: "a", made: true}},
			refs:  map[string]int{"a": 1},
			keys:  []string{"a"},
		},
		{
			name: "later acquires share it",
			steps: []step{
				{op: "acquire", arg: "a", want: "a", made: true},
				{op: "acquire", arg: "a", want: "a"},
				{op: "acquire", arg: "b", want: "b", made: true},
			},
			refs: map[string]int{"a": 2, "b": 1},
			keys: []string{"a", "b"},
		},
		{
			name: "the last release takes it out",
			steps: []step{
				{op: "acquire", arg: "a", want: "a", made: true},
				{op: "acquire", arg: "a", want: "a"},
				{op: "release", arg: "a", want: ""},
				{op: "release", arg: "a", want: "last removed"},
			},
			refs: map[string]int{"a": 0},
		},
		{
			name: "hold counts like an acquire",
			steps: []step{
				{op: "acquire", arg: "a", want: "a", made: true},
				{op: "hold", arg: "a"},
				{op: "release", arg: "a", want: ""},
			},
			refs: map[string]int{"a": 1},
			keys: []string{"a"},
		},
		{
			name: "acquire after the last release makes a new value",
			steps: []step{
				{op: "acquire", arg: "a", want: "a", made: true},
				{op: "release", arg: "a", want: "last removed"},
				{op: "acquire", arg: "a", want: "a2", made: true},
			},
			refs: map[string]int{"a": 0, "a2": 1},
			keys: []string{"a2"},
		},
		{
			name: "a forgotten value stays counted",
			steps: []step{
				{op: "acquire", arg: "a", want: "a", made: true},
				{op: "acquire", arg: "a", want: "a"},
				{op: "forget", arg: "a"},
				{op: "release", arg: "a", want: ""},
				{op: "release", arg: "a", want: "last"},
			},
			refs: map[string]int{"a": 0},
		},
		{
			name: "the forgotten value's last release leaves the new one",
			steps: []step{
				{op: "acquire", arg: "a", want: "a", made: true},
				{op: "forget", arg: "a"},
				{op: "acquire", arg: "a", want: "a2", made: true},
				{op: "release", arg: "a", want: "last"},
			},
			refs: map[string]int{"a": 0, "a2": 1},
			keys: []string{"a2"},
		},
		{
			name: "forgetting a replaced or released value is a no-op",
			steps: []step{
				{op: "acquire", arg: "a", want: "a", made: true},
				{op: "forget", arg: "a"},
				{op: "acquire", arg: "a", want: "a2", made: true},
				{op: "forget", arg: "a"},
				{op: "release", arg: "a", want: "last"},
				{op: "forget", arg: "a"},
			},
			refs: map[string]int{"a": 0, "a2": 1},
			keys: []string{"a2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Map[string, *item]
			made := map[string]int{}    // values made per key
			named := map[string]*item{} // by name
			for i, s := range tt.steps {
				v := named[s.arg]
				switch s.op {
				case "acquire":
					got, created := m.Acquire(s.arg, func() *item {
						made[s.arg]++
						name := s.arg
						if made[s.arg] > 1 {
							name += string(rune('0' + made[s.arg]))
						}
						it := &item{name}
						named[name] = it
						return it
					})
					if got.name != s.want || created != s.made {
						t.Fatalf("step %d: Acquire(%q) = %s, %v; want %s, %v", i, s.arg, got.name, created, s.want, s.made)
					}
				case "hold":
					m.Hold(v)
				case "release":
					last, removed := m.Release(v)
					got := ""
					if last {
						got = "last"
					}
					if removed {
						got += " removed"
					}
					if got != s.want {
						t.Fatalf("step %d: Release(%s) = %q; want %q", i, s.arg, got, s.want)
					}
				case "forget":
					m.Forget(v)
				default:
					t.Fatalf("step %d: unknown op %q", i, s.op)
				}
			}
			for name, want := range tt.refs {
				if got := m.Refs(named[name]); got != want {
					t.Errorf("Refs(%s) = %d; want %d", name, got, want)
				}
			}
			var keys []string
			for _, v := range m.Values() {
				keys = append(keys, v.name)
				if got, ok := m.Get(v.name[:1]); !ok || got != v {
					t.Errorf("Get(%q) = %v, %v; want %s", v.name[:1], got, ok, v.name)
				}
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tt.keys) || m.Len() != len(tt.keys) {
				t.Errorf("values %v (Len %d); want %v", keys, m.Len(), tt.keys)
			}
		})
	}
}

// TestMapUnderOwnersMutex runs acquires and releases from many goroutines
// under one mutex, as the hub and the engine do: every value made is
// released last exactly once and nothing is left.
func TestMapUnderOwnersMutex(t *testing.T) {
	var (
		mu          sync.Mutex
		m           Map[int, *item]
		wg          sync.WaitGroup
		made, lasts int
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := (g + i) % 3
				mu.Lock()
				v, created := m.Acquire(k, func() *item { return &item{} })
				if created {
					made++
				}
				mu.Unlock()
				mu.Lock()
				if last, removed := m.Release(v); last {
					lasts++
					if !removed {
						t.Errorf("key %d: the last release left the value in place", k)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if made != lasts || m.Len() != 0 {
		t.Fatalf("made %d values, %d last releases, %d left; want as many made as released and none left", made, lasts, m.Len())
	}
}
