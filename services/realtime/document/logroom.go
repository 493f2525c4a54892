package document

import (
	"context"
	"fmt"

	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/protocol"
)

// The op log of a document must always hold every entry after its newest
// snapshot: loading reads the snapshot and the log after it, and an entry
// the stream dropped (MaxMsgsPerSubject trims the oldest) leaves a gap no
// load can cross, with acknowledged edits gone. Snapshots are debounced
// (up to SnapshotMaxDelay apart), so a fast writer could otherwise outrun
// them. Two bounds per document are kept:
//
//   - entries: the stream keeps LogMaxEntries (OPS_MAX_PER_SESSION) per
//     subject. A snapshot is due at once when a quarter of them came after
//     the last one, and an update that would make it half is appended only
//     after a snapshot, written first.
//   - bytes: the log holds at most LogMaxBytes (OPS_MAX_BYTES_PER_SESSION).
//     Same quarter and half for the bytes after the last snapshot; and an
//     update that would take the whole log past the budget first purges the
//     entries before the newest snapshot, which loading no longer needs (the
//     history route and stale updates then reach back less far).
//
// The counts are exact for this instance: an append expects the subject's
// last sequence, so it lands only after everything before it was folded
// here. A snapshot written by another instance is not seen, which only
// makes this one snapshot sooner than needed.

// logAction is what must happen before an entry can be appended.
type logAction int

const (
	logOK       logAction = iota
	logSnapshot           // write a snapshot of the current state first
	logPurge              // drop the entries before the newest snapshot first
)

// logRoom says what must happen before an entry of size bytes is appended
// after the current version. Call with s.mu held.
func (s *replica) logRoom(size int) logAction {
	o := s.e.o
	if s.version-s.savedVersion+1 >= o.LogMaxEntries/2 || s.logEnd-s.savedEnd+int64(size) > o.LogMaxBytes/2 {
		return logSnapshot
	}
	if s.logEnd+int64(size)-s.logStart > o.LogMaxBytes {
		return logPurge
	}
	return logOK
}

// logFilling reports whether a quarter of the log's room was used since
// the last snapshot. Call with s.mu held.
func (s *replica) logFilling() bool {
	o := s.e.o
	return s.version-s.savedVersion >= o.LogMaxEntries/4 || s.logEnd-s.savedEnd >= o.LogMaxBytes/4
}

// makeLogRoom does what logRoom asked for, on behalf of a submit.
func (s *replica) makeLogRoom(ctx context.Context, a logAction) error {
	switch a {
	case logSnapshot:
		if err := s.saveSnapshot(ctx); err != nil {
			return protocol.Wrap(protocol.CodeInternal, "the update could not be stored",
				fmt.Errorf("snapshot of %s before its op log fills: %w", s.id, err))
		}
	case logPurge:
		s.mu.Lock()
		seq := s.savedSeq
		s.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, ioTimeout)
		defer cancel()
		if err := oplog.PurgeBefore(cctx, s.e.in, s.id, seq); err != nil {
			return protocol.Wrap(protocol.CodeInternal, "the update could not be stored", err)
		}
		if err := s.findLogStart(ctx); err != nil {
			return protocol.Wrap(protocol.CodeInternal, "the update could not be stored", err)
		}
	}
	return nil
}
