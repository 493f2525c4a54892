package document

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// inboxMax bounds the updates buffered from the applied subscription; past
// it they are dropped and read back from the stream, which holds them all
// (as are those the dispatcher's full queue drops: run watches
// sub.Dropped).
const inboxMax = 4096

// errGap reports an update that does not follow the newest one we hold.
var errGap = errors.New("update does not follow the current version")

// replica is one session's document as this instance holds it: the state
// the op log's entries fold into, its listeners (Docs) and its goroutine.
// ("session" is the interview itself, shared/session's record; a realtime
// room is the connections of one session on this instance.)
type replica struct {
	e     *Engine
	id    string
	ops   string        // broker.OpsSubject(id), the subject of its appends
	ready chan struct{} // closed once load finished
	// loadErr is written before ready is closed and only read after.
	loadErr error

	submitMu sync.Mutex // one Submit at a time on this instance
	// deliverMu makes each deliver hand its batch to the listeners before
	// the next one takes its own: the replica goroutine and a submitter
	// (which delivers its own update without waiting for that goroutine)
	// both deliver, and listeners must see versions in order.
	deliverMu sync.Mutex

	mu      sync.Mutex
	text    string
	textLen int    // UTF-16 length of text
	hash    string // protocol.DocumentHash(text) when hashAt == version
	hashAt  int64
	version int64
	seq     uint64 // stream sequence of version's entry
	hist    history
	opIDs   dedupe
	names   interner
	docs    map[*Doc]struct{}
	pending []Applied // integrated, not yet handed to listeners
	// deliveredCh is closed by the next deliver; made by a waiter
	// (waitDelivered), nil while nobody waits.
	deliveredCh chan struct{}
	inbox       []oplog.Entry // from the applied subscription
	// ownID is the Nats-Msg-Id of this instance's append in flight (one
	// at a time: submitMu), whose submitter folds it when the
	// acknowledgement comes; ownSkipped says its republished copy came
	// first and was left to it (onApplied).
	ownID      string
	ownSkipped bool
	behind     bool // the stream may hold entries we have not seen (markBehindLocked)
	// watched: the session is on the engine's watch list, or in the list
	// the sweep is going through (sweep).
	watched bool
	// Where the op log stands (see logRoom): the newest snapshot this
	// instance knows of (loaded or written), and the log's extent in bytes.
	savedVersion int64
	savedSeq     uint64 // stream sequence of savedVersion's entry
	savedEnd     int64  // log offset after savedVersion's entry
	snapRev      uint64 // the bucket's revision of the snapshot last loaded or written here
	logStart     int64  // offset of the oldest entry the stream holds
	logEnd       int64  // offset after the newest entry (version's)
	dirty        bool   // edits since the last snapshot
	// snapWatched: the replica goroutine will look at the snapshot again
	// without being woken (its timer is armed for a due at or before the
	// one an edit makes, or a save is in flight), so a submit need not
	// wake it for that (needsWake).
	snapWatched bool
	// dueBy is when the snapshot of the unsaved edits is due at the
	// latest: Engine.snapshotCap after the first of them.
	dueBy    time.Time
	lastEdit time.Time
	// active is when the session last took an edit or a listener (unix
	// nanoseconds): the engine shrinks the least recently active windows
	// first when it is over its memory budget.
	active  atomic.Int64
	dropped bool
	loading bool

	sub        *broker.Sub // on the engine's dispatcher
	wake       chan struct{}
	stop       chan struct{}
	stopOnce   sync.Once
	finishOnce sync.Once

	// state says whether the replica goroutine runs (runIdle...): it runs
	// only while the session has work (poke, run).
	state atomic.Int32
	// droppedSeen is the subscription's Dropped count the engine's sweep
	// last saw; only the sweep reads and writes it.
	droppedSeen int
}

func newReplica(e *Engine, id string) *replica {
	e.textBytes.Add(replicaSize) // given back by finish
	s := &replica{e: e, id: id, ops: broker.OpsSubject(id), ready: make(chan struct{}), docs: map[*Doc]struct{}{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), opIDs: dedupe{total: &e.indexBytes}}
	s.state.Store(runRunning) // start's goroutine, which loads the session
	return s
}

