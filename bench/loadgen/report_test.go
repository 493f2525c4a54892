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
