package document

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/services/realtime/internal/refcount"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Options tunes an Engine; zero values take the defaults.
type Options struct {
	MaxDocBytes      int           // largest document, UTF-8 bytes; default protocol.MaxDocumentBytes (256 KiB)
	SnapshotDebounce time.Duration // snapshot this long after the last edit; default 2s
	SnapshotMaxDelay time.Duration // but at most this long (less a random part up to half) after the first unsaved edit; default 10s
	Instance         string        // this instance's name, for logs
	// TransformBudget bounds the transform work one update may cost: the
	// components of the update plus those of each update it is
	// transformed over, summed over the versions it is behind
	// (DOC_TRANSFORM_BUDGET); default DefaultTransformBudget.
	TransformBudget int
	// The op log's bounds per document, which the engine keeps by
	// snapshotting in time (see logRoom): the stream's MaxMsgsPerSubject
	// (OPS_MAX_PER_SESSION; default 100000) and OPS_MAX_BYTES_PER_SESSION
	// (default 64 MiB).
	LogMaxEntries int64
	LogMaxBytes   int64
	// MemoryBudget bounds what the documents this instance holds keep in
	// memory, in bytes (DOC_MEMORY_BUDGET): their texts, opId indexes and
	// windows of recent updates (Engine.MemoryBytes); past it the least
	// recently active windows shrink first. Default DefaultMemoryBudget.
	MemoryBudget int64
	// UnloadAfter is how long a session goes without edits before its
	// window is dropped, keeping only its current text, version, hash and
	// opId index (DOC_UNLOAD_AFTER); default DefaultUnloadAfter. A session
	// with no listeners left is unloaded at once.
	UnloadAfter time.Duration
	// WindowVersions is how many versions a session's window of recent
	// updates keeps (DOC_WINDOW_VERSIONS); default DefaultWindowVersions.
	// A client that many versions behind still gets a replay on
	// reconnecting and its fullCode update transformed; one further behind
	// takes a sync.
	WindowVersions int
}

// Defaults of the memory bounds: 64 MiB holds the full windows
// (DefaultWindowVersions of a 2 KiB document, some 27 KB) of about two
// thousand sessions edited at once; past it the least recently edited
// windows shrink. A thousand sessions keep their windows whole and leave
// most of the 250 MB the benchmark's memory target allows to the
// connections.
const (
	DefaultMemoryBudget = 64 << 20
	DefaultUnloadAfter  = time.Minute
)

// DefaultWindowVersions is a minute of interview-light's typing (two
// updates a second), 20 seconds of three people typing at that rate, and
// more than a client reconnecting after a blip or a fullCode update on a
// loaded server is behind. A session idle for DefaultUnloadAfter drops its
// window anyway, so a longer one would only serve a client that is away
// while the others keep typing; that client takes a sync (one text).
const DefaultWindowVersions = 128

// trimStep: after a trim that could not reach its target, the windows
// grow by 1/trimStep of the budget before the next one (a trim sorts and
// visits every session: at 64 MiB and a thousand sessions, one every
// thousand or so updates instead of one per update).
const trimStep = 64

// shrinkKeep is how many versions a window shrunk for the memory budget
// keeps: a typist's fullCode update is based on the newest one or two.
const shrinkKeep = 1

// idleReplyBoxes is how many reply subscriptions for appends
// (oplog.Replies) an engine keeps between appends: as many as appends
// were in flight at once, one per session at most, up to this. A box
// past it is subscribed and unsubscribed for one append, which the
// server pays for (its subscription list and cache change): the bound is
// set well above the appends in flight at interview load (6,000 appends
// a second with a p99 of 35 ms is about 200 at the worst moments), at
// about 1.7 KiB per idle box (nats.go and the embedded server, measured).
const idleReplyBoxes = 1024

// DefaultTransformBudget is about 30 ms of one core on the project's
// machine (ot.Transform walks some 30 million components a second), a
// hundred times what a client reconnecting after a long outage needs.
const DefaultTransformBudget = 1000000