// start loads the session and runs it; a failed load removes it from the
// engine so the next Open tries again. The load has no deadline of its
// own: each read in it has ioTimeout, so a big but valid log (hundreds of
// 256 KiB entries on a busy machine) loads however long it takes while
// NATS answers, and stops when the session is shut down.
func (s *replica) start() {
	s.loadErr = s.load(s.life())
	if s.loadErr == nil {
		close(s.ready)
		s.run()
		return
	}
	s.state.Store(runDone)
	s.e.mu.Lock()
	s.e.sessions.Forget(s)
	s.e.mu.Unlock()
	close(s.ready)
	s.finish()
}

// load subscribes to the applied subject (first, so nothing stored
// meanwhile is missed), then folds the snapshot and the log after it.
func (s *replica) load(ctx context.Context) error {
	sub, err := s.e.subs.Subscribe(s.e.in.NC, broker.AppliedSubject(s.id), s.onApplied)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	s.sub = sub
	sctx, cancel := context.WithTimeout(ctx, ioTimeout)
	snap, err := s.e.loadSnapshot(sctx, s.id)
	cancel()
	if err != nil {
		return err
	}
	from, err := s.foldFrom(ctx, snap)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.setText(from.Code)
	s.textLen, s.version, s.seq = ot.UTF16Len(from.Code), from.Version, from.Seq
	s.savedVersion, s.savedSeq, s.savedEnd, s.logEnd = snap.Version, snap.Seq, snap.End, from.End
	s.snapRev = snap.rev
	s.hist.reset(s.e.hist, from.Code, from.Version, &s.e.windowBytes)
	for _, id := range from.OpIDs {
		s.opIDs.add(s.names.intern(id.UserID), s.names.intern(id.ConnID), id.OpID, id.Version)
	}
	s.loading = true
	s.mu.Unlock()
	err = s.catchUp(ctx)
	s.mu.Lock()
	s.loading = false
	s.pending = nil
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.findLogStart(ctx)
}

// foldFrom returns where a load starts: snap, or the empty document when
// snap is at most a window's versions from the start and the stream still
// holds the log from version 1. Loaded from snap, the window would begin at
// its version, and a client whose since is before it, within
// DOC_WINDOW_VERSIONS and still in the log, would get a sync instead of its
// replay (docs/protocol.md, Replay) only because another instance wrote a
// snapshot.
func (s *replica) foldFrom(ctx context.Context, snap snapshot) (snapshot, error) {
	if snap.Version == 0 || snap.Version > int64(s.e.hist.versions) {
		return snap, nil
	}
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	head, ok, err := oplog.First(cctx, s.e.in, s.id)
	if err != nil {
		return snapshot{}, err
	}
	if !ok || head.Version != 1 {
		return snap, nil
	}
	return snapshot{}, nil
}

