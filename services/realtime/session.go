package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// hubSession is one session as this instance holds it: its local
// connections, the document listener they share, and what the watchers
// tell about the session. It is the engine's one Listener for the session
// on this instance and fans updates out to its connections itself.
type hubSession struct {
	id string
	s  *Service

	ready   chan struct{} // closed when open finished; openErr is set before
	openErr error
	doc     *document.Doc // set before ready is closed
	sub     *nats.Subscription

	refs int // guarded by hub.mu

	mu       sync.Mutex
	conns    map[string]*client
	reserved map[string]int // admitted handshakes not yet joined, per user
	code     string         // the document as delivered to the connections
	version  int64
	hash     string // protocol.DocumentHash(code), from the engine
	language protocol.Language
	rev      uint64 // revision of the session record last applied
	users    []protocol.User
	ended    bool
	endedBy  string // why it ended: protocol.EndedDeleted, EndedExpired or EndedByHost
	closed   bool
	hints    hints
	touchAt  time.Time // last activity written to the session record

	// The notes document (notes.go), held while a connection that may
	// read notes is here: notesMu serialises opening and closing it.
	notesMu      sync.Mutex
	notesDoc     *document.Doc // guarded by notesMu
	notesRefs    int           // guarded by notesMu
	notesL       *notesListener
	notes        string // the notes as delivered to the connections
	notesVersion int64
	notesHash    string // protocol.DocumentHash(notes), from the engine

	lastRun    []byte // the newest run-output payload (run.go); nil: none yet
	lastRunRev uint64 // its revision in the documents bucket
}

func newHubSession(s *Service, id string) *hubSession {
	return &hubSession{id: id, s: s, ready: make(chan struct{}),
		conns: map[string]*client{}, reserved: map[string]int{}}
}

// open subscribes to the session's peer events, reads its record and
// attaches to its document; a since ahead of this instance makes the
// engine read the op log first, so that client can be replayed.
func (hs *hubSession) open(ctx context.Context, since int64) {
	defer close(hs.ready)
	if err := hs.openErrFree(ctx, since); err != nil {
		hs.openErr = handshakeFailure(err)
		if hs.sub != nil {
			_ = hs.sub.Unsubscribe()
		}
		if hs.doc != nil {
			hs.doc.Close()
			hs.doc = nil
		}
	}
}

func (hs *hubSession) openErrFree(ctx context.Context, since int64) error {
	sub, err := hs.s.in.NC.Subscribe(broker.EventsSubject(hs.id), hs.onPeer)
	if err != nil {
		return fmt.Errorf("subscribe to events of %s: %w", hs.id, err)
	}
	hs.sub = sub
	rec, rev, err := hs.s.store.GetAny(ctx, hs.id)
	if err != nil {
		return err
	}
	if !rec.Live() {
		return session.ErrNotFound
	}
	if rec.Ended() {
		return errSessionEnded
	}
	hs.mu.Lock()
	if rev > hs.rev { // the watcher may have delivered a newer one meanwhile
		hs.rev, hs.language = rev, rec.Language
	}
	ended, by := hs.ended, hs.endedBy
	hs.mu.Unlock()
	if ended {
		return endedError(by)
	}
	if err := hs.loadLastRun(ctx); err != nil {
		return err
	}
	doc, err := hs.s.engine.Open(ctx, hs.id, since, hs)
	if err != nil {
		return err
	}
	hs.doc = doc
	return nil
}

// close releases what the hub session holds, once nobody uses it.
func (hs *hubSession) close() {
	hs.mu.Lock()
	hs.closed = true
	purged := hs.ended && hs.endedBy != protocol.EndedByHost
	hs.mu.Unlock()
	if hs.sub != nil {
		_ = hs.sub.Unsubscribe()
	}
	// A deleted or expired session is dropped before its last Close, so the
	// engine does not write a snapshot of a document the purge has just
	// removed. An interview that ended stays readable: its last snapshots
	// are written as usual.
	if purged {
		hs.s.engine.Drop(hs.id)
		hs.s.engine.Drop(broker.NotesDocID(hs.id))
	}
	if hs.doc != nil {
		hs.doc.Close()
	}
}

// Opened implements document.Listener: the state the session starts from
// on this instance. Replays come from the engine's window (replayLocked).
func (hs *hubSession) Opened(st document.State, _ []document.Applied, _ bool) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.code, hs.version, hs.hash = st.Code, st.Version, st.Hash
}

// Applied implements document.Listener: it runs on the engine's delivery
// goroutine, in version order, and only queues frames. The sender's
// connection gets code-ack, every other one code-update in its format,
// each format encoded once.
func (hs *hubSession) Applied(a document.Applied) {
	now := hs.s.now()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if a.Version <= hs.version || hs.ended {
		return
	}
	gap := a.Version != hs.version+1
	hs.code, hs.version, hs.hash = a.Code, a.Version, a.Hash
	if gap {
		// Never happens with an engine that keeps its promise; if it does,
		// everyone is brought to the new state rather than left diverged.
		hs.s.log.Error("update out of order", "session_id", hs.id, "version", a.Version)
		for _, c := range hs.conns {
			c.sendEvent(hs.syncEventLocked(c))
			c.baseVersion = a.Version
		}
		return
	}
	hs.deliverLocked(a, protocol.TypeCodeUpdate, protocol.TypeCodeAck,
		func(c *client) bool { return a.Version > c.baseVersion }, now)
	hs.s.metrics.observeFanout(protocol.TypeCodeUpdate, a.Timestamp, now)
}

