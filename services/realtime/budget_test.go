package realtime

import (
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestConnBudget: the per-connection budget on a simulated clock. Within
// WS_EVENTS_PER_SECOND nothing is refused; up to twice that, frames are
// refused but the connection is never cut off; at ten times that it is cut
// off within a few seconds; 0 disables it.
func TestConnBudget(t *testing.T) {
	tests := []struct {
		name      string
		perSecond int // the budget
		rate      int // frames the client sends per second
		cutBefore time.Duration
		refused   bool // some frames are refused
	}{
		{"within", 100, 100, 0, false},
		{"twice", 100, 200, 0, true},
		{"ten times", 100, 1000, 4 * time.Second, true},
		{"a thousand times", 100, 100000, time.Second, true},
		{"disabled", 0, 100000, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1700000000, 0)
			b := newConnBudget(tc.perSecond, now)
			step := time.Second / time.Duration(tc.rate)
			refused := 0
			// A minute, or 200000 frames: enough to tell a cut-off from none.
			for i := 0; i < 60*tc.rate && i < 200000; i++ {
				el := time.Duration(i) * step
				over, flooding := b.spend(now.Add(el))
				if over != nil {
					refused++
					if over.Code != protocol.CodeRateLimited || over.Details["retryAfterMs"].(int64) <= 0 {
						t.Fatalf("refusal %+v", over)
					}
				}
				if flooding {
					if tc.cutBefore == 0 || el > tc.cutBefore {
						t.Fatalf("cut off after %v at %d frames/s", el, tc.rate)
					}
					t.Logf("cut off after %v, %d refused", el, refused)
					return
				}
			}
			if tc.cutBefore != 0 {
				t.Fatalf("never cut off at %d frames/s", tc.rate)
			}
			if (refused > 0) != tc.refused {
				t.Fatalf("%d refused at %d frames/s with a budget of %d", refused, tc.rate, tc.perSecond)
			}
		})
	}
}

// TestUserLimits: a user's buckets, kept in a slice by key, are each their
// own: spending one type never spends another, and a spent bucket refills
// at its rate.
func TestUserLimits(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name  string
		typ   string
		at    time.Duration // after now
		allow bool
	}{
		{"first language change", protocol.TypeLanguageChanged, 0, true},
		{"second language change within 5s", protocol.TypeLanguageChanged, time.Second, false},
		{"a run output is its own bucket", protocol.TypeRunOutput, time.Second, true},
		{"second run output within 2s", protocol.TypeRunOutput, 2 * time.Second, false},
		{"a cursor update is its own bucket", protocol.TypeCursorUpdate, 2 * time.Second, true},
		{"a language change 5s after the first", protocol.TypeLanguageChanged, 5 * time.Second, true},
		{"a run output 2s after the first", protocol.TypeRunOutput, 3 * time.Second, true},
		{"an unlimited type", protocol.TypeSync, 3 * time.Second, true},
	}
	u := newUserLimits()
	for _, tc := range tests {
		err := u.allow(tc.typ, now.Add(tc.at))
		if (err == nil) != tc.allow {
			t.Fatalf("%s: allow = %v, want %v (%v)", tc.name, err == nil, tc.allow, err)
		}
	}
	if len(u.buckets) != 3 {
		t.Fatalf("%d buckets, want one per limited type spent (3)", len(u.buckets))
	}
}