// findLogStart reads where the stream's log of the document now begins.
func (s *replica) findLogStart(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	head, ok, err := oplog.First(cctx, s.e.in, s.id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.logStart = s.logEnd
	if ok {
		s.logStart = head.Offset
	}
	s.mu.Unlock()
	return nil
}

// replicaSize is what a replica costs besides its text, window and opId
// index, counted against the memory budget with its text.
const replicaSize = int64(unsafe.Sizeof(replica{}))

// setText makes text the current text and counts it against the engine's
// memory budget. Call with s.mu held.
func (s *replica) setText(text string) {
	s.e.textBytes.Add(int64(len(text) - len(s.text)))
	s.text = text
}

// hashLocked returns the hash of the current text, computing it at most
// once per version. Call with s.mu held.
func (s *replica) hashLocked() string {
	if s.hashAt != s.version || s.hash == "" {
		s.hash, s.hashAt = protocol.DocumentHash(s.text), s.version
	}
	return s.hash
}

// onApplied runs on a goroutine of the engine's dispatcher, shared with
// other sessions: it only queues.
func (s *replica) onApplied(m *nats.Msg) {
	if v, err := strconv.ParseInt(m.Header.Get(broker.HeaderVersion), 10, 64); err == nil {
		s.mu.Lock()
		held := v <= s.version
		// The stream republishes an entry before it acknowledges it, so
		// this instance's own append usually arrives here before its
		// submitter has the ack: left to the submitter, which folds it
		// with the text it already computed (or, failing, has the stream
		// read back: ownSkipped), rather than decoded and folded here
		// too, waking the replica goroutine.
		own := !held && s.ownID != "" && m.Header.Get(jetstream.MsgIDHeader) == s.ownID
		if own {
			s.ownSkipped = true
		}
		s.mu.Unlock()
		if held || own {
			// Folded already (integrate would ignore it), or about to be.
			return
		}
	}
	e, err := oplog.Decode(m)
	s.mu.Lock()
	switch {
	case err != nil:
		s.e.log.Error("undecodable op log entry", "session_id", s.id, "err", err)
		s.markBehindLocked()
	case len(s.inbox) >= inboxMax:
		s.markBehindLocked()
	default:
		s.inbox = append(s.inbox, e)
	}
	s.mu.Unlock()
	s.poke()
}

// needsWake reports whether a submit that just folded its entry (err: the
// fold failed, and the stream must be read back) must wake the replica
// goroutine: to arm the snapshot timer at the session's first edit since
// a snapshot, to snapshot early when the log is filling, or to catch up.
// Otherwise its timer, armed for the due the previous edit made, fires
// early and is set again for the later one (run), and its deliveries are
// the submitter's own: one goroutine switch and timer reset less per
// update. Call with s.mu held.
func (s *replica) needsWake(err error) bool {
	return err != nil || !s.snapWatched || s.logFilling()
}

// integrate folds entry e into the state; code is the text after it when
// the caller already computed it. It ignores entries already folded and
// returns errGap for one that leaves a hole. Call with s.mu held.
func (s *replica) integrate(e oplog.Entry, code *string) error {
	if e.Version <= s.version {
		return nil
	}
	if e.Version != s.version+1 {
		return fmt.Errorf("version %d after %d: %w", e.Version, s.version, errGap)
	}
	var text string
	if code != nil {
		text = *code
	} else {
		t, err := ot.Apply(s.text, e.Ops)
		if err != nil {
			return fmt.Errorf("apply stored version %d: %w", e.Version, err)
		}
		text = t
	}
	// A session has a few users and connections: one copy of each id
	// serves every version the window and the opId index keep.
	e.UserID, e.ConnID = s.names.intern(e.UserID), s.names.intern(e.ConnID)
	a := Applied{SessionID: s.id, Version: e.Version, UserID: e.UserID, OpID: e.OpID, ConnID: e.ConnID,
		Timestamp: e.Timestamp, Ops: e.Ops, Code: text}
	if !s.loading {
		// Once per version, for every listener; a load skips the
		// versions nobody is sent (hashLocked does the last one).
		a.Hash = protocol.DocumentHash(text)
		s.hash, s.hashAt = a.Hash, e.Version
	}
	s.setText(text)
	s.textLen, s.version, s.seq = e.Ops.TargetLen(), e.Version, e.Seq
	s.logEnd = e.End()
	s.hist.push(a)
	s.watchLocked() // the sweep drops the window once it is quiet
	if e.OpID != "" {
		s.opIDs.add(e.UserID, e.ConnID, e.OpID, e.Version)
	}
	if !s.loading {
		s.pending = append(s.pending, a)
	}
	now := time.Now()
	if !s.dirty {
		s.dirty, s.dueBy = true, now.Add(s.e.snapshotCap())
	}
	s.lastEdit = now
	s.active.Store(now.UnixNano())
	return nil
}

// catchUp reads what the stream stored after the newest entry we hold and
// folds it in, in pieces of at most catchUpLimits, each read within
// ioTimeout, so a long or heavy log (hundreds of 256 KiB entries) never
// arrives in one answer and is not cut short by one deadline for all.
func (s *replica) catchUp(ctx context.Context) error {
	for {
		s.mu.Lock()
		seq := s.seq
		s.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, ioTimeout)
		entries, more, err := oplog.ReadAfter(pctx, s.e.in, s.id, seq, catchUpLimits)
		cancel()
		if err != nil {
			return err
		}
		s.mu.Lock()
		for _, e := range entries {
			if err := s.integrate(e, nil); err != nil {
				s.mu.Unlock()
				return fmt.Errorf("op log of %s after seq %d: %w", s.id, seq, err)
			}
		}
		s.mu.Unlock()
		if len(entries) > 0 {
			s.poke()
		}
		if !more {
			return nil
		}
	}
}

