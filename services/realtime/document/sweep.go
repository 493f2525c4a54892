package document

import (
	"time"
)

// sweep is the engine's goroutine for the checks every loaded session
// needs once a second, so that an idle session holds no goroutine or
// timer of its own: after a NATS reconnect every session reads what the
// stream stored meanwhile; a session whose subscription dropped messages
// (a full dispatcher queue), or which is behind the stream (a failed
// catch-up), reads it while NATS is up; and a session without edits for
// UnloadAfter drops its window. It pokes the replica goroutine of a
// session that has work and leaves the others alone. One ticker, and the
// slice of sessions it visits is reused from tick to tick. It runs from
// the first Open until Close.
func (e *Engine) sweep() {
	defer close(e.sweepDone)
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	reconnects := e.in.NC.Stats().Reconnects
	var held []*replica
	for {
		select {
		case <-e.sweepStop:
			return
		case <-tick.C:
		}
		r := e.in.NC.Stats().Reconnects
		reconnected := r != reconnects
		reconnects = r
		up := e.in.NC.IsConnected()
		now := time.Now()
		e.mu.Lock()
		held = e.sessions.AppendValues(held[:0])
		e.mu.Unlock()
		for _, s := range held {
			s.check(reconnected, up, now)
		}
		clear(held) // hold no replica until the next tick
	}
}

// check is the sweep's look at one session (see sweep). A session still
// loading is left to its loader, which reads the whole stream anyway.
func (s *replica) check(reconnected, up bool, now time.Time) {
	select {
	case <-s.ready:
	default:
		return
	}
	if s.loadErr != nil {
		return
	}
	dropped := false
	if n, err := s.sub.Dropped(); err == nil && n != s.droppedSeen {
		s.droppedSeen, dropped = n, true
	}
	s.mu.Lock()
	if reconnected || dropped {
		s.behind = true
	}
	work := s.behind && up
	if len(s.hist.entries) > 0 && now.Sub(s.lastEdit) >= s.e.o.UnloadAfter {
		// Its clients are at the current version, which needs no window,
		// and one that is not is served from the op log or a sync.
		s.hist.clear(s.text, s.version)
	}
	s.mu.Unlock()
	if work {
		s.poke()
	}
}
