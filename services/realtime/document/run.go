package document

import (
	"context"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
)

// Timing of the replica goroutine.
const (
	checkEvery   = time.Second      // look for reconnects and dropped messages
	retryAfter   = time.Second      // retry a failed catch-up or snapshot
	ioTimeout    = 5 * time.Second  // one catch-up read or snapshot write
	flushTimeout = 10 * time.Second // the final snapshot when the session stops
)

// run is the replica goroutine: it folds what the applied subscription
// brought (reading gaps back from the stream), hands updates to the
// listeners in version order and writes debounced snapshots.
func (s *replica) run() {
	defer s.finish()
	ctx := s.stopCtx // cancelled with stop
	defer s.stopCancel()

	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
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
	// slow or absent NATS never holds up deliveries.
	var saved chan error // made with the first snapshot
	saving := false
	var snapFailed time.Time
	reconnects, dropped := s.e.in.NC.Stats().Reconnects, 0

	for {
		select {
		case <-s.stop:
			if saving {
				<-saved // cancelled with ctx
			}
			s.flush()
			return
		case <-s.wake:
		case <-tick.C:
			if r := s.e.in.NC.Stats().Reconnects; r != reconnects {
				reconnects = r
				s.markBehind()
			}
			if n, err := s.sub.Dropped(); err == nil && n != dropped {
				dropped = n
				s.markBehind()
			}
			s.dropQuietWindow()
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
		s.deliver()
		s.fold(ctx)
		s.deliver()
		s.e.trim()
		if due, ok := s.watchSnapshot(snapFailed, saving); ok && !saving {
			if d := max(time.Until(due), 0); snapTimer == nil {
				snapTimer = time.NewTimer(d)
				snapDue = snapTimer.C
			} else {
				snapTimer.Reset(d)
			}
		}
	}
}

// dropQuietWindow empties the window of a session that had no edit for
// UnloadAfter: its clients are at the current version, which needs no
// window, and one that is not is served from the op log or a sync.
func (s *replica) dropQuietWindow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hist.entries) > 0 && time.Since(s.lastEdit) >= s.e.o.UnloadAfter {
		s.hist.clear(s.text, s.version)
	}
}

func (s *replica) markBehind() {
	s.mu.Lock()
	s.behind = true
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
		s.markBehind() // the ticker retries once NATS is back
		return
	}
	if err := s.catchUp(ctx); err != nil {
		if ctx.Err() == nil {
			s.e.log.Warn("catching up with the op log failed", "session_id", s.id, "err", err)
		}
		s.markBehind() // the ticker retries
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
			s.behind = true
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
	close(s.deliveredCh)
	s.deliveredCh = make(chan struct{})
	s.mu.Unlock()
}

// snapshotDue says when the next snapshot is due: SnapshotDebounce after
// the last edit, at most SnapshotMaxDelay after the first unsaved one, and
// not before retryAfter past a failure.
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
	if cap := s.firstDirty.Add(s.e.o.SnapshotMaxDelay); cap.Before(due) {
		due = cap
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
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	if err := s.e.writeSnapshot(cctx, s.id, snap); err != nil {
		return err
	}
	s.mu.Lock()
	if s.version == snap.Version {
		s.dirty = false
	} else {
		s.firstDirty = time.Now()
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