// catchUpLimits bound one catch-up read: the entries it holds in memory at
// once, before they are folded.
var catchUpLimits = oplog.Limits{Entries: 1000, Bytes: 8 << 20}

// catchUpSince reads the stream when a client knows a newer version than
// this instance (it saw it through another one), so it gets a replay
// rather than a needless full sync.
func (s *replica) catchUpSince(ctx context.Context, since int64) error {
	s.mu.Lock()
	ahead := since > s.version
	s.mu.Unlock()
	if !ahead {
		return nil
	}
	if err := s.catchUp(ctx); err != nil {
		return protocol.Wrap(protocol.CodeInternal, "the document could not be loaded", err)
	}
	return nil
}

// attach adds d to the listeners and calls Opened with the state and, when
// asked, the replay since since, under the replica lock so no update can
// slip between them.
func (s *replica) attach(d *Doc, since int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped {
		return protocol.Errorf(protocol.CodeSessionNotFound, "the session has ended")
	}
	st := State{Code: s.text, Version: s.version, Hash: s.hashLocked()}
	var replay []Applied
	replayOK := true
	if since >= 0 {
		replay, replayOK = s.hist.replay(since, s.version, s.version)
	}
	d.delivered.Store(s.version)
	s.docs[d] = struct{}{}
	s.active.Store(time.Now().UnixNano())
	d.l.Opened(st, replay, replayOK)
	return nil
}

// shutdown asks the replica goroutine to stop, starting it when the
// session is idle: it writes the final snapshot and releases the session.
func (s *replica) shutdown() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.poke()
	})
}

// life is the context of the I/O the session does on its own behalf (its
// load, catch-ups and snapshots): it is cancelled when the session is
// asked to stop. Unlike a context.WithCancel kept per session, it holds
// nothing while the session is idle: a cancelCtx keeps its done channel
// and the map of the children it ever had (every read's timeout), about
// 0.4 KiB per loaded session; a timeout derived from this one watches it
// with a goroutine that ends with the timeout's cancel.
func (s *replica) life() context.Context { return stopContext{s.stop} }

// stopContext is a context cancelled when stop is closed.
type stopContext struct{ stop chan struct{} }

func (stopContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c stopContext) Done() <-chan struct{}     { return c.stop }
func (stopContext) Value(any) any               { return nil }

func (c stopContext) Err() error {
	select {
	case <-c.stop:
		return context.Canceled
	default:
		return nil
	}
}

// stopped reports whether the session was asked to stop.
func (s *replica) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// finish releases what the session holds; it runs once, when the last
// goroutine of a stopped session ends or when the session never started.
func (s *replica) finish() {
	s.finishOnce.Do(func() {
		if s.sub != nil {
			_ = s.sub.Unsubscribe()
		}
		s.mu.Lock()
		s.hist.release(s.text, s.version)
		s.opIDs.release()
		s.setText("")
		s.e.textBytes.Add(-replicaSize)
		s.mu.Unlock()
		s.e.mu.Lock()
		if s.e.stopping[s.id] == s {
			delete(s.e.stopping, s.id)
		}
		s.e.mu.Unlock()
		s.e.wg.Done()
	})
}
