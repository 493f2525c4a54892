package document

import (
	"time"
)

// sweep is the engine's goroutine for the checks a loaded session needs
// once a second, so that an idle session holds no goroutine or timer of
// its own: after a NATS reconnect every session reads what the stream
// stored meanwhile; a session whose subscription dropped messages (a full
// dispatcher queue), or which is behind the stream (a failed catch-up),
// reads it while NATS is up; and a session without edits for UnloadAfter
// drops its window. It pokes the replica goroutine of a session that has
// work and leaves the others alone. It runs from the first Open until
// Close.
//
// A tick visits only the sessions on the watch list (replica.watched):
// those with a window or behind the stream, which are put on it when that
// happens (an edit folded, markBehindLocked) and leave it at the tick that
// finds neither. Every session is visited only after a reconnect or when
// the dispatcher's queues were full (Dispatcher.Fills), which is when a
// subscription may have dropped messages: most sessions held open are
// untouched, and a tick over all of them cost an instance with 16,700
// documents 3.8 % of its CPU.
func (e *Engine) sweep() {
	defer close(e.sweepDone)
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	sw := sweeper{reconnects: e.in.NC.Stats().Reconnects, fills: e.subs.Fills()}
	for {
		select {
		case <-e.sweepStop:
			return
		case <-tick.C:
		}
		e.sweepOnce(&sw, time.Now())
	}
}

// sweeper is what the sweep keeps from one tick to the next: what it last
// saw of the connection and the dispatcher, and the slices it reuses.
type sweeper struct {
	reconnects uint64
	fills      uint64
	list, all  []*replica
}

// sweepOnce is one tick of the sweep.
func (e *Engine) sweepOnce(sw *sweeper, now time.Time) {
	r := e.in.NC.Stats().Reconnects
	reconnected := r != sw.reconnects
	sw.reconnects = r
	f := e.subs.Fills()
	filled := f != sw.fills
	sw.fills = f
	up := e.in.NC.IsConnected()
	e.watchMu.Lock()
	sw.list, e.watch = e.watch, sw.list[:0]
	e.watchMu.Unlock()
	for _, s := range sw.list {
		s.check(reconnected, filled, up, now, true)
	}
	clear(sw.list) // hold no replica until the next tick
	if reconnected || filled {
		// After the listed ones, so that their watched flags say again
		// whether they are on e.watch.
		e.mu.Lock()
		sw.all = e.sessions.AppendValues(sw.all[:0])
		e.mu.Unlock()
		for _, s := range sw.all {
			s.check(reconnected, filled, up, now, false)
		}
		clear(sw.all)
	}
}

// check is the sweep's look at one session (see sweep); listed says it
// was taken from the watch list. A session still loading is left to its
// loader, which reads the whole stream anyway, and looked at again next
// tick.
func (s *replica) check(reconnected, filled, up bool, now time.Time, listed bool) {
	loaded := false
	select {
	case <-s.ready:
		loaded = s.loadErr == nil
	default:
		s.mu.Lock()
		if listed {
			s.watched = false
		}
		s.watchLocked()
		s.mu.Unlock()
		return
	}
	dropped := false
	if loaded && filled {
		if n, err := s.sub.Dropped(); err == nil && n != s.droppedSeen {
			s.droppedSeen, dropped = n, true
		}
	}
	s.mu.Lock()
	if listed {
		s.watched = false // it left e.watch when the sweep took the list
	}
	if !loaded || s.state.Load() == runDone {
		s.mu.Unlock()
		return
	}
	if reconnected || dropped {
		s.behind = true
	}
	work := s.behind && up
	if len(s.hist.entries) > 0 && now.Sub(s.lastEdit) >= s.e.o.UnloadAfter {
		// Its clients are at the current version, which needs no window,
		// and one that is not is served from the op log or a sync.
		s.hist.clear(s.text, s.version)
	}
	if s.behind || len(s.hist.entries) > 0 {
		s.watchLocked()
	}
	s.mu.Unlock()
	if work {
		s.poke()
	}
}

// watchLocked puts the session on the sweep's watch list, unless it is on
// it. Call with s.mu held.
func (s *replica) watchLocked() {
	if s.watched {
		return
	}
	s.watched = true
	s.e.watchMu.Lock()
	s.e.watch = append(s.e.watch, s)
	s.e.watchMu.Unlock()
}

// markBehindLocked says the stream may hold entries the session has not
// seen, and has the sweep watch it until it has read them. Call with s.mu
// held.
func (s *replica) markBehindLocked() {
	s.behind = true
	s.watchLocked()
}
