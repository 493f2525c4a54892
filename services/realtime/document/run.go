package document

import (
	"context"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
)

// Timing of the replica goroutine and the engine's sweep.
const (
	checkEvery   = time.Second      // the sweep: reconnects, dropped messages, quiet windows
	retryAfter   = time.Second      // retry a failed catch-up or snapshot
	ioTimeout    = 5 * time.Second  // one catch-up read or snapshot write
	flushTimeout = 10 * time.Second // the final snapshot when the session stops
)

// The replica goroutine's states (replica.state). A session has at most
// one goroutine, and only while it has work: poke starts one when the
// session is idle, and the goroutine ends once nothing is queued, no
// snapshot is due and none is being written. The engine's sweep does the
// once-a-second checks for every loaded session and pokes those that need
// their goroutine.
const (
	runIdle    int32 = iota // no goroutine: the next poke starts one
	runRunning              // a goroutine runs or is starting
	runPoked                // running, and poked since it last looked for work
	runDone                 // the session stopped: nothing starts again
)

// poke makes the replica goroutine look for work: it starts one when the
// session has none, else wakes it.
func (s *replica) poke() {
	for {
		switch s.state.Load() {
		case runIdle:
			if s.state.CompareAndSwap(runIdle, runRunning) {
				go s.run()
				return
			}
		case runRunning:
			if s.state.CompareAndSwap(runRunning, runPoked) {
				select {
				case s.wake <- struct{}{}:
				default:
				}
				return
			}
		default: // poked already (its poker sends the wake), or done
			return
		}
	}
}

// run is the replica goroutine: it folds what the applied subscription
// brought (reading gaps back from the stream), hands updates to the
// listeners in version order and writes debounced snapshots. It returns
// when the session is idle (poke starts it again) and, for good, after the
// final snapshot once the session stops.
func (s *replica) run() {
	ctx := s.life() // cancelled with stop
	// The snapshot timer is made by the first edit: most sessions held
	// open are idle, and each would keep one.
	var snapTimer *time.Timer
	var snapDue <-chan time.Time // snapTimer's channel, nil until then
	defer func() {
		if snapTimer != nil {
			snapTimer.Stop()
		}
	}()
	// Snapshots are written on their own goroutine, one at a time, so a
	// slow or absent NATS never holds up deliveries; the replica goroutine
	// waits for it before it ends.
	var saved chan error // made with the first snapshot
	saving := false
	var snapFailed time.Time

	for {
		// Pokes from here on make the idle check below fail: what they
		// queued before it is handled by this pass.
		s.state.Store(runRunning)
		s.deliver()
		s.fold(ctx)
		s.deliver()
		s.e.trim()
		due, dirty := s.watchSnapshot(snapFailed, saving)
		if dirty && !saving {
			if d := max(time.Until(due), 0); snapTimer == nil {
				snapTimer = time.NewTimer(d)
				snapDue = snapTimer.C
			} else {
				snapTimer.Reset(d)
			}
		}
		if !dirty && !saving && !s.stopped() && s.idle() && s.state.CompareAndSwap(runRunning, runIdle) {
			// Nothing after this touches the replica: a poke may already
			// have started the next goroutine.
			return
		}
		select {
		case <-s.stop:
			if saving {
				<-saved // cancelled with ctx
			}
			s.state.Store(runDone)
			s.flush()
			s.finish()
			return
		case <-s.wake:
		case <-snapDue:
			if due, ok := s.snapshotDue(snapFailed); ok && time.Until(due) > 0 {
				// Armed for an earlier edit's due; edits since moved it
				// (submits do not wake us for each): set again below.
				break
			}
			if !saving {
				saving = true
				if saved == nil {
					saved = make(chan error, 1)
				}
				ch := saved
				go func() { ch <- s.saveSnapshot(ctx) }()
			}
		case err := <-saved:
			saving = false
			if err != nil {
				switch {
				case ctx.Err() != nil:
				case broker.Unavailable(err):
					// Retried every second while NATS is away: one line per
					// session per second would drown the log of an outage.
					s.e.log.Debug("snapshot postponed: nats is unavailable", "session_id", s.id, "err", err)
				default:
					s.e.log.Warn("snapshot failed", "session_id", s.id, "err", err)
				}
				snapFailed = time.Now()
			}
		}
	}
}

// idle reports whether the subscription's entries and the updates for the
// listeners are all handled. A session behind the stream is idle too: the
// sweep pokes it again while NATS is up.
func (s *replica) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inbox) == 0 && len(s.pending) == 0
}

