package document

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Bounds of Submit.
const (
	// maxBehind is how many versions an ops update may lag behind the
	// document; past it the client is told to sync rather than have the
	// server read and transform over that much history.
	maxBehind = 10000
	// fullCodeLookBack bounds the versions of the op log read to find a
	// fullCode resend based before the window (one read of catchUpLimits):
	// such an update is refused with a sync anyway unless it is a resend,
	// so without a bound a client could make the server read 10,000
	// entries for each update it sends.
	fullCodeLookBack = 1000
	// maxAttempts bounds appends lost to other instances for one update.
	maxAttempts = 100
	// appendTimeout bounds waiting for JetStream's acknowledgement of an
	// append, appendTry one wait for it: past appendTry the same message
	// is sent again, and stored once (oplog.Publish).
	appendTimeout = 5 * time.Second
	appendTry     = 2 * time.Second
)

// update is a validated code-update: exactly one of fullCode and ops.
type update struct {
	version  int64
	opID     string
	fullCode *string
	ops      ot.Op
	by       Author // recorded in the op log entry
	spent    int    // transform work already spent on it (submitOld)
}

// parseUpdate checks what can be checked without the document.
func parseUpdate(u protocol.CodeUpdate) (update, error) {
	hasOps := len(u.Delta.Ops) > 0 && string(u.Delta.Ops) != "null"
	switch {
	case u.Delta.FullCode != nil && hasOps:
		return update{}, protocol.Errorf(protocol.CodeInvalidPayload, "delta must have exactly one of fullCode and ops, not both")
	case u.Delta.FullCode == nil && !hasOps:
		return update{}, protocol.Errorf(protocol.CodeInvalidPayload, "delta must have fullCode or ops")
	case u.Version < 0:
		return update{}, protocol.Errorf(protocol.CodeInvalidPayload, "version must be 0 or more, got %d", u.Version)
	}
	if err := protocol.ValidateOpID(u.OpID); err != nil {
		return update{}, protocol.Errorf(protocol.CodeInvalidPayload, "%s", err)
	}
	in := update{version: u.Version, opID: u.OpID, fullCode: u.Delta.FullCode}
	if hasOps {
		op, err := ot.Decode(u.Delta.Ops)
		var te *ot.TextError
		switch {
		case errors.As(err, &te):
			// Refused, not decoded to U+FFFD: the text kept would not be
			// the text sent, nor its UTF-16 length the sender's.
			field := fmt.Sprintf("delta.ops[%d]", te.Index)
			return update{}, protocol.Errorf(protocol.CodeInvalidPayload, "Field %q must be the text as sent: %s", field, te.Rewrite.Reason()).
				WithDetails(map[string]any{field: "must be the text as sent: " + te.Rewrite.Reason()})
		case err != nil:
			return update{}, protocol.Errorf(protocol.CodeInvalidPayload, "invalid ops: %s", err)
		}
		var nc *ot.NotCanonical
		if errors.As(ot.Canonical(op), &nc) {
			// Kept as sent or refused: normalizing it would change how
			// it breaks ties against concurrent inserts.
			return update{}, protocol.Errorf(protocol.CodeInvalidPayload,
				"ops are not in canonical form: component %d breaks the rule %s (send op.normalize())", nc.Index, nc.Rule).
				WithDetails(map[string]any{"rule": nc.Rule, "component": nc.Index})
		}
		in.ops = op
	}
	return in, nil
}

// bound is a submit's context: parent, ending at until too when that is
// set. The context with that deadline is made by the first step that
// needs it (a catch-up, a read of the op log, a resend), not up front: an
// update appended at its first try needs none (a timer, a cancel context
// and a map entry in parent's children per update).
type bound struct {
	parent context.Context
	until  time.Time
	c      context.Context
	cancel context.CancelFunc
}

// ctx is the bounded context, made at the first call.
func (b *bound) ctx() context.Context {
	if b.c == nil {
		b.c, b.cancel = b.parent, func() {}
		if !b.until.IsZero() {
			b.c, b.cancel = context.WithDeadline(b.parent, b.until)
		}
	}
	return b.c
}

// release cancels the context ctx made, if any.
func (b *bound) release() {
	if b.cancel != nil {
		b.cancel()
	}
}

// appendUntil is when an append made now gives up: appendTimeout from
// now, or the submit's bound if that comes first.
func (b *bound) appendUntil(appendTimeout time.Duration) time.Time {
	t := time.Now().Add(appendTimeout)
	if !b.until.IsZero() && b.until.Before(t) {
		return b.until
	}
	return t
}

