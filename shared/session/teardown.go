package session

import (
	"context"
	"errors"
	"fmt"

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
	return NewStore(in.Sessions).Remove(ctx, id)
}
