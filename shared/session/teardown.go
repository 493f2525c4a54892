package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/presence"
)

// End ends a session: the compare-and-swap that marks it ended at revision
// rev is the decision (every realtime instance watching the bucket then sends
// session-ended and disconnects its clients), and Purge removes what it held.
// A newer revision (fresh activity) makes End fail with a conflict (broker.Conflict).
func End(ctx context.Context, in *broker.Infra, r Record, rev uint64, reason string) error {
	if err := NewStore(in.Sessions).MarkPurging(ctx, r, rev, reason); err != nil {
		return err
	}
	return Purge(ctx, in, r.ID)
}

// Purge removes everything a session held: the op logs and snapshots of
// its code and notes, its latest run output, its presence keys, its
// participants registry and finally its record. It is idempotent, so a
// clean-up interrupted by a crash is finished by the next janitor sweep.
func Purge(ctx context.Context, in *broker.Infra, id string) error {
	var errs []error
	for _, doc := range []string{id, broker.NotesDocID(id)} { // the code and the interviewers' notes
		if err := in.Ops.Purge(ctx, jetstream.WithPurgeSubject(broker.OpsSubject(doc))); err != nil {
			errs = append(errs, fmt.Errorf("purge op log of %s: %w", doc, err))
		}
	}
	for _, key := range []string{id, broker.NotesDocID(id), broker.RunKey(id)} {
		if err := in.Documents.Purge(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			errs = append(errs, fmt.Errorf("purge document %s: %w", key, err))
		}
	}
	if err := presence.Purge(ctx, in.Presence, id); err != nil {
		errs = append(errs, err)
	}
	if err := in.Participants.Purge(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		errs = append(errs, fmt.Errorf("purge participants of %s: %w", id, err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return removeRecord(ctx, in, id)
}

// removeRecord purges the session's record. A record marked for removal
// goes with a purge marker that carries it, reason included: the purge
// rolls up every earlier revision, so a watcher that is behind would
// otherwise see the removal without the mark and could not tell an expiry
// from a delete. Reads of the key still find nothing (nats.go reads the
// marker's operation header, not its body).
func removeRecord(ctx context.Context, in *broker.Infra, id string) error {
	st := NewStore(in.Sessions)
	r, _, err := st.GetAny(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case r.PurgeReason == "":
		return st.Remove(ctx, id)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	m := nats.NewMsg(broker.KVSubject(broker.BucketSessions, id))
	m.Header.Set(kvOperation, kvPurge)
	m.Header.Set(nats.MsgRollup, nats.MsgRollupSubject)
	m.Data = b
	if _, err := in.JS.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("purge session %s: %w", id, err)
	}
	return nil
}

// The headers of a KV purge marker, as nats.go writes them.
const (
	kvOperation = "KV-Operation"
	kvPurge     = "PURGE"
)
