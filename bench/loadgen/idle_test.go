package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted serves /metrics from a list of readings, one per scrape, the
// last one repeated: a server whose GC cycles and RSS the test decides.
type scripted struct {
	mu       sync.Mutex
	readings []reading
	n        int
}

type reading struct {
	gc  int // go_gc_duration_seconds_count; -1: not reported
	rss int // MiB
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	r := s.readings[min(s.n, len(s.readings)-1)]
	s.n++
	s.mu.Unlock()
	fmt.Fprintf(w, "process_resident_memory_bytes %d\n", r.rss<<20)
	if r.gc >= 0 {
		fmt.Fprintf(w, "go_gc_duration_seconds_count %d\ngo_memstats_sys_bytes 1\n", r.gc)
	}
}

// TestAwaitSteady: the steady state needs a GC cycle of every server's own
// after the connections were up, then RSS no longer falling; the wait is
// bounded and says what it was still waiting for.
func TestAwaitSteady(t *testing.T) {
	const settle = 40 * time.Millisecond // 4 polls
	for _, tc := range []struct {
		name    string
		servers [][]reading
		reached bool
		why     string
	}{
		{"a cycle, then flat", [][]reading{{{gc: 3, rss: 100}, {gc: 3, rss: 100}, {gc: 4, rss: 90}, {gc: 4, rss: 80}}}, true, ""},
		{"the scavenger returns memory first", [][]reading{{{gc: 3, rss: 100}, {gc: 4, rss: 100}, {gc: 4, rss: 90}, {gc: 4, rss: 80},
			{gc: 4, rss: 70}, {gc: 4, rss: 60}, {gc: 4, rss: 60}}}, true, ""},
		{"a server without GC figures only settles", [][]reading{{{gc: -1, rss: 50}}, {{gc: 7, rss: 10}, {gc: 8, rss: 10}}}, true, ""},
		{"no cycle", [][]reading{{{gc: 3, rss: 100}}}, false, "not every server completed a GC cycle of its own"},
		{"one server without a cycle", [][]reading{{{gc: 3, rss: 100}, {gc: 4, rss: 100}}, {{gc: 9, rss: 10}}}, false,
			"not every server completed a GC cycle of its own"},
		{"still falling", [][]reading{{{gc: 1, rss: 1000}, {gc: 2, rss: 900}, {gc: 2, rss: 800}, {gc: 2, rss: 700}, {gc: 2, rss: 600},
			{gc: 2, rss: 500}, {gc: 2, rss: 400}, {gc: 2, rss: 300}, {gc: 2, rss: 200}, {gc: 2, rss: 100}, {gc: 2, rss: 50},
			{gc: 2, rss: 25}, {gc: 2, rss: 12}, {gc: 2, rss: 6}, {gc: 2, rss: 3}, {gc: 2, rss: 1}}}, false, "RSS still falling"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var targets []Target
			for i, rs := range tc.servers {
				srv := httptest.NewServer(&scripted{readings: rs})
				t.Cleanup(srv.Close)
				targets = append(targets, Target{Name: fmt.Sprint("s", i), URL: srv.URL})
			}
			f := newFleet("idle", Options{Targets: targets})
			defer f.close()
			ctx := context.Background()
			up, upAt := f.scrape(ctx), time.Now()
			// The steady cases end by themselves (a bound far beyond their
			// few polls); the others at the bound, whatever it allows: at
			// most 15 polls, which never reach the scripts' flat end.
			limit := 150 * time.Millisecond
			if tc.reached {
				limit = time.Minute
			}
			last, st, err := f.awaitSteady(ctx, up, upAt, limit, steadyRule{poll: 10 * time.Millisecond, settle: settle, drop: 0.01})
			if err != nil {
				t.Fatal(err)
			}
			if st.Reached != tc.reached || !strings.HasPrefix(st.Why, tc.why) {
				t.Fatalf("steadiness = %+v, want reached %v, why %q", st, tc.reached, tc.why)
			}
			if len(last) != len(targets) {
				t.Errorf("last reading of %d servers, want %d", len(last), len(targets))
			}
			if tc.reached && (st.GCSeconds < 0 || st.SettledSeconds < st.GCSeconds) {
				t.Errorf("steadiness = %+v: settled before the cycle", st)
			}
		})
	}
}
