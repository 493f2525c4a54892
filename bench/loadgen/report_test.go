package loadgen

import (
	"strings"
	"testing"
	"time"
)

// TestWriteParams: every scenario's section says what load it applied.
func TestWriteParams(t *testing.T) {
	for _, tc := range []struct {
		params any
		want   string
	}{
		{InterviewParams{Sessions: 1000, Users: 3, Typists: 1, Rates: Rates{Code: 2, Cursor: 2}, Duration: Duration(time.Minute), Warmup: Duration(5 * time.Second)},
			"- load: 1000 sessions × 3 users, 1 typist(s) per session at 2 code-updates/s, the others moving their cursors at 2/s; a 1m0s window after 5s of warmup\n"},
		{InterviewParams{Sessions: 1, Users: 300, Rates: Rates{Code: 2, Cursor: 2}, Duration: Duration(10 * time.Second), Warmup: Duration(3 * time.Second)},
			"- load: 1 sessions × 300 users, every user 2 code-updates/s and 2 cursor moves/s; a 10s window after 3s of warmup\n"},
		{IdleParams{Conns: 10000, UsersPerSession: 2, Hold: Duration(20 * time.Second), SteadyWait: Duration(3 * time.Minute)},
			"- load: 10000 idle connections in sessions of 2, held 20s, then up to 3m0s more for the steady state\n"},
		{IdleParams{Conns: 200, UsersPerSession: 2, Hold: Duration(3 * time.Second)}, "- load: 200 idle connections in sessions of 2, held 3s\n"},
		{RESTParams{Sessions: 2000, Concurrency: 32}, "- load: 2000 create + join pairs, 32 in flight\n"},
		{map[string]any{"sessions": 1}, ""}, // read back from JSON: the notes say it
	} {
		var b strings.Builder
		writeParams(&b, tc.params)
		if b.String() != tc.want {
			t.Errorf("writeParams(%+v) = %q, want %q", tc.params, b.String(), tc.want)
		}
	}
}

// TestWriteServers: each server's line, with its heap when it reports one
// and its share of the fan-out when it received any.
func TestWriteServers(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    ProcessStats
		want string
	}{
		{"read from /proc", ProcessStats{Name: "nats", CPUPercent: 14, RSSBefore: 2 << 20, RSSAfter: 3 << 20},
			"- server nats: 14% CPU, RSS 2.0 MiB → 3.0 MiB (from /proc: no heap figures)\n"},
		{"a realtime instance", ProcessStats{Name: "realtime-1", CPUPercent: 15, RSSBefore: 2 << 20, RSSAfter: 3 << 20, HeapBefore: 1 << 20, HeapAfter: 1 << 20,
			Fanout: &BucketQuantiles{Count: 30000, P50Ms: 2.5, P99Ms: 250, Beyond: true}},
			"- server realtime-1: 15% CPU, RSS 2.0 MiB → 3.0 MiB, heap in use 1.0 MiB → 1.0 MiB\n" +
				"  - events from other instances, published there to queued here (NATS and dispatch): 30000, p50 ≤ 2.5 ms, p99 > 250 ms (histogram buckets)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeServers(&b, []ProcessStats{tc.s})
			if b.String() != tc.want {
				t.Errorf("writeServers = %q, want %q", b.String(), tc.want)
			}
		})
	}
}
