package janitor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/session"
)

// Orphan kinds, the values of the orphans_removed_total metric's label.
const (
	kindDocument = "document"
	kindOpLog    = "op_log"
	kindPresence = "presence"
	// kindParticipants is a session's participants registry.
	kindParticipants = "participants"
)

// orphan is something a session held, found with no record of that session.
type orphan struct {
	kind      string
	key       string // KV key or stream subject
	sessionID string
}

// id identifies an orphan across sweeps.
func (o orphan) id() string { return o.kind + " " + o.key }

// removeOrphans removes documents, op logs and presence keys whose session has
// no record: left when a process crashed between removing a session's record
// and its data, or when a realtime instance's debounced snapshot landed after
// the session ended. known holds every session listed at the sweep's start.
//
// A session's document, op log and presence appear only after its record
// exists, so "no record" means orphaned; but a record created after the
// listing, or not yet visible on the replica that answers a direct get, would
// look missing for a moment. So a thing is removed only when it has been seen
// orphaned by consecutive sweeps for at least one interval AND a fresh read of
// its record right before the removal still finds none.
func (s *Service) removeOrphans(ctx context.Context, now time.Time, known map[string]bool) (Orphans, error) {
	var got Orphans
	found, err := s.findOrphans(ctx, known)
	if err != nil {
		// Keep the suspects: a failed listing says nothing about them.
		return got, err
	}
	var errs []error
	next := make(map[string]time.Time, len(found))
	missing := map[string]bool{} // fresh reads of records, one per session per sweep
	for _, o := range found {
		first, seen := s.suspects[o.id()]
		if !seen {
			first = now
		}
		next[o.id()] = first
		if now.Sub(first) < s.interval {
			continue
		}
		gone, ok := missing[o.sessionID]
		if !ok {
			_, _, err := s.store.GetAny(ctx, o.sessionID)
			switch {
			case errors.Is(err, session.ErrNotFound):
				gone = true
			case err != nil:
				errs = append(errs, fmt.Errorf("check orphan %s: %w", o.key, err))
				continue
			}
			missing[o.sessionID] = gone
		}
		if !gone {
			delete(next, o.id())
			continue
		}
		if err := s.removeOrphan(ctx, o); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(next, o.id())
		s.log.Info("orphan removed", "kind", o.kind, "key", o.key, "session_id", o.sessionID)
		switch o.kind {
		case kindDocument:
			got.Documents++
		case kindOpLog:
			got.OpLogs++
		case kindPresence:
			got.Presence++
		case kindParticipants:
			got.Participants++
		}
	}
	s.suspects = next
	return got, errors.Join(errs...)
}

// findOrphans lists every document key, op log subject, presence key and
// participants registry whose session is not in known.
func (s *Service) findOrphans(ctx context.Context, known map[string]bool) ([]orphan, error) {
	var out []orphan
	docs, err := listKeys(ctx, s.in.Documents)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	for _, k := range docs {
		// A document key is <sessionId> or its notes' id; anything under it
		// (<sessionId>.run) is that session's too.
		id, _, _ := strings.Cut(k, ".")
		if sid := broker.DocSessionID(id); !known[sid] {
			out = append(out, orphan{kindDocument, k, sid})
		}
	}
	info, err := s.in.Ops.Info(ctx, jetstream.WithSubjectFilter(broker.OpsSubjectAll))
	if err != nil {
		return nil, fmt.Errorf("list op logs: %w", err)
	}
	for subj := range info.State.Subjects {
		parts := strings.Split(subj, ".")
		if len(parts) != 3 {
			continue
		}
		if sid := broker.DocSessionID(parts[1]); !known[sid] { // the code's log or the notes'
			out = append(out, orphan{kindOpLog, subj, sid})
		}
	}
	keys, err := listKeys(ctx, s.in.Presence)
	if err != nil {
		return nil, fmt.Errorf("list presence: %w", err)
	}
	for _, k := range keys {
		sid, _, _, err := presence.ParseKey(k)
		if err != nil {
			sid, _, _ = strings.Cut(k, ".") // malformed, but still under its session
		}
		if !known[sid] {
			out = append(out, orphan{kindPresence, k, sid})
		}
	}
	regs, err := listKeys(ctx, s.in.Participants)
	if err != nil {
		return nil, fmt.Errorf("list participants: %w", err)
	}
	for _, k := range regs {
		if !known[k] {
			out = append(out, orphan{kindParticipants, k, k})
		}
	}
	return out, nil
}

// removeOrphan deletes one orphan for good; removing one already gone is not an error.
func (s *Service) removeOrphan(ctx context.Context, o orphan) error {
	var err error
	switch o.kind {
	case kindDocument:
		err = s.in.Documents.Purge(ctx, o.key)
	case kindOpLog:
		err = s.in.Ops.Purge(ctx, jetstream.WithPurgeSubject(o.key))
	case kindPresence:
		err = presence.Expire(ctx, s.in.Presence, o.key)
	case kindParticipants:
		err = s.in.Participants.Purge(ctx, o.key)
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("remove orphaned %s %s: %w", o.kind, o.key, err)
	}
	return nil
}

// listKeys returns every live key of a bucket, draining the lister so its
// goroutine ends.
func listKeys(ctx context.Context, kv jetstream.KeyValue) ([]string, error) {
	l, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the lister stops early on a cancelled context: the list is partial
	}
	return keys, nil
}

// purgeTombstones removes old delete and purge markers from the sessions,
// documents and participants buckets, which have no TTL and would otherwise keep one marker per
// session ever ended. The presence bucket needs none of this: its TTL ages
// markers out like everything else in it.
func (s *Service) purgeTombstones(ctx context.Context, now time.Time) error {
	if !s.lastTombstone.IsZero() && now.Sub(s.lastTombstone) < s.tombstoneEvery {
		return nil
	}
	var errs []error
	for _, kv := range []jetstream.KeyValue{s.in.Sessions, s.in.Documents, s.in.Participants} {
		if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(s.tombstoneAge)); err != nil {
			errs = append(errs, fmt.Errorf("purge tombstones of %s: %w", kv.Bucket(), err))
		}
	}
	if len(errs) == 0 {
		s.lastTombstone = now
	}
	return errors.Join(errs...)
}
