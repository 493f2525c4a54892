package janitor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// Report is what one sweep did, as the `sweep` and `status` endpoints answer it.
type Report struct {
	Expired    []string  `json:"expired"` // sessions this janitor expired: idle, or ended more than SESSION_RETENTION ago
	Purged     []string  `json:"purged"`  // ended sessions whose interrupted clean-up it finished
	Orphans    Orphans   `json:"orphans"`
	DurationMs int64     `json:"durationMs"`
	At         time.Time `json:"at"` // when the sweep started, by the janitor's clock
	Errors     []string  `json:"errors,omitempty"`
}

// Orphans counts what a sweep removed that belonged to no session record.
type Orphans struct {
	Documents int `json:"documents"`
	OpLogs    int `json:"opLogs"`
	Presence  int `json:"presence"`
	// Participants counts per-session registries of roles and colours.
	Participants int `json:"participants"`
}

// Total is the number of orphans removed.
func (o Orphans) Total() int { return o.Documents + o.OpLogs + o.Presence + o.Participants }

// outcome is what a sweep did with one session record.
type outcome int

const (
	kept    outcome = iota // active, connected, or another writer won the race
	expired                // this janitor's compare-and-swap ended it
	purged                 // it was already ended; this janitor finished the clean-up
)

// Sweep runs one sweep now: expire idle sessions, finish interrupted
// clean-ups, remove orphans and, now and then, KV tombstones. Sweeps of one
// janitor never overlap. The error joins every step that failed; the report
// still tells what the others did.
func (s *Service) Sweep(ctx context.Context) (Report, error) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.sweepTimeout())
	defer cancel()

	start := time.Now()
	now := s.now()
	rep := Report{Expired: []string{}, Purged: []string{}, At: now.UTC()}
	var errs []error

	entries, err := s.store.All(ctx)
	if err != nil {
		errs = append(errs, err)
	} else {
		known := make(map[string]bool, len(entries))
		for _, e := range entries {
			known[e.ID] = true
			out, err := s.settle(ctx, now, e)
			errs = append(errs, err)
			switch out {
			case expired:
				rep.Expired = append(rep.Expired, e.ID)
				if e.Ended() {
					s.log.Info("ended interview purged after its retention", "session_id", e.ID, "ended_at", e.EndedAt)
				} else {
					s.log.Info("session expired", "session_id", e.ID, "idle_for", now.Sub(e.LastActivityAt).String(),
						"empty_for", emptyFor(now, e.Record).String())
				}
			case purged:
				rep.Purged = append(rep.Purged, e.ID)
				s.log.Info("ended session purged", "session_id", e.ID, "reason", e.PurgeReason)
			}
		}
		// Orphans are judged against the records listed above, so a failed
		// listing skips them: an empty list would make every key look orphaned.
		rep.Orphans, err = s.removeOrphans(ctx, now, known)
		errs = append(errs, err)
	}
	errs = append(errs, s.purgeTombstones(ctx, now))

	err = errors.Join(errs...)
	rep.DurationMs = time.Since(start).Milliseconds()
	if err != nil {
		for _, e := range errs {
			if e != nil {
				rep.Errors = append(rep.Errors, e.Error())
			}
		}
	}
	s.record(rep, time.Since(start), err != nil)
	return rep, err
}

// settle decides one session record's fate. An expired session whose
// clean-up failed is both: expired, with the error.
func (s *Service) settle(ctx context.Context, now time.Time, e session.Entry) (outcome, error) {
	if !e.Live() {
		// Marked ended but still here: a crash or a dying DELETE interrupted
		// its clean-up. Purge is idempotent, so racing another janitor or the
		// api finishing the same clean-up is harmless.
		if err := session.Purge(ctx, s.in, e.ID); err != nil {
			return kept, fmt.Errorf("finish clean-up of %s: %w", e.ID, err)
		}
		return purged, nil
	}
	if e.Ended() {
		// An ended interview stays readable for SESSION_RETENTION and is
		// never expired as idle before; then it is removed like an idle one.
		if now.Sub(endedAt(e.Record)) < s.retention {
			return kept, nil
		}
		return s.expire(ctx, e)
	}
	if now.Sub(e.LastActivityAt) < s.idle {
		return kept, nil
	}
	n, err := presence.Count(ctx, s.in, e.ID)
	if err != nil {
		return kept, fmt.Errorf("expire %s: %w", e.ID, err)
	}
	if n > 0 {
		// A session with users connected never expires, and being connected
		// is activity: the timeout must run from when the last user left, not
		// from their last edit, or a quiet user's brief reconnect could lose
		// the session. So the clock restarts from the last sweep that saw someone.
		if err := s.store.Touch(ctx, e.ID, now); err != nil && !lostRace(err) {
			return kept, fmt.Errorf("touch connected %s: %w", e.ID, err)
		}
		return kept, nil
	}
	// Nobody is connected, but that may be news: presence also empties by
	// TTL while users are still connected to a realtime instance that lost
	// NATS or stalled, and quiet users never move lastActivityAt. So the
	// idle clock starts when a sweep first sees the session empty: recorded
	// in the record (emptySince, a compare-and-swap at the listed revision,
	// so activity meanwhile wins), and the session expires only once it has
	// stayed empty for a whole SESSION_IDLE_TIMEOUT after that. Activity or
	// a sweep that sees someone clears it (Touch), and the next empty sweep
	// starts over.
	if e.EmptySince == nil || e.EmptySince.Before(e.LastActivityAt) {
		if err := s.store.MarkEmpty(ctx, e.Record, e.Revision, now); err != nil && !lostRace(err) {
			return kept, fmt.Errorf("mark %s empty: %w", e.ID, err)
		}
		return kept, nil
	}
	if now.Sub(*e.EmptySince) < s.idle {
		return kept, nil
	}
	return s.expire(ctx, e)
}