// submit merges in and appends it; the caller holds s.submitMu.
func (s *replica) submit(b *bound, userID, connID string, in update) (Result, error) {
	op, base := in.ops, in.version
	first, caughtUp, logChecked, inboxTried := true, false, false, false
	work := budget{limit: s.e.o.TransformBudget, spent: in.spent}
	made := logOK // the last room made in the log for this update
	for attempt := 0; attempt < maxAttempts; attempt++ {
		s.mu.Lock()
		if s.dropped {
			s.mu.Unlock()
			return Result{}, protocol.Errorf(protocol.CodeSessionNotFound, "the session has ended")
		}
		if s.stopped() {
			s.mu.Unlock()
			return Result{}, protocol.Errorf(protocol.CodeInternal, "the document engine is shutting down")
		}
		if v, ok := s.duplicate(userID, in.opID, base); ok {
			s.mu.Unlock()
			return Result{Version: v, OpID: in.opID, Duplicate: true}, nil
		}
		if in.version > s.version && !caughtUp {
			// The client may have seen a version through another instance
			// before this one: read the stream before calling it ahead.
			s.mu.Unlock()
			caughtUp = true
			if err := s.catchUpFor(b.ctx()); err != nil {
				return Result{}, err
			}
			continue
		}
		if first && in.fullCode != nil && in.opID != "" && !logChecked && base < s.hist.baseVersion && s.hist.baseVersion-base <= fullCodeLookBack {
			// Refused below unless it is a resend of an update after its
			// base that the window no longer holds: look in the op log.
			upTo := s.hist.baseVersion
			s.mu.Unlock()
			logChecked = true
			v, ok, err := s.findInLog(b.ctx(), userID, in.opID, base, upTo)
			if err != nil {
				return Result{}, err
			}
			if ok {
				return Result{Version: v, OpID: in.opID, Duplicate: true}, nil
			}
			continue
		}
		if first {
			var err error
			op, err = s.rebaseCheck(in)
			if err != nil {
				s.mu.Unlock()
				if errors.Is(err, errOutsideWindow) {
					return s.submitOld(b.ctx(), userID, connID, in, &work)
				}
				return Result{}, err
			}
			first = false
			if err := work.estimate(op, s.version-base); err != nil {
				s.mu.Unlock()
				return Result{}, err
			}
		}
		if base < s.hist.baseVersion {
			// The window moved past our base while we were away: read the
			// missing updates from the log.
			s.mu.Unlock()
			var err error
			if op, base, err = s.transformFromLog(b.ctx(), userID, in.opID, op, base, &work); err != nil {
				if v, ok := duplicateOf(err); ok {
					return Result{Version: v, OpID: in.opID, Duplicate: true}, nil
				}
				return Result{}, err
			}
			continue
		}
		after := s.hist.opsAfter(base)
		for i, ops := range after {
			if err := work.step(op, ops, int64(len(after)-i)); err != nil {
				s.mu.Unlock()
				return Result{}, err
			}
			var err error
			if _, op, err = ot.Transform(ops, op); err != nil {
				s.mu.Unlock()
				return Result{}, protocol.Wrap(protocol.CodeInternal, "the update could not be merged",
					fmt.Errorf("transform over version %d: %w", base+1+int64(i), err))
			}
		}
		base = s.version
		text, err := ot.Apply(s.text, op)
		if err != nil {
			s.mu.Unlock()
			return Result{}, protocol.Errorf(protocol.CodeInvalidPayload, "ops do not fit the document: %s", err)
		}
		if len(text) > s.e.o.MaxDocBytes {
			s.mu.Unlock()
			return Result{}, protocol.Errorf(protocol.CodeDocumentTooLarge,
				"the document would be %d bytes, more than the %d allowed", len(text), s.e.o.MaxDocBytes).
				WithDetails(map[string]any{"maxBytes": s.e.o.MaxDocBytes})
		}
		e := oplog.Entry{Version: s.version + 1, UserID: userID, UserName: in.by.UserName, Role: in.by.Role,
			OpID: in.opID, ConnID: connID, Timestamp: s.e.now().UnixMilli(), Ops: op, Offset: s.logEnd}
		m, err := oplog.EncodeOn(s.ops, e)
		if err != nil {
			s.mu.Unlock()
			return Result{}, protocol.Wrap(protocol.CodeInternal, "the update could not be stored", err)
		}
		e.Size = len(m.Data)
		if a := s.logRoom(e.Size); a != logOK {
			s.mu.Unlock()
			if a == made {
				// Done once already for this update and still no room.
				return Result{}, protocol.Errorf(protocol.CodeServiceUnavailable,
					"the document's op log has no room for this update until a snapshot is stored: retry shortly").
					WithDetails(map[string]any{"limit": "OPS_MAX_BYTES_PER_SESSION", "retryAfterMs": int64(1000)})
			}
			if err := s.makeLogRoom(b.ctx(), a); err != nil {
				return Result{}, err
			}
			made = a
			continue
		}
		expect := s.seq
		s.ownID, s.ownSkipped = m.Header.Get(jetstream.MsgIDHeader), false
		s.mu.Unlock()

		seq, err := s.publish(b, e, m, expect)
		if err != nil {
			s.ownFailed()
		}
		if errors.Is(err, oplog.ErrConflict) {
			s.e.appendConflicts.Add(1)
			if !inboxTried {
				// The first lost append of an update catches up from what
				// the applied subscription already brought, if that holds
				// the winner: the stream republishes an entry as it stores
				// it, before it refuses the next append after the same
				// sequence. Only once: against a writer that appends
				// back to back, the subscription is always one entry
				// behind, and reading the stream (Last) is what lets
				// this update through.
				inboxTried = true
				if s.foldInbox(expect) {
					s.poke() // deliver what was folded
					continue
				}
			}
			if err := s.afterConflict(b.ctx(), expect); err != nil {
				return Result{}, err
			}
			continue
		}
		if err != nil {
			return Result{}, err
		}
		e.Seq = seq
		s.mu.Lock()
		s.ownID, s.ownSkipped = "", false
		// Our entry may already have come back through the subscription
		// (when the ack came first), or been left to us (onApplied).
		ierr := s.integrate(e, &text)
		if ierr != nil {
			s.markBehindLocked()
		}
		wake := s.needsWake(ierr)
		s.mu.Unlock()
		// SubmitAs hands it to the listeners (after letting go of
		// submitMu) and wakes the replica goroutine if it must.
		s.e.trim()
		return Result{Version: e.Version, OpID: in.opID, wake: wake}, nil
	}
	return Result{}, protocol.Wrap(protocol.CodeInternal, "the update could not be applied",
		fmt.Errorf("session %s: lost %d appends in a row to other writers", s.id, maxAttempts))
}

