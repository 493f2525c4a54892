package loadgen

import (
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
	// h is a min-heap of the schedules by when they are next due, kept
	// by value (the due time beside the pointer) so that ordering them
	// reads no schedule.
	h []slot
}

// slot is one schedule in the heap.
type slot struct {
	due time.Time
	e   *paced
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
	p.h = append(p.h, slot{e.due(), e})
	p.up(len(p.h) - 1)
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
		top := p.h[0]
		now := clock()
		if top.due.After(now) {
			return top.due, true
		}
		e := top.e
		select {
		case <-e.ended:
			p.pop()
			continue
		default:
		}
		e.late(now.Sub(top.due))
		for k, every := range e.every {
			if !now.Before(e.next[k]) {
				e.act(k)
				e.next[k] = later(e.next[k].Add(every), now) // a late tick is skipped, not replayed
			}
		}
		p.h[0].due = e.due()
		p.down(0)
	}
	return time.Time{}, false
}

// up moves slot i towards the root while it is due before its parent.
func (p *pacer) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !p.h[i].due.Before(p.h[parent].due) {
			return
		}
		p.h[i], p.h[parent] = p.h[parent], p.h[i]
		i = parent
	}
}

// down moves slot i towards the leaves while a child is due before it.
func (p *pacer) down(i int) {
	n := len(p.h)
	for {
		first := i
		if l := 2*i + 1; l < n && p.h[l].due.Before(p.h[first].due) {
			first = l
		}
		if r := 2*i + 2; r < n && p.h[r].due.Before(p.h[first].due) {
			first = r
		}
		if first == i {
			return
		}
		p.h[i], p.h[first] = p.h[first], p.h[i]
		i = first
	}
}

// pop removes the root.
func (p *pacer) pop() {
	last := len(p.h) - 1
	p.h[0] = p.h[last]
	p.h[last] = slot{}
	p.h = p.h[:last]
	p.down(0)
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

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