// emptyFor is how long the janitor has seen the session empty.
func emptyFor(now time.Time, r session.Record) time.Duration {
	if r.EmptySince == nil {
		return 0
	}
	return now.Sub(*r.EmptySince)
}

// endedAt is when an ended interview ended; its last activity for a record
// that lacks the time.
func endedAt(r session.Record) time.Time {
	if r.EndedAt != nil {
		return *r.EndedAt
	}
	return r.LastActivityAt
}

// expire removes a session the janitor decided to end, at the revision it
// listed.
func (s *Service) expire(ctx context.Context, e session.Entry) (outcome, error) {
	// The decision point. The mark is a compare-and-swap at the revision
	// listed above, so:
	//   - activity since then (realtime Touches on every handshake and on
	//     events, api Touches on join) moved the revision and wins: the CAS
	//     fails and the session stays;
	//   - of two or more janitors racing, exactly one CAS lands; the others
	//     see a conflict (broker.Conflict; or the key already purged) and do nothing;
	//   - a connection arriving after the mark finds the session ended (its
	//     Touch fails) and realtime answers it with session-ended.
	// The clean-up after the mark is idempotent, so a janitor finishing
	// another's interrupted purge (the branch above) cannot hurt either.
	// This is session.End in its two steps, so the count follows the
	// decision even when the clean-up fails and is finished by a later sweep.
	if err := s.store.MarkPurging(ctx, e.Record, e.Revision, protocol.EndedExpired); err != nil {
		if lostRace(err) {
			return kept, nil
		}
		return kept, fmt.Errorf("expire %s: %w", e.ID, err)
	}
	if err := session.Purge(ctx, s.in, e.ID); err != nil {
		// Ended but not cleaned: expired all the same; the next sweep purges it.
		return expired, fmt.Errorf("clean up expired %s: %w", e.ID, err)
	}
	return expired, nil
}

// lostRace reports whether a compare-and-swap failed because someone else
// changed or removed the record first: not an error, just not ours to end.
func lostRace(err error) bool {
	return broker.Conflict(err) ||
		errors.Is(err, jetstream.ErrKeyNotFound) ||
		errors.Is(err, jetstream.ErrKeyDeleted) ||
		errors.Is(err, session.ErrNotFound)
}

// record publishes a finished sweep to the metrics, totals and status.
func (s *Service) record(rep Report, took time.Duration, failed bool) {
	m := s.metrics
	m.duration.Observe(took.Seconds())
	m.lastSweep.Set(float64(rep.At.UnixNano()) / 1e9)
	m.expired.Add(float64(len(rep.Expired)))
	m.purged.Add(float64(len(rep.Purged)))
	m.orphans.WithLabelValues(kindDocument).Add(float64(rep.Orphans.Documents))
	m.orphans.WithLabelValues(kindOpLog).Add(float64(rep.Orphans.OpLogs))
	m.orphans.WithLabelValues(kindPresence).Add(float64(rep.Orphans.Presence))
	m.orphans.WithLabelValues(kindParticipants).Add(float64(rep.Orphans.Participants))
	if failed {
		m.errors.Inc()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = &rep
	s.totals.Sweeps++
	s.totals.Expired += int64(len(rep.Expired))
	s.totals.Purged += int64(len(rep.Purged))
	s.totals.OrphansRemoved += int64(rep.Orphans.Total())
	if failed {
		s.totals.SweepErrors++
	}
}

// Last returns the report of the latest finished sweep, false before the first.
func (s *Service) Last() (Report, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return Report{}, false
	}
	return *s.last, true
}
