package loadgen

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// SlowLog is the time structure of a latency tail: every received
// code-update whose latency exceeds Over, with its send time on the wall
// clock, and every 100 ms of send time's count and slow count, so slow
// events can be told apart as spread evenly (a cost per event) or clustered
// in time (a burst: a GC cycle, periodic work) and set beside a server's own
// timestamps (GODEBUG=gctrace=1). Measured windows only. Safe for
// concurrent use; a nil *SlowLog records nothing.
type SlowLog struct {
	Over time.Duration

	mu      sync.Mutex
	base    time.Time // the fleet's Clock: send times are nanoseconds after it
	slow    []slowEvent
	buckets map[int64]*[2]int64 // by send time / 100 ms: received, slow
}

type slowEvent struct{ sent, latency int64 }

const slowBucket = int64(100 * time.Millisecond)

// start sets the clock the send times count from (the fleet's).
func (l *SlowLog) start(c Clock) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.base = c.base
	l.mu.Unlock()
}

// add records one received code-update sent at sent (Clock nanoseconds).
func (l *SlowLog) add(sent int64, latency time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[int64]*[2]int64{}
	}
	b := l.buckets[sent/slowBucket]
	if b == nil {
		b = new([2]int64)
		l.buckets[sent/slowBucket] = b
	}
	b[0]++
	if latency > l.Over {
		b[1]++
		l.slow = append(l.slow, slowEvent{sent, int64(latency)})
	}
}

// Write writes the log as text: one line per 100 ms bucket
// ("bucket <start, unix ms> <received> <slow>") in time order, then one per
// slow event ("slow <sent, unix µs> <latency µs>") in send order.
func (l *SlowLog) Write(w io.Writer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	bw := bufio.NewWriter(w)
	base := l.base.UnixMicro()
	keys := make([]int64, 0, len(l.buckets))
	for k := range l.buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintf(bw, "# over %s; bucket <unix ms> <received> <slow>; slow <sent unix us> <latency us>\n", l.Over)
	for _, k := range keys {
		b := l.buckets[k]
		fmt.Fprintf(bw, "bucket %d %d %d\n", (base+k*slowBucket/1e3)/1e3, b[0], b[1])
	}
	slices.SortFunc(l.slow, func(a, b slowEvent) int { return cmp.Compare(a.sent, b.sent) })
	for _, e := range l.slow {
		fmt.Fprintf(bw, "slow %d %d\n", base+e.sent/1e3, e.latency/1e3)
	}
	return bw.Flush()
}
