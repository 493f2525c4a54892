package document

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// errOutsideWindow means an ops update is older than the in-memory history;
// its base is checked and transformed from the stream instead.
var errOutsideWindow = errors.New("base version older than the in-memory history")

// rebaseCheck turns in into an op against the text at in.version and checks
// that it fits that text. Call with s.mu held.
func (s *replica) rebaseCheck(in update) (ot.Op, error) {
	v := in.version
	if v > s.version {
		return nil, protocol.Errorf(protocol.CodeInvalidPayload,
			"version %d is ahead of the document (version %d)", v, s.version)
	}
	if in.fullCode != nil {
		var base string
		switch {
		case v == s.version:
			base = s.text
		case s.hist.holds(v, s.version):
			t, err := s.hist.textAt(v)
			if err != nil {
				return nil, protocol.Wrap(protocol.CodeInternal, "the update could not be merged", err)
			}
			base = t
		default:
			return nil, protocol.Errorf(protocol.CodeInvalidPayload,
				"a fullCode update must be based on one of the last %d versions (got %d, the document is at %d): sync and resend",
				s.version-s.hist.baseVersion, v, s.version).WithDetails(map[string]any{"sync": true})
		}
		op := ot.Diff(base, *in.fullCode)
		for i := range op {
			// The inserted text is a piece of the decoded fullCode: a
			// copy lets the whole document go once the update is merged,
			// instead of pinning it in the window for every version.
			op[i].S = strings.Clone(op[i].S)
		}
		return op, nil
	}
	var n int
	switch {
	case v == s.version:
		n = s.textLen
	case s.hist.holds(v, s.version):
		n = s.hist.lenAt(v)
	default:
		return nil, errOutsideWindow
	}
	if bl := in.ops.BaseLen(); bl != n {
		return nil, protocol.Errorf(protocol.CodeInvalidPayload,
			"ops cover %d UTF-16 code units but the document at version %d has %d", bl, v, n)
	}
	return in.ops, nil
}

// submitOld handles an ops update based before the in-memory history: it
// checks and transforms it over the updates the stream still holds up to
// the history, then submits the result as if it had been sent at that
// version.
func (s *replica) submitOld(ctx context.Context, userID, connID string, in update, work *budget) (Result, error) {
	s.mu.Lock()
	behind := s.version - in.version
	s.mu.Unlock()
	if behind > maxBehind {
		return Result{}, protocol.Errorf(protocol.CodeInvalidPayload,
			"version %d is %d versions behind the document, more than the %d an update may lag: sync and resend",
			in.version, behind, maxBehind).WithDetails(map[string]any{"sync": true})
	}
	// Refused before the log is read: the estimate needs no I/O.
	if err := work.estimate(in.ops, behind); err != nil {
		return Result{}, err
	}
	op, base, err := s.transformFromLog(ctx, userID, in.opID, in.ops, in.version, work)
	if v, ok := duplicateOf(err); ok {
		return Result{Version: v, OpID: in.opID, Duplicate: true}, nil
	}
	if err != nil {
		return Result{}, err
	}
	return s.submit(&bound{parent: ctx}, userID, connID, update{version: base, opID: in.opID, ops: op, by: in.by, spent: work.spent})
}

