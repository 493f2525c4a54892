// Package session is the typed store of session metadata over the `sessions`
// KV bucket; every change is a compare-and-swap on the key's revision.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Record is what the sessions bucket holds under <sessionId>.
//
// Two different ends live here. Status/EndedAt is the interview's end (POST
// .../end): the session stays readable until SESSION_RETENTION has passed.
// PurgeReason is the removal (DELETE, janitor expiry or retention): the
// compare-and-swap that sets it is the commit point, after which the data
// is purged and the record removed.
type Record struct {
	ID             string            `json:"id"`
	CreatedAt      time.Time         `json:"createdAt"`
	Language       protocol.Language `json:"language"`
	LastActivityAt time.Time         `json:"lastActivityAt"`
	// EmptySince is when the janitor first saw nobody connected to the
	// session after its last activity (set by MarkEmpty, cleared by Touch);
	// the session expires only after SESSION_IDLE_TIMEOUT of that.
	EmptySince *time.Time `json:"emptySince,omitempty"`
	Title      string     `json:"title,omitempty"`
	// Status is active or ended; a record written before statuses existed
	// has none and is active (see Ended).
	Status  protocol.SessionStatus `json:"status,omitempty"`
	EndedAt *time.Time             `json:"endedAt,omitempty"`
	// HostKeyHash is the hex SHA-256 of the session's host key (see
	// HostKeyMatches); the key itself is never stored.
	HostKeyHash string `json:"hostKeyHash,omitempty"`
	// PurgeReason is set ("deleted" or "expired") by the compare-and-swap
	// that decides the session's removal; the key is purged once its data is
	// gone. The JSON name predates the interview's end.
	PurgeReason string `json:"ended,omitempty"`
}

// Live reports whether the session is not being removed (it may be an
// ended interview, still readable).
func (r Record) Live() bool { return r.PurgeReason == "" }

// Ended reports whether the interview was ended with POST .../end.
func (r Record) Ended() bool { return r.Status == protocol.StatusEnded }

// StatusOrActive is the record's status, active for a record without one.
func (r Record) StatusOrActive() protocol.SessionStatus {
	if r.Status == "" {
		return protocol.StatusActive
	}
	return r.Status
}

// Store reads and writes session records.
type Store struct {
	kv jetstream.KeyValue
}

// NewStore wraps the sessions bucket.
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// ErrNotFound is returned for a session that does not exist or has ended.
var ErrNotFound = protocol.Errorf(protocol.CodeSessionNotFound, "Session with the specified ID does not exist")

// Create stores a new active session with a fresh UUID.
func (s *Store) Create(ctx context.Context, lang protocol.Language, now time.Time) (Record, error) {
	return s.CreateRecord(ctx, Record{Language: lang}, now)
}

// CreateRecord stores r as a new active session with a fresh UUID; its id,
// times and status are set here.
func (s *Store) CreateRecord(ctx context.Context, r Record, now time.Time) (Record, error) {
	r.ID, r.CreatedAt, r.LastActivityAt = uuid.NewString(), now.UTC(), now.UTC()
	r.Status, r.EndedAt, r.PurgeReason = protocol.StatusActive, nil, ""
	b, _ := json.Marshal(r)
	if _, err := s.kv.Create(ctx, r.ID, b); err != nil {
		return Record{}, fmt.Errorf("create session %s: %w", r.ID, err)
	}
	return r, nil
}

// Get returns a live session and its revision; ended or unknown sessions are ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Record, uint64, error) {
	r, rev, err := s.get(ctx, id)
	if err == nil && !r.Live() {
		return Record{}, 0, ErrNotFound
	}
	return r, rev, err
}

// GetAny returns a session even when it is being ended.
func (s *Store) GetAny(ctx context.Context, id string) (Record, uint64, error) {
	return s.get(ctx, id)
}

