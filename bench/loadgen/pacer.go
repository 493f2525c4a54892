package loadgen

import (
	"container/heap"
	"context"
	"time"
)

// pacer fires the sends of many users, each kind (code, cursor) at its own
// period from its own random phase, from one goroutine and one timer
// instead of one of each per user: the generator's own cost then grows
// with the events sent, not with the connections held. A send that comes
// late (the goroutine was not scheduled in time) goes out as soon as it
// can and its lateness is recorded; the ticks it missed are not replayed:
// the next is moved to the late send's time, so one more follows at once,
// then the period resumes (as with the per-user timers this replaced).
type pacer struct {
	h pacedHeap
}

// paced is one user's schedule.
type paced struct {
	every [2]time.Duration // per kind (kindCode, kindCursor); 0: never
	next  [2]time.Time
	// act sends one event of the kind.
	act func(kind int)
	// late records how late a firing was (the generator's timer lag).
	late func(time.Duration)
	// ended, when closed, drops the user from the schedule: its
	// connection ended and it does not reconnect.
	ended <-chan struct{}
}

// neverDue is how far off a kind that is switched off is scheduled.
const neverDue = 365 * 24 * time.Hour

// add schedules e from now: each kind first fires at a random offset
// within its period (phase(n) is uniform in [0, n)), so sends spread
// evenly over the period.
func (p *pacer) add(e *paced, now time.Time, phase func(n int64) int64) {
	for k, every := range e.every {
		e.next[k] = now.Add(neverDue)
		if every > 0 {
			e.next[k] = now.Add(time.Duration(phase(int64(every))))
		}
	}
	heap.Push(&p.h, e)
}

// due is when e next fires.
func (e *paced) due() time.Time {
	if e.next[kindCode].Before(e.next[kindCursor]) {
		return e.next[kindCode]
	}
	return e.next[kindCursor]
}

// fire runs every firing due by clock(), reading the clock again after
// each (a slow send makes the next ones' lateness show), and returns when
// the next firing is due; ok is false when nothing is scheduled.
func (p *pacer) fire(clock func() time.Time) (next time.Time, ok bool) {
	for len(p.h) > 0 {
		e := p.h[0]
		now := clock()
		if e.due().After(now) {
			return e.due(), true
		}
		select {
		case <-e.ended:
			heap.Pop(&p.h)
			continue
		default:
		}
		e.late(now.Sub(e.due()))
		for k, every := range e.every {
			if !now.Before(e.next[k]) {
				e.act(k)
				e.next[k] = later(e.next[k].Add(every), now) // a late tick is skipped, not replayed
			}
		}
		heap.Fix(&p.h, 0)
	}
	return time.Time{}, false
}

// run fires the schedule on time until ctx ends or nothing is left.
func (p *pacer) run(ctx context.Context) {
	next, ok := p.fire(time.Now)
	if !ok {
		return
	}
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if next, ok = p.fire(time.Now); !ok {
			return
		}
		timer.Reset(time.Until(next))
	}
}

// pacedHeap orders schedules by when they are next due.
type pacedHeap []*paced

func (h pacedHeap) Len() int           { return len(h) }
func (h pacedHeap) Less(i, j int) bool { return h[i].due().Before(h[j].due()) }
func (h pacedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pacedHeap) Push(x any)        { *h = append(*h, x.(*paced)) }
func (h *pacedHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
