package document

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
)

// snapshot is the value of key <sessionId> in the documents bucket: the
// text at a version, the stream sequence of that version's entry (loading
// reads the log after it), the log offset after that entry (oplog.Entry.End,
// for the op log's byte budget) and the opId index (the newest update of
// each connection, see dedupe), so a resend of a connection's pending
// update from before the snapshot still lands once after a reload, even
// rebased on a newer version. Snapshots written before the index was per
// connection carry no "c": their pairs load as one connection per user.
type snapshot struct {
	Code    string       `json:"code"`
	Version int64        `json:"version"`
	Seq     uint64       `json:"seq"`
	End     int64        `json:"end,omitempty"`
	OpIDs   []snapshotOp `json:"opIds,omitempty"`
	rev     uint64       // the bucket's revision of a loaded snapshot
}

type snapshotOp struct {
	UserID  string `json:"u"`
	ConnID  string `json:"c,omitempty"`
	OpID    string `json:"o"`
	Version int64  `json:"v"`
}

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
	s.rev = ent.Revision()
	return s, nil
}

// writeSnapshot stores snap unless the bucket already holds the same or a
// newer version; the revision check makes a slower writer on another
// instance lose instead of overwriting newer text with older. It returns
// the revision stored (0: none, the bucket held a newer one).
//
// rev is the revision of the snapshot this instance last read or wrote
// for the session (0: none): while it is still the stored one, nobody
// wrote since, and what it holds is this instance's own, older state, so
// snap replaces it at once. Only when it is not (a conflict) is the
// stored snapshot read and its version compared: that read and the decode
// of the whole stored text were two thirds of a snapshot's CPU.
func (e *Engine) writeSnapshot(ctx context.Context, sessionID string, snap snapshot, rev uint64) (uint64, error) {
	data, err := json.Marshal(snap)
	if err != nil {
		return 0, fmt.Errorf("encode snapshot: %w", err)
	}
	if rev != 0 {
		next, err := e.in.Documents.Update(ctx, sessionID, data, rev)
		if err == nil {
			return next, nil
		}
		if !broker.Conflict(err) {
			return 0, fmt.Errorf("put snapshot: %w", err)
		}
	}
	for range snapshotCASRetries {
		cur, err := e.in.Documents.Get(ctx, sessionID)
		var next uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			next, err = e.in.Documents.Create(ctx, sessionID, data)
		case err != nil:
			return 0, fmt.Errorf("get snapshot: %w", err)
		default:
			var old struct {
				Version int64 `json:"version"`
			}
			if json.Unmarshal(cur.Value(), &old) == nil && old.Version >= snap.Version {
				return 0, nil
			}
			next, err = e.in.Documents.Update(ctx, sessionID, data, cur.Revision())
		}
		if err == nil {
			return next, nil
		}
		if !broker.Conflict(err) {
			return 0, fmt.Errorf("put snapshot: %w", err)
		}
	}
	return 0, fmt.Errorf("put snapshot: still contended after %d attempts", snapshotCASRetries)
}

// snapshotCap draws how long after its first unsaved edit a session's
// snapshot is due at the latest: between half of SnapshotMaxDelay and all
// of it, a new draw for each run of unsaved edits. With one fixed bound,
// sessions whose editing began together (an instance's start, users who
// join at once) snapshot together, every SnapshotMaxDelay, for as long
// as they are edited: the split layout's heavy interview sent a thousand
// snapshots from each instance within a second or two every 10 s, and
// the op-log appends queued behind them in JetStream were refused at their
// deadline in bursts a few seconds later.
func (e *Engine) snapshotCap() time.Duration {
	d := e.o.SnapshotMaxDelay
	return d - rand.N(d/2+1)
}

// snapshotLocked captures the state to save; call with s.mu held.
func (s *replica) snapshotLocked() snapshot {
	snap := snapshot{Code: s.text, Version: s.version, Seq: s.seq, End: s.logEnd}
	if len(s.opIDs.recs) > 0 {
		snap.OpIDs = make([]snapshotOp, 0, len(s.opIDs.recs))
	}
	for _, r := range s.opIDs.recs { // oldest first, the index's order
		snap.OpIDs = append(snap.OpIDs, snapshotOp{UserID: r.user, ConnID: r.conn, OpID: r.op, Version: r.version})
	}
	return snap
}