// deliverLocked queues an applied update to the connections that to accepts:
// ackType to the sender's connection, updateType in its format to every
// other one, each format encoded once.
func (hs *hubSession) deliverLocked(a document.Applied, updateType, ackType string, to func(*client) bool, now time.Time) {
	var byFormat [numFormats]*outEvent
	for _, c := range hs.conns {
		if !to(c) {
			continue
		}
		if a.ConnID == c.id {
			c.sendEvent(ackEvent(ackType, hs.id, c.ident.UserID, a.Version, a.OpID, a.Hash, now))
			continue
		}
		f := c.ident.Format
		if byFormat[f] == nil {
			byFormat[f] = updateEvent(updateType, hs.id, a, f)
		}
		c.sendEvent(byFormat[f])
	}
}

// entryFor is the presence entry of a connection about to join.
func (hs *hubSession) entryFor(c *client) presence.Entry {
	uid := c.ident.UserID
	return presence.Entry{SessionID: hs.id, UserID: uid, Name: c.ident.UserName, Color: c.ident.Color,
		Role: string(c.ident.Role), ConnID: c.id, Instance: hs.s.instance, ConnectedAt: c.opened.UnixMilli(), LastSeen: hs.s.now().UnixMilli()}
}

// replayed is the part of a joining connection's replay read before join
// takes the hub session's lock: the updates since+1..upto.
type replayed struct {
	since, upto int64
	updates     []document.Applied
	ok          bool
}

// prefetchReplay reads the updates after since up to the version the hub
// has delivered so far, without holding hs.mu (the texts may take a while
// to rebuild); join adds what was delivered meanwhile.
func (hs *hubSession) prefetchReplay(since int64) replayed {
	hs.mu.Lock()
	upto := hs.version
	hs.mu.Unlock()
	r := replayed{since: since, upto: upto}
	r.updates, r.ok = hs.doc.Replay(since, upto)
	return r
}

// replayLocked completes a prefetched replay up to hs.version, or reports
// false when the engine's window no longer reaches back to since (or since
// is ahead of the document): the client then gets a sync. hs.mu may be
// held: Doc.Replay takes only the engine session's lock.
func (hs *hubSession) replayLocked(r replayed) ([]document.Applied, bool) {
	if r.since > r.upto { // the hub may have caught up with it since
		return hs.doc.Replay(r.since, hs.version)
	}
	if !r.ok {
		return nil, false
	}
	if r.upto == hs.version {
		return r.updates, true
	}
	rest, ok := hs.doc.Replay(r.upto, hs.version)
	if !ok {
		return nil, false
	}
	return append(r.updates, rest...), true
}

// join turns a reservation into a live connection: connected first, then
// the replay (or a sync), then the others learn about the user. It consumes
// the reservation even when it fails.
func (hs *hubSession) join(c *client, pre replayed) error {
	now := hs.s.now()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	uid := c.ident.UserID
	defer hs.unreserveLocked(uid)
	if hs.ended {
		return endedError(hs.endedBy)
	}
	c.hs = hs
	c.baseVersion, c.notesBase = hs.version, hs.notesVersion
	hs.conns[c.id] = c
	users := hs.foldLocked()
	p := protocol.Connected{SessionID: hs.id, UserID: uid, Role: c.ident.Role, ConnectedAt: now.UnixMilli(),
		Sync: hs.stateLocked(c, users)}
	if hs.lastRun != nil {
		p.LastRun = new(protocol.RunOutput)
		_ = json.Unmarshal(hs.lastRun, p.LastRun) // this instance encoded it
	}
	c.sendEvent(newEvent(protocol.TypeConnected, hs.id, uid, p, now))
	if c.ident.Since >= 0 {
		if replay, ok := hs.replayLocked(pre); ok {
			for _, a := range replay {
				c.sendEvent(updateEvent(protocol.TypeCodeUpdate, hs.id, a, c.ident.Format))
			}
		} else {
			c.sendEvent(hs.syncEventLocked(c))
		}
	}
	hs.announceLocked(users, c, protocol.LeftDisconnect)
	return nil
}

// leave removes a connection; when its user has no connection left anywhere
// the others get user-left with reason.
func (hs *hubSession) leave(c *client, reason string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.conns[c.id] != c {
		return
	}
	delete(hs.conns, c.id)
	if !hs.ended {
		hs.announceLocked(hs.foldLocked(), nil, reason)
	}
}

// syncEventLocked is the full state for c, as sync and as a fallback
// replay.
func (hs *hubSession) syncEventLocked(c *client) *outEvent {
	return newEvent(protocol.TypeSync, hs.id, c.ident.UserID, hs.stateLocked(c, hs.foldLocked()), hs.s.now())
}

// stateLocked is the state c starts from: with the notes when its role
// may read them.
func (hs *hubSession) stateLocked(c *client, users []protocol.User) protocol.Sync {
	p := protocol.Sync{Code: hs.code, Version: hs.version, Language: hs.language, Users: users, Hash: hs.hash}
	if c.ident.Role.CanReadNotes() && hs.notesL != nil {
		notes, v, h := hs.notes, hs.notesVersion, hs.notesHash
		p.Notes, p.NotesVersion, p.NotesHash = &notes, &v, &h
	}
	return p
}

// broadcastLocked queues e to every connection skip does not exclude.
func (hs *hubSession) broadcastLocked(e *outEvent, skip func(*client) bool) {
	for _, c := range hs.conns {
		if skip == nil || !skip(c) {
			c.sendEvent(e)
		}
	}
}
