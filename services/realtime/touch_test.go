package realtime

import (
	"fmt"
	"testing"
	"time"
)

// TestTouchInterval: a session's touch interval lies within the last
// quarter of the configured one, and sessions' intervals spread over that
// quarter instead of sharing one value (which made sessions opened
// together touch together, an interval later and every interval after).
func TestTouchInterval(t *testing.T) {
	const sessions, bins = 4000, 8
	for _, every := range []time.Duration{time.Millisecond, 15 * time.Second, time.Minute} {
		t.Run(every.String(), func(t *testing.T) {
			var count [bins]int
			for i := range sessions {
				id := fmt.Sprintf("%016x%016x", uint64(i)*0x9e3779b97f4a7c15, uint64(i)) // session ids are random hex
				d := touchInterval(every, id)
				if d <= every-every/4 || d > every {
					t.Fatalf("interval %v of %s, want within (%v, %v]", d, id, every-every/4, every)
				}
				count[min(bins-1, int((every-d)*bins/(every/4)))]++
			}
			for b, n := range count {
				if n < sessions/bins/2 || n > 2*sessions/bins {
					t.Errorf("part %d of the quarter holds %d of %d sessions' intervals, want about %d: %v", b, n, sessions, sessions/bins, count)
				}
			}
		})
	}
}