func (s *replica) markBehind() {
	s.mu.Lock()
	s.markBehindLocked()
	s.mu.Unlock()
}

// fold integrates the subscription's entries; a gap, a dropped message or
// a reconnect makes it read the stream from the newest entry we hold.
func (s *replica) fold(ctx context.Context) {
	s.mu.Lock()
	s.foldInboxLocked()
	behind := s.behind
	s.behind = false
	s.mu.Unlock()
	if !behind {
		return
	}
	if !s.e.in.NC.IsConnected() {
		s.markBehind() // the sweep pokes it once NATS is back
		return
	}
	if err := s.catchUp(ctx); err != nil {
		if ctx.Err() == nil {
			s.e.log.Warn("catching up with the op log failed", "session_id", s.id, "err", err)
		}
		s.markBehind() // the sweep pokes it again
	}
}

// foldInboxLocked integrates what the applied subscription queued; a gap
// marks the replica behind and leaves the rest to its catch-up. Call with
// s.mu held.
func (s *replica) foldInboxLocked() {
	inbox := s.inbox
	s.inbox = nil
	for _, e := range inbox {
		if err := s.integrate(e, nil); err != nil {
			s.markBehindLocked()
			break
		}
	}
}

// deliver hands the pending updates to every listener, in version order,
// without holding the replica lock (listeners only queue). The replica
// goroutine and submitters call it, one at a time (deliverMu).
func (s *replica) deliver() {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	if len(batch) == 0 {
		s.mu.Unlock()
		return
	}
	docs := make([]*Doc, 0, len(s.docs))
	for d := range s.docs {
		docs = append(docs, d)
	}
	s.mu.Unlock()
	for _, d := range docs {
		for _, a := range batch {
			if d.closed.Load() {
				break
			}
			if a.Version > d.delivered.Load() {
				d.l.Applied(a)
				d.delivered.Store(a.Version)
			}
		}
	}
	s.mu.Lock()
	if s.deliveredCh != nil {
		close(s.deliveredCh)
		s.deliveredCh = nil
	}
	s.mu.Unlock()
}

// snapshotDue says when the next snapshot is due: SnapshotDebounce after
// the last edit, at most SnapshotMaxDelay (less a random part, see
// Engine.snapshotCap) after the first unsaved one, and not before
// retryAfter past a failure.
func (s *replica) snapshotDue(failed time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotDueLocked(failed)
}

func (s *replica) snapshotDueLocked(failed time.Time) (time.Time, bool) {
	if !s.dirty {
		return time.Time{}, false
	}
	due := s.lastEdit.Add(s.e.o.SnapshotDebounce)
	if s.dueBy.Before(due) {
		due = s.dueBy
	}
	if s.logFilling() {
		// A quarter of the log's room used since the last snapshot: do not
		// wait for the debounce (submit snapshots itself at half, see logRoom).
		due = time.Now()
	}
	if r := failed.Add(retryAfter); r.After(due) {
		due = r
	}
	return due, true
}

// watchSnapshot is snapshotDue for the replica goroutine, which arms its
// timer for that due unless a save is in flight: under the same lock it
// notes that it watches the snapshot (snapWatched), so a submit after it
// need not wake it.
func (s *replica) watchSnapshot(failed time.Time, saving bool) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	due, ok := s.snapshotDueLocked(failed)
	s.snapWatched = saving || ok
	return due, ok
}

// saveSnapshot writes the current state if it changed since the last one.
func (s *replica) saveSnapshot(ctx context.Context) error {
	if err := s.e.connected(); err != nil {
		return err
	}
	s.mu.Lock()
	if !s.dirty || s.dropped {
		s.mu.Unlock()
		return nil
	}
	snap := s.snapshotLocked()
	rev := s.snapRev
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	rev, err := s.e.writeSnapshot(cctx, s.id, snap, rev)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if rev != 0 {
		s.snapRev = rev
	}
	if s.version == snap.Version {
		s.dirty = false
	} else {
		s.dueBy = time.Now().Add(s.e.snapshotCap())
	}
	if snap.Version > s.savedVersion {
		s.savedVersion, s.savedSeq, s.savedEnd = snap.Version, snap.Seq, snap.End
	}
	s.mu.Unlock()
	return nil
}

// flush writes the final snapshot of a session that stops (not of one
// that was dropped: it ended, and its document was purged).
func (s *replica) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	s.fold(ctx)
	if err := s.saveSnapshot(ctx); err != nil {
		s.e.log.Warn("final snapshot failed", "session_id", s.id, "err", err)
	}
}