// Engine holds the documents of the sessions that have listeners on this
// instance. It is safe for concurrent use.
type Engine struct {
	in *broker.Infra
	// subs runs the replicas' applied subscriptions on a few goroutines
	// rather than one each.
	subs *broker.Dispatcher
	o    Options
	log  *slog.Logger
	now  func() time.Time
	// hist bounds each session's in-memory history; tests shrink it.
	hist histLimits
	// appendTimeout and appendTry bound an append (appendTimeout,
	// appendTry); tests change them. appendResends counts the appends
	// sent again because an acknowledgement was late.
	appendTimeout, appendTry time.Duration
	appendResends            atomic.Int64
	// replies receives the appends' acknowledgements (oplog.Retry.Replies).
	replies *oplog.Replies
	// appendConflicts counts appends lost to another instance's;
	// conflictReads those after which the op log had to be read (the
	// winning entry had not come through the applied subscription yet).
	appendConflicts, conflictReads atomic.Int64
	// storageRefusals counts appends the NATS server refused for want of
	// storage (oplog.ErrNoStorage).
	storageRefusals atomic.Int64
	// windowBytes is the sum of the sessions' windows (history.bytes);
	// trimming is set while one goroutine shrinks them.
	windowBytes atomic.Int64
	trimming    atomic.Bool
	// indexBytes is the sum of the sessions' opId indexes (dedupe.bytes),
	// textBytes that of their current texts and replica structs: with the
	// windows, what Options.MemoryBudget bounds.
	indexBytes atomic.Int64
	textBytes  atomic.Int64
	// trimFloor is what the windows held after a trim that could not get
	// under its target, else 0.
	trimFloor atomic.Int64

	mu       sync.Mutex
	sessions refcount.Map[string, *replica] // held by Docs and Opens in progress
	stopping map[string]*replica            // released, flushing their last snapshot
	closed   bool
	wg       sync.WaitGroup // the sessions: each is freed by its last goroutine (finish)
	// The sweep: one goroutine for the instance, started by the first
	// Open and ended by Close (see sweep).
	sweeping  bool
	watchMu   sync.Mutex // watch; taken after a replica's mu
	watch     []*replica // the sessions the next tick looks at (replica.watched)
	sweepStop chan struct{}
	sweepDone chan struct{}
}

// NewEngine returns an engine over the JetStream layout in; now stamps
// updates (time.Now when nil).
func NewEngine(in *broker.Infra, o Options, log *slog.Logger, now func() time.Time) *Engine {
	if o.TransformBudget <= 0 {
		o.TransformBudget = DefaultTransformBudget
	}
	if o.MaxDocBytes <= 0 {
		o.MaxDocBytes = protocol.MaxDocumentBytes
	}
	if o.SnapshotDebounce <= 0 {
		o.SnapshotDebounce = 2 * time.Second
	}
	if o.SnapshotMaxDelay <= 0 {
		o.SnapshotMaxDelay = 10 * time.Second
	}
	if o.LogMaxEntries <= 0 {
		o.LogMaxEntries = 100000
	}
	if o.LogMaxBytes <= 0 {
		o.LogMaxBytes = 64 << 20
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = DefaultMemoryBudget
	}
	if o.UnloadAfter <= 0 {
		o.UnloadAfter = DefaultUnloadAfter
	}
	if o.WindowVersions <= 0 {
		o.WindowVersions = DefaultWindowVersions
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	hist := defaultHistLimits
	hist.versions = o.WindowVersions
	return &Engine{in: in, subs: broker.NewDispatcher(0, 0), replies: oplog.NewReplies(in.NC, idleReplyBoxes), o: o, log: log.With("component", "document", "instance", o.Instance), now: now,
		hist: hist, appendTimeout: appendTimeout, appendTry: appendTry, stopping: map[string]*replica{},
		sweepStop: make(chan struct{}), sweepDone: make(chan struct{})}
}

// Open attaches l to the session's document: on the first open of the
// session on this instance it loads the snapshot and the ops after it and
// subscribes to the session's applied subject. l.Opened is called before
// Open returns; since >= 0 asks for the updates after since (-1: none).
func (e *Engine) Open(ctx context.Context, sessionID string, since int64, l Listener) (*Doc, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, protocol.Errorf(protocol.CodeInternal, "the document engine is shut down")
	}
	s, created := e.sessions.Acquire(sessionID, func() *replica { return newReplica(e, sessionID) })
	if created {
		e.wg.Add(1) // the session's slot, freed when it has stopped
	}
	if !e.sweeping {
		e.sweeping = true
		go e.sweep()
	}
	e.mu.Unlock()

	if created {
		// Loading belongs to the session, not to this caller: a cancelled
		// Open must not fail the others waiting for the same load.
		go s.start()
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		e.release(s)
		return nil, protocol.Wrap(protocol.CodeInternal, "opening the document was cancelled", ctx.Err())
	}
	if s.loadErr != nil {
		e.release(s)
		return nil, protocol.Wrap(protocol.CodeInternal, "the document could not be loaded",
			fmt.Errorf("load session %s: %w", sessionID, s.loadErr))
	}
	if err := s.catchUpSince(ctx, since); err != nil {
		e.release(s)
		return nil, err
	}
	d := &Doc{s: s, l: l}
	if err := s.attach(d, since); err != nil {
		e.release(s)
		return nil, err
	}
	return d, nil
}

// release drops one reference to s; the last one removes the session from
// the engine and stops it, flushing its snapshot.
func (e *Engine) release(s *replica) {
	e.mu.Lock()
	last, removed := e.sessions.Release(s)
	if removed {
		e.stopping[s.id] = s
	}
	e.mu.Unlock()
	if last {
		s.shutdown()
	}
}

// Drop forgets a session that ended: its listeners get nothing more, its
// Docs refuse updates with SESSION_NOT_FOUND, and no snapshot is written,
// also when its last Doc has just closed and it is still stopping.
func (e *Engine) Drop(sessionID string) {
	e.mu.Lock()
	s, ok := e.sessions.Get(sessionID)
	if ok {
		e.sessions.Forget(s)
	} else {
		s = e.stopping[sessionID]
	}
	e.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	s.dropped = true
	s.mu.Unlock()
	s.shutdown()
}

