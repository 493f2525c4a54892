package loadgen

import (
	"slices"
	"testing"
)

// TestTrafficFailures: what fails a window. A cursor-update sent while a
// member was away is not replayed, so with reconnections only lost
// code-updates fail it.
func TestTrafficFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Traffic
		want []string
	}{
		{"clean", Traffic{Errors: map[string]int64{"info:STALE_ACK": 2}}, nil},
		{"lost without reconnections", Traffic{Lost: 3, LostCursors: 3}, []string{"lost deliveries: 3"}},
		{"cursors missed while away", Traffic{Reconnects: 2, Lost: 5, LostCursors: 5}, nil},
		{"code lost across reconnections", Traffic{Reconnects: 2, Lost: 7, LostCursors: 5, LostCode: 2},
			[]string{"lost code-update deliveries: 2"}},
		{"errors and pending acks", Traffic{Errors: map[string]int64{"RATE_LIMIT_EXCEEDED": 1}, PendingAcks: 4},
			[]string{"RATE_LIMIT_EXCEEDED: 1", "updates never acknowledged: 4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := trafficFailures(tc.t); !slices.Equal(got, tc.want) {
				t.Errorf("trafficFailures = %q, want %q", got, tc.want)
			}
		})
	}
}