// transformFromLog transforms op, based on version base, over the updates
// after it up to the start of the in-memory history, read from the stream.
// The first one read also checks op's base length. When one of them is
// (userID, opID) itself, the update is a resend: it returns a
// duplicateError with the version it got.
func (s *replica) transformFromLog(ctx context.Context, userID, opID string, op ot.Op, base int64, work *budget) (ot.Op, int64, error) {
	s.mu.Lock()
	upTo := s.hist.baseVersion
	s.mu.Unlock()
	if base >= upTo {
		return op, base, nil
	}
	for base < upTo {
		entries, held, err := s.readLogAfter(ctx, base, upTo)
		if err != nil {
			return nil, 0, err
		}
		if !held {
			return nil, 0, protocol.Errorf(protocol.CodeInvalidPayload,
				"version %d is older than the history the server keeps: sync and resend", base).
				WithDetails(map[string]any{"sync": true})
		}
		if v, ok := findEntry(entries, upTo, userID, opID); ok {
			return nil, 0, &duplicateError{version: v}
		}
		if bl, n := op.BaseLen(), entries[0].Ops.BaseLen(); bl != n {
			return nil, 0, protocol.Errorf(protocol.CodeInvalidPayload,
				"ops cover %d UTF-16 code units but the document at version %d has %d", bl, base, n)
		}
		for _, e := range entries {
			if e.Version > upTo {
				break
			}
			if err := work.step(op, e.Ops, upTo-base); err != nil {
				return nil, 0, err
			}
			if _, op, err = ot.Transform(e.Ops, op); err != nil {
				return nil, 0, protocol.Wrap(protocol.CodeInternal, "the update could not be merged",
					fmt.Errorf("transform over stored version %d: %w", e.Version, err))
			}
			base = e.Version
		}
	}
	return op, base, nil
}

// duplicateError is what transformFromLog returns for a resend: the
// version the update got the first time.
type duplicateError struct{ version int64 }

func (e *duplicateError) Error() string {
	return fmt.Sprintf("a resend of the update applied as version %d", e.version)
}

// duplicateOf reports whether err is a duplicateError, and its version.
func duplicateOf(err error) (int64, bool) {
	var d *duplicateError
	if errors.As(err, &d) {
		return d.version, true
	}
	return 0, false
}

// findEntry returns the version of the entry (userID, opID) among entries
// up to version upTo.
func findEntry(entries []oplog.Entry, upTo int64, userID, opID string) (int64, bool) {
	if opID == "" {
		return 0, false
	}
	for _, e := range entries {
		if e.Version > upTo {
			break
		}
		if e.OpID == opID && e.UserID == userID {
			return e.Version, true
		}
	}
	return 0, false
}

// findInLog looks for the update (userID, opID) among the versions after
// base up to upTo in the op log: a resend based before the window. What
// the log no longer holds is not found.
func (s *replica) findInLog(ctx context.Context, userID, opID string, base, upTo int64) (int64, bool, error) {
	for base < upTo {
		entries, held, err := s.readLogAfter(ctx, base, upTo)
		if err != nil || !held {
			return 0, false, err
		}
		if v, ok := findEntry(entries, upTo, userID, opID); ok {
			return v, true, nil
		}
		base = entries[len(entries)-1].Version
	}
	return 0, false, nil
}

// duplicate reports whether (userID, opID), sent against version base, was
// applied already, from what this instance holds: the index of each
// connection's newest update and the window's updates after base. An
// update based before the window is looked for in the op log
// (transformFromLog, findInLog). Call with s.mu held.
func (s *replica) duplicate(userID, opID string, base int64) (int64, bool) {
	if opID == "" {
		return 0, false
	}
	if v, ok := s.opIDs.get(userID, opID); ok {
		return v, true
	}
	return s.hist.find(base, s.version, userID, opID)
}

// readLogAfter reads a bounded piece of the op log from version base+1
// towards upTo, within ioTimeout (see catchUp); held is false when the log
// no longer starts there.
func (s *replica) readLogAfter(ctx context.Context, base, upTo int64) (entries []oplog.Entry, held bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	entries, _, err = oplog.Read(cctx, s.e.in, s.id, base+1,
		oplog.Limits{Entries: int(min(upTo-base, int64(catchUpLimits.Entries))), Bytes: catchUpLimits.Bytes})
	if err != nil {
		return nil, false, protocol.Wrap(protocol.CodeInternal, "the update could not be merged", err)
	}
	return entries, len(entries) > 0 && entries[0].Version == base+1, nil
}