// Close flushes every session's snapshot and stops everything; it returns
// when every goroutine of the engine has ended. Open fails afterwards.
func (e *Engine) Close() {
	e.mu.Lock()
	first := !e.closed
	e.closed = true
	all := e.sessions.Values()
	for _, s := range all {
		e.sessions.Forget(s)
	}
	sweeping := e.sweeping
	e.mu.Unlock()
	if sweeping {
		if first {
			close(e.sweepStop)
		}
		<-e.sweepDone
	}
	for _, s := range all {
		s.shutdown()
	}
	e.wg.Wait()
	e.subs.Close() // every replica has unsubscribed
	e.replies.Close()
}

// connected returns nil while the NATS connection is up, else the nats.go
// error that says why it is not, so callers (broker.Unavailable) can tell
// an outage from a failure.
func (e *Engine) connected() error {
	switch {
	case e.in.NC.IsConnected():
		return nil
	case e.in.NC.IsClosed():
		return nats.ErrConnectionClosed
	default:
		return nats.ErrDisconnected
	}
}

// Stats reports how many sessions this instance holds.
func (e *Engine) Stats() (sessions int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions.Len()
}

// WindowBytes reports the bytes the sessions' windows of recent updates
// hold on this instance (bounded by Options.MemoryBudget).
func (e *Engine) WindowBytes() int64 {
	return e.windowBytes.Load()
}

// AppendResends reports how many op-log appends were sent again because
// their acknowledgement did not come in time (oplog.Publish).
func (e *Engine) AppendResends() int64 {
	return e.appendResends.Load()
}

// AppendConflicts reports how many op-log appends this instance lost to
// another writer's (each is transformed and sent again), and how many of
// those read the op log to catch up: the others found the winning entry
// already delivered by the applied subscription.
func (e *Engine) AppendConflicts() (lost, read int64) {
	return e.appendConflicts.Load(), e.conflictReads.Load()
}

// StorageRefusals reports how many op-log appends the NATS server refused
// because its JetStream storage was full (each answered with
// oplog.NoStorageRefusal).
func (e *Engine) StorageRefusals() int64 {
	return e.storageRefusals.Load()
}

// MemoryBytes reports the bytes the documents hold on this instance, what
// Options.MemoryBudget bounds: the windows, the opId indexes, the current
// texts and the replicas themselves (a string held in two places, such as
// the current text and the newest version's in the window, counts twice).
func (e *Engine) MemoryBytes() int64 {
	return e.windowBytes.Load() + e.indexBytes.Load() + e.textBytes.Load()
}

// trim shrinks the windows of the least recently active sessions, one
// replica lock at a time, until the total is under three quarters of the
// budget, and checks again after each pass. It returns at once when under
// budget, when another goroutine is trimming, or when the windows grew by
// less than trimStep of the budget since a trim that could not reach its
// target (the texts and indexes of the loaded documents are not shrunk:
// without this every update would sort and visit every session). Callers
// hold no replica lock.
func (e *Engine) trim() {
	// A submitter that found another one trimming leaves its push to that
	// one, which checks again once it has let go: the floor its pass left
	// does not count a push made after the pass visited that window.
	for e.overBudget() && e.trimming.CompareAndSwap(false, true) {
		e.trimPass()
		e.trimming.Store(false)
	}
}

// overBudget reports whether a trim is due (see trim).
func (e *Engine) overBudget() bool {
	return e.MemoryBytes() > e.o.MemoryBudget && e.windowBytes.Load() > e.trimFloor.Load()+e.o.MemoryBudget/trimStep
}

// trimPass shrinks the least recently active windows first until the
// total is under three quarters of the budget, and records the floor when
// it cannot get there. Only the goroutine holding trimming calls it.
func (e *Engine) trimPass() {
	target := e.o.MemoryBudget / 4 * 3
	e.trimFloor.Store(0)
	type byAge struct {
		s      *replica
		active int64
	}
	e.mu.Lock()
	held := e.sessions.Values()
	e.mu.Unlock()
	all := make([]byAge, 0, len(held))
	for _, s := range held {
		all = append(all, byAge{s, s.active.Load()})
	}
	slices.SortFunc(all, func(a, b byAge) int { return cmp.Compare(a.active, b.active) })
	var left int64 // what the windows held as the pass let go of each
	for _, a := range all {
		if e.MemoryBytes() <= target {
			return
		}
		s := a.s
		s.mu.Lock()
		s.hist.shrink(shrinkKeep, s.text, s.version)
		left += int64(s.hist.bytes)
		s.mu.Unlock()
	}
	// The floor is what this pass left, not the total now: a window pushed
	// to after its visit is the next pass's to shrink, which trim would
	// never start if the floor counted that push. A session that went
	// meanwhile gave its bytes back, hence the min.
	if e.MemoryBytes() > target {
		e.trimFloor.Store(min(left, e.windowBytes.Load()))
	}
}