// ownFailed ends an append in flight that failed. If its republished copy
// was left to the submitter (onApplied), it was stored after all: the
// replica goroutine reads it back from the stream.
func (s *replica) ownFailed() {
	s.mu.Lock()
	lost := s.ownSkipped
	s.ownID, s.ownSkipped = "", false
	if lost {
		s.markBehindLocked()
	}
	s.mu.Unlock()
	if lost {
		s.poke()
	}
}

// publish stores e, encoded as m, after sequence expect, mapping NATS
// failures to INTERNAL_SERVER_ERROR with their cause, a full stream to
// SERVICE_UNAVAILABLE (oplog.FullRefusal) and a server without storage
// to SERVICE_UNAVAILABLE too (oplog.NoStorageRefusal), counted.
func (s *replica) publish(b *bound, e oplog.Entry, m *nats.Msg, expect uint64) (uint64, error) {
	if err := s.e.connected(); err != nil {
		return 0, protocol.Wrap(protocol.CodeInternal, "the update could not be stored",
			fmt.Errorf("append to %s: %w", s.id, err))
	}
	// The bound goes down as a time (Until): Publish makes a context of
	// it only when the first try was not acknowledged.
	seq, err := oplog.Publish(b.parent, s.e.in.JS, s.id, e.Version, m, expect,
		oplog.Retry{Try: s.e.appendTry, Resends: &s.e.appendResends, Until: b.appendUntil(s.e.appendTimeout), Replies: s.e.replies})
	if errors.Is(err, oplog.ErrFull) {
		s.e.log.Warn("update refused: the SESSION_OPS stream is full (raise OPS_MAX_BYTES or lower OPS_MAX_AGE)",
			"session_id", s.id)
		return 0, oplog.FullRefusal(err)
	}
	if errors.Is(err, oplog.ErrNoStorage) {
		s.e.storageRefusals.Add(1)
		s.e.log.Warn("update refused: the NATS server's JetStream storage is full (free or add storage: max_file_store, its volume)",
			"session_id", s.id)
		return 0, oplog.NoStorageRefusal(err)
	}
	if err != nil && !errors.Is(err, oplog.ErrConflict) {
		return 0, protocol.Wrap(protocol.CodeInternal, "the update could not be stored", err)
	}
	return seq, err
}

// catchUpFor reads the stream on behalf of a submit.
func (s *replica) catchUpFor(ctx context.Context) error {
	if err := s.catchUp(ctx); err != nil {
		return protocol.Wrap(protocol.CodeInternal, "the update could not be merged", err)
	}
	return nil
}

// afterConflict catches up after a lost append, reading the stream. If
// it had nothing new for us, the session's log was purged under us: the
// session ended.
func (s *replica) afterConflict(ctx context.Context, expect uint64) error {
	s.e.conflictReads.Add(1)
	if err := s.catchUpFor(ctx); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	s.mu.Lock()
	moved := s.seq != expect
	s.mu.Unlock()
	if moved {
		return nil
	}
	last, ok, err := oplog.Last(cctx, s.e.in, s.id)
	if err != nil {
		return protocol.Wrap(protocol.CodeInternal, "the update could not be merged", err)
	}
	if !ok || last.Seq < expect {
		return protocol.Errorf(protocol.CodeSessionNotFound, "the session's document is gone (the session ended)")
	}
	return nil
}

// foldInbox integrates what the applied subscription queued for the
// replica goroutine (as fold does) and reports whether the newest entry
// held moved past sequence expect.
func (s *replica) foldInbox(expect uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.foldInboxLocked()
	return s.seq != expect
}
