package document

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// snapshot is the value of key <sessionId> in the documents bucket: the
// text at a version, the stream sequence of that version's entry (loading
// reads the log after it), the log offset after that entry (oplog.Entry.End,
// for the op log's byte budget) and the newest opIds, so a resend of an
// update from before the snapshot still lands once after a reload.
type snapshot struct {
	Code    string       `json:"code"`
	Version int64        `json:"version"`
	Seq     uint64       `json:"seq"`
	End     int64        `json:"end,omitempty"`
	OpIDs   []snapshotOp `json:"opIds,omitempty"`
}

type snapshotOp struct {
	UserID  string `json:"u"`
	OpID    string `json:"o"`
	Version int64  `json:"v"`
}

// snapshotOpIDBytes bounds the opIds a snapshot carries so the value stays
// well inside the bucket's 4 MiB limit next to a 256 KiB document.
const snapshotOpIDBytes = 1 << 20

// snapshotCASRetries bounds compare-and-swap attempts against a writer on
// another instance.
const snapshotCASRetries = 5

// loadSnapshot returns the stored snapshot, or the empty document.
func (e *Engine) loadSnapshot(ctx context.Context, sessionID string) (snapshot, error) {
	ent, err := e.in.Documents.Get(ctx, sessionID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return snapshot{}, nil
	}
	if err != nil {
		return snapshot{}, fmt.Errorf("get snapshot: %w", err)
	}
	var s snapshot
	if err := json.Unmarshal(ent.Value(), &s); err != nil {
		return snapshot{}, fmt.Errorf("decode snapshot: %w", err)
	}
	return s, nil
}

// writeSnapshot stores snap unless the bucket already holds the same or a
// newer version; the revision check makes a slower writer on another
// instance lose instead of overwriting newer text with older.
func (e *Engine) writeSnapshot(ctx context.Context, sessionID string, snap snapshot) error {
	data, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	for range snapshotCASRetries {
		cur, err := e.in.Documents.Get(ctx, sessionID)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = e.in.Documents.Create(ctx, sessionID, data)
		case err != nil:
			return fmt.Errorf("get snapshot: %w", err)
		default:
			var old struct {
				Version int64 `json:"version"`
			}
			if json.Unmarshal(cur.Value(), &old) == nil && old.Version >= snap.Version {
				return nil
			}
			_, err = e.in.Documents.Update(ctx, sessionID, data, cur.Revision())
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("put snapshot: %w", err)
		}
	}
	return fmt.Errorf("put snapshot: still contended after %d attempts", snapshotCASRetries)
}

// snapshotLocked captures the state to save; call with s.mu held.
func (s *replica) snapshotLocked() snapshot {
	snap := snapshot{Code: s.text, Version: s.version, Seq: s.seq, End: s.logEnd}
	size := 0
	for i := len(s.opIDs.order) - 1; i >= 0; i-- {
		k := s.opIDs.order[i]
		if size += len(k.user) + len(k.op) + 32; size > snapshotOpIDBytes {
			break
		}
		snap.OpIDs = append(snap.OpIDs, snapshotOp{UserID: k.user, OpID: k.op, Version: s.opIDs.m[k]})
	}
	// Oldest first, so loading rebuilds the eviction order.
	for i, j := 0, len(snap.OpIDs)-1; i < j; i, j = i+1, j-1 {
		snap.OpIDs[i], snap.OpIDs[j] = snap.OpIDs[j], snap.OpIDs[i]
	}
	return snap
}
