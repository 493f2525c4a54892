package document

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// State is a document's text at a version.
type State struct {
	Code    string
	Version int64
	Hash    string // protocol.DocumentHash(Code)
}

// Applied is one update as the session's op log stored it.
type Applied struct {
	SessionID string
	Version   int64
	UserID    string
	OpID      string
	ConnID    string // the connection that sent it: it gets code-ack, the others code-update
	Timestamp int64  // unix milliseconds
	Ops       ot.Op  // as applied, against the document at Version-1
	Code      string // the document after Version
	Hash      string // protocol.DocumentHash(Code), computed once per version
}

// Listener receives a session's updates in version order, one call at a
// time, from the session's delivery goroutine or from the Submit (on any
// Doc of the session) that appended them; its methods must not block
// (queue and return), and must not call back into the Doc.
type Listener interface {
	// Opened is called once, before any Applied, from inside Open: the
	// state at the moment the listener was attached and, when since >= 0
	// was asked, the updates since+1..s.Version (replayOK=false when the
	// engine's history no longer reaches back to since, or since is ahead
	// of the document: the client must take s as a full sync).
	Opened(s State, replay []Applied, replayOK bool)
	// Applied is called for every update after the one Opened reported,
	// each version exactly once, in order.
	Applied(a Applied)
}

// Result is what Submit did with an update.
type Result struct {
	Version   int64 // the version the update got (the first time, for a duplicate)
	OpID      string
	Duplicate bool // the (userId, opId) was applied before: nothing new happened
	wake      bool // the replica goroutine must be woken (replica.needsWake)
}

// Doc is one listener's handle on a session's document.
type Doc struct {
	s         *replica
	l         Listener
	delivered atomic.Int64 // newest version handed to l
	closed    atomic.Bool
	closeOnce sync.Once
}

// State returns the newest state this instance knows (text and version
// match). Applied calls for versions <= State().Version may still arrive
// after it returns (they were already on their way), so a connection that
// sends State as a sync skips updates it already covered.
func (d *Doc) State() State {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return State{Code: s.text, Version: s.version, Hash: s.hashLocked()}
}

// Replay returns the updates since+1..upto with their texts, from the
// session's window of recent updates, for a connection that joins a
// listener already handed upto (its newest delivered version): ok is false
// when the window no longer reaches back to since, since is past upto, or
// upto is past what this instance holds; the client then takes a sync. It
// takes only the replica's lock, so a listener may call it while holding
// its own (Opened is called under that lock only while its Doc attaches).
func (d *Doc) Replay(since, upto int64) (replay []Applied, ok bool) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hist.replay(since, upto, s.version)
}

// HashAt returns the document hash at version v while this instance still
// holds it (the newest version or one in the window), else "": the hash a
// duplicate's ack carries.
func (d *Doc) HashAt(v int64) string {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == s.version {
		return s.hashLocked()
	}
	return s.hist.hashAt(v, s.version)
}

// Close detaches the listener; no Applied call starts after Close returns
// (one already running may finish). When the last Doc of a session on this
// instance closes, the session flushes its snapshot and stops in the
// background. Close is idempotent.
func (d *Doc) Close() {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		s := d.s
		s.mu.Lock()
		delete(s.docs, d)
		s.mu.Unlock()
		s.e.release(s)
	})
}

// Author is who sent an update, as the op log records it.
type Author struct {
	UserID   string
	UserName string
	Role     protocol.Role
}

// Submit is SubmitAs for an author known only by id.
func (d *Doc) Submit(ctx context.Context, userID, connID string, u protocol.CodeUpdate) (Result, error) {
	return d.SubmitAs(ctx, Author{UserID: userID}, connID, u)
}

// SubmitAs validates u, transforms it over the updates applied since its
// version, appends it to the session's op log and returns once JetStream
// acknowledged it and this Doc's listener was handed the Applied for it
// (a non-duplicate's code-ack is that Applied, whose ConnID is connID). A
// duplicate (userID, opId) returns the first version with Duplicate set
// and applies nothing; the caller answers it with code-ack itself. Errors
// are *protocol.Error: INVALID_PAYLOAD, DOCUMENT_TOO_LARGE,
// SESSION_NOT_FOUND (the session was dropped) or INTERNAL_SERVER_ERROR
// (NATS failed; the update may or may not have been stored, so a client
// resends it with the same opId). While NATS is disconnected it fails at
// once, with the nats.go error as the cause (broker.Unavailable).
func (d *Doc) SubmitAs(ctx context.Context, by Author, connID string, u protocol.CodeUpdate) (Result, error) {
	return d.SubmitWithin(ctx, 0, by, connID, u)
}

// SubmitWithin is SubmitAs bounded by within as well (0: by ctx alone), as
// a context.WithTimeout of ctx would bound it, but the context with that
// deadline is made only by the steps that wait on more than one answer (a
// catch-up, a read of the op log, a resend): an update acknowledged at its
// first try makes none.
func (d *Doc) SubmitWithin(ctx context.Context, within time.Duration, by Author, connID string, u protocol.CodeUpdate) (Result, error) {
	b := bound{parent: ctx}
	if within > 0 {
		b.until = time.Now().Add(within)
	}
	defer b.release()
	if d.closed.Load() {
		return Result{}, protocol.Errorf(protocol.CodeInternal, "the document handle is closed")
	}
	in, err := parseUpdate(u)
	if err != nil {
		return Result{}, err
	}
	in.by = by
	s := d.s
	if err := s.e.connected(); err != nil {
		// At once: every step below needs NATS, and waiting for each
		// one's timeout would hold the caller for seconds.
		return Result{}, protocol.Wrap(protocol.CodeInternal, "the update could not be stored",
			fmt.Errorf("submit to %s: %w", s.id, err))
	}
	s.submitMu.Lock()
	res, err := s.submit(&b, by.UserID, connID, in)
	s.submitMu.Unlock()
	if err != nil {
		return Result{}, err
	}
	if !res.Duplicate {
		// Handed to the listeners here rather than by the replica
		// goroutine, which waitDelivered would wait for: one goroutine
		// handoff less per update. Outside submitMu, so the next append
		// to the session goes on while this one fans out. The goroutine
		// is woken only when it has something to do: arm the snapshot
		// timer, or catch up after an error (replica.needsWake).
		s.deliver()
		if res.wake {
			s.poke()
		}
	}
	d.waitDelivered(&b, res.Version)
	return res, nil
}

// waitDelivered blocks until the listener was handed version v, the Doc or
// session closes, or ctx ends, so the caller's own answer (a duplicate's
// code-ack) never overtakes the update it acknowledges.
func (d *Doc) waitDelivered(b *bound, v int64) {
	s := d.s
	for d.delivered.Load() < v && !d.closed.Load() {
		s.mu.Lock()
		if s.deliveredCh == nil {
			s.deliveredCh = make(chan struct{})
		}
		ch := s.deliveredCh
		s.mu.Unlock()
		if d.delivered.Load() >= v {
			return
		}
		select {
		case <-ch:
		case <-s.stop:
			return
		case <-b.ctx().Done():
			return
		}
	}
}