func (s *Store) get(ctx context.Context, id string) (Record, uint64, error) {
	if !protocol.ValidSessionID(id) {
		return Record{}, 0, ErrNotFound
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Record{}, 0, ErrNotFound
	}
	if err != nil {
		return Record{}, 0, fmt.Errorf("get session %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Record{}, 0, fmt.Errorf("decode session %s: %w", id, err)
	}
	return r, e.Revision(), nil
}

// Update applies fn to a live session with compare-and-swap, retrying when
// another writer got there first.
func (s *Store) Update(ctx context.Context, id string, fn func(*Record) error) (Record, error) {
	for attempt := 0; ; attempt++ {
		r, rev, err := s.Get(ctx, id)
		if err != nil {
			return Record{}, err
		}
		if err := fn(&r); err != nil {
			return Record{}, err
		}
		b, _ := json.Marshal(r)
		_, err = s.kv.Update(ctx, id, b, rev)
		if err == nil {
			return r, nil
		}
		if !broker.Conflict(err) || attempt >= 20 {
			return Record{}, fmt.Errorf("update session %s: %w", id, err)
		}
		if err := broker.ConflictBackoff(ctx, attempt); err != nil {
			return Record{}, fmt.Errorf("update session %s: %w", id, err)
		}
	}
}

// TouchGranularity is how fresh a recorded activity may be for Touch to
// skip the write: many users connecting at once would otherwise all
// compare-and-swap the same key, and idle timeouts are minutes long.
const TouchGranularity = time.Second

// Touch records activity on a live session, which also ends a stretch of
// emptiness the janitor recorded; ErrNotFound when it has ended.
func (s *Store) Touch(ctx context.Context, id string, now time.Time) error {
	_, err := s.TouchFrom(ctx, id, Entry{}, now)
	return err
}

// TouchFrom is Touch starting from the record the caller already holds,
// known (a watcher's or an earlier read's; a zero Entry when it holds
// none): while known.Revision is still the key's latest, the touch reads
// nothing, it skips or writes at that revision. A conflict (the key moved
// on: the janitor's mark, a language change, another instance's touch)
// falls back to Touch's read and compare-and-swap loop, so what the
// others wrote is kept and the janitor's compare-and-swap and this one
// never both land.
//
// It returns the key's record and revision when they follow known with no
// write between (known itself when the touch was skipped, the touched
// record otherwise), and a zero Entry after a conflict, whose read may
// have passed revisions the caller has yet to see.
func (s *Store) TouchFrom(ctx context.Context, id string, known Entry, now time.Time) (Entry, error) {
	e := known
	fromKnown := known.ID == id && known.Revision != 0
	if !fromKnown {
		e = Entry{}
	}
	for attempt := 0; ; attempt++ {
		if e.Revision == 0 {
			r, rev, err := s.Get(ctx, id)
			if err != nil {
				return Entry{}, err
			}
			e = Entry{Record: r, Revision: rev}
		}
		if !e.Live() {
			return Entry{}, ErrNotFound
		}
		out, err := s.touchAt(ctx, e, now)
		if err == nil {
			if attempt > 0 || !fromKnown {
				return Entry{}, nil
			}
			return out, nil
		}
		if !broker.Conflict(err) || attempt >= 20 {
			return Entry{}, fmt.Errorf("touch session %s: %w", id, err)
		}
		if err := broker.ConflictBackoff(ctx, attempt); err != nil {
			return Entry{}, fmt.Errorf("touch session %s: %w", id, err)
		}
		e = Entry{}
	}
}

// touchAt is one touch of e: nothing when its activity is fresh, else a
// compare-and-swap at its revision.
func (s *Store) touchAt(ctx context.Context, e Entry, now time.Time) (Entry, error) {
	r := e.Record
	if now.Sub(r.LastActivityAt) < TouchGranularity && r.EmptySince == nil {
		// Fresh enough: a write that landed since the janitor's read
		// already makes its compare-and-swap lose.
		return e, nil
	}
	if now.After(r.LastActivityAt) {
		r.LastActivityAt = now.UTC()
	}
	r.EmptySince = nil
	b, _ := json.Marshal(r)
	rev, err := s.kv.Update(ctx, r.ID, b, e.Revision)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Record: r, Revision: rev}, nil
}

// MarkEmpty records that the janitor saw nobody connected to the session at
// at: a compare-and-swap at revision rev, so activity that landed since (a
// newer revision) wins and the emptiness is not recorded.
func (s *Store) MarkEmpty(ctx context.Context, r Record, rev uint64, at time.Time) error {
	at = at.UTC()
	r.EmptySince = &at
	b, _ := json.Marshal(r)
	if _, err := s.kv.Update(ctx, r.ID, b, rev); err != nil {
		return fmt.Errorf("mark session %s empty: %w", r.ID, err)
	}
	return nil
}

// MarkPurging is the commit point of a session's removal: a
// compare-and-swap at revision rev, so activity that landed since (a newer
// revision) wins.
func (s *Store) MarkPurging(ctx context.Context, r Record, rev uint64, reason string) error {
	r.PurgeReason = reason
	b, _ := json.Marshal(r)
	if _, err := s.kv.Update(ctx, r.ID, b, rev); err != nil {
		return fmt.Errorf("mark session %s for removal: %w", r.ID, err)
	}
	return nil
}

// EndInterview marks a live session ended at now (compare-and-swap, retried
// against concurrent writers). Ending an ended interview changes nothing and
// returns the record as it is, so EndedAt is the first end's time.
func (s *Store) EndInterview(ctx context.Context, id string, now time.Time) (Record, error) {
	var already Record
	r, err := s.Update(ctx, id, func(r *Record) error {
		if r.Ended() {
			already = *r
			return errAlreadyEnded
		}
		at := now.UTC()
		r.Status, r.EndedAt = protocol.StatusEnded, &at
		return nil
	})
	if errors.Is(err, errAlreadyEnded) {
		return already, nil
	}
	return r, err
}

// errAlreadyEnded stops EndInterview's update without a write.
var errAlreadyEnded = errors.New("the interview has already ended")

// Entry is a record with its revision.
type Entry struct {
	Record
	Revision uint64
}

// All returns every record, live or ending, oldest first.
func (s *Store) All(ctx context.Context) ([]Entry, error) {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer w.Stop()
	var out []Entry
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list sessions: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("list sessions: watcher closed")
			}
			if e == nil {
				sort.Slice(out, func(i, j int) bool {
					if out[i].CreatedAt.Equal(out[j].CreatedAt) {
						return out[i].ID < out[j].ID
					}
					return out[i].CreatedAt.Before(out[j].CreatedAt)
				})
				return out, nil
			}
			var r Record
			if json.Unmarshal(e.Value(), &r) == nil {
				out = append(out, Entry{Record: r, Revision: e.Revision()})
			}
		}
	}
}

// Remove purges the session key, the last step of an end.
func (s *Store) Remove(ctx context.Context, id string) error {
	if err := s.kv.Purge(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("purge session %s: %w", id, err)
	}
	return nil
}
