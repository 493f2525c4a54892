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
	op, base, err := s.transformFromLog(ctx, in.ops, in.version, work)
	if err != nil {
		return Result{}, err
	}
	return s.submit(ctx, userID, connID, update{version: base, opID: in.opID, ops: op, by: in.by, spent: work.spent})
}

// transformFromLog transforms op, based on version base, over the updates
// after it up to the start of the in-memory history, read from the stream.
// The first one read also checks op's base length.
func (s *replica) transformFromLog(ctx context.Context, op ot.Op, base int64, work *budget) (ot.Op, int64, error) {
	s.mu.Lock()
	upTo := s.hist.baseVersion
	s.mu.Unlock()
	if base >= upTo {
		return op, base, nil
	}
	for base < upTo {
		// Read in bounded pieces, each within ioTimeout (see catchUp).
		cctx, cancel := context.WithTimeout(ctx, ioTimeout)
		entries, _, err := oplog.Read(cctx, s.e.in, s.id, base+1,
			oplog.Limits{Entries: int(min(upTo-base, int64(catchUpLimits.Entries))), Bytes: catchUpLimits.Bytes})
		cancel()
		if err != nil {
			return nil, 0, protocol.Wrap(protocol.CodeInternal, "the update could not be merged", err)
		}
		if len(entries) == 0 || entries[0].Version != base+1 {
			return nil, 0, protocol.Errorf(protocol.CodeInvalidPayload,
				"version %d is older than the history the server keeps: sync and resend", base).
				WithDetails(map[string]any{"sync": true})
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
