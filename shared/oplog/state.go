package oplog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/ot"
)

// State is a document's current text, folded from its snapshot and the
// entries stored after it.
type State struct {
	Text    string
	Version int64 // 0: nothing was ever written
	// UpdatedAt is when the newest version was applied; zero for version 0.
	UpdatedAt time.Time
}

// snapshotHead is the part of a document snapshot (the value under the
// document id in the documents bucket, written by realtime's document
// engine) that a reader needs: the text at a version, and the stream
// sequence of that version's entry, after which the log continues.
type snapshotHead struct {
	Code    string `json:"code"`
	Version int64  `json:"version"`
	Seq     uint64 `json:"seq"`
}

// ErrGap means the stored log does not continue the snapshot (or, without
// a snapshot, does not start at version 1), so the text cannot be rebuilt.
var ErrGap = errors.New("oplog: the log does not continue the snapshot")

// ReadState returns document docID's current state: the snapshot, then
// every entry stored after it. docID is a session id (the code) or another
// document of the session, such as broker.NotesDocID(sessionID).
func ReadState(ctx context.Context, in *broker.Infra, docID string) (State, error) {
	var snap snapshotHead
	var snapAt time.Time
	ent, err := in.Documents.Get(ctx, docID)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return State{}, fmt.Errorf("snapshot of %s: %w", docID, err)
	default:
		if err := json.Unmarshal(ent.Value(), &snap); err != nil {
			return State{}, fmt.Errorf("decode snapshot of %s: %w", docID, err)
		}
		snapAt = ent.Created()
	}
	// Fold the log in bounded pieces: it may hold hundreds of 256 KiB entries.
	st := State{Text: snap.Code, Version: snap.Version}
	for after, more := snap.Seq, true; more; {
		var entries []Entry
		if entries, more, err = ReadAfter(ctx, in, docID, after, Limits{}); err != nil {
			return State{}, err
		}
		for _, e := range entries {
			after = e.Seq
			if e.Version <= st.Version {
				continue
			}
			if e.Version != st.Version+1 {
				return State{}, fmt.Errorf("document %s: version %d after %d: %w", docID, e.Version, st.Version, ErrGap)
			}
			text, err := ot.Apply(st.Text, e.Ops)
			if err != nil {
				return State{}, fmt.Errorf("document %s: apply version %d: %w", docID, e.Version, err)
			}
			st.Text, st.Version, st.UpdatedAt = text, e.Version, time.UnixMilli(e.Timestamp).UTC()
		}
	}
	if st.Version > 0 && st.UpdatedAt.IsZero() {
		// Nothing after the snapshot: the newest entry, if the log still
		// holds it, says when; else the snapshot's write is the best bound.
		st.UpdatedAt = snapAt.UTC()
		if last, ok, err := Last(ctx, in, docID); err != nil {
			return State{}, err
		} else if ok && last.Version == st.Version {
			st.UpdatedAt = time.UnixMilli(last.Timestamp).UTC()
		}
	}
	return st, nil
}
