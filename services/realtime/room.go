package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// room is one session as this instance holds it: its local
// connections, the document listener they share, and what the watchers
// tell about the session. It is the engine's one Listener for the session
// on this instance and fans updates out to its connections itself.
type room struct {
	id string
	d  *roomDeps

	ready   chan struct{} // closed when open finished; openErr is set before
	openErr error
	doc     *document.Doc // set before ready is closed
	sub     *broker.Sub   // the session's peer events, on the hub's dispatcher

	mu       sync.Mutex
	conns    []*client      // in no order; a slice, not a map: most rooms hold two, and a map's smallest table is 200 bytes
	places   map[string]int // admitted handshakes not yet joined, per user; nil when none (the map of an idle room is dropped)
	code     string         // the document as delivered to the connections
	version  int64
	hash     string // protocol.DocumentHash(code), from the engine
	language protocol.Language
	rev      uint64         // revision of the session record last applied
	record   session.Record // that record: the touches start from it (TouchFrom)
	users    []protocol.User
	ended    bool
	endedBy  string // why it ended: protocol.EndedDeleted, EndedExpired or EndedByHost
	closed   bool
	hints    hints
	touchAt  time.Time // last activity written to the session record
	// touchEvery is this session's touch interval (touchInterval), fixed
	// when the room is made: activity runs on every client event.
	touchEvery time.Duration

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

// roomDeps is what a room uses of its instance, shared by every room of
// the hub.
type roomDeps struct {
	peers      *nats.Conn         // the session's peer events (NoEcho when the process could dial one)
	events     *broker.Dispatcher // runs every room's events subscription
	runs       jetstream.KeyValue // the documents bucket: the last run-output
	store      *session.Store
	engine     *document.Engine
	log        *slog.Logger
	metrics    *metrics
	now        func() time.Time
	instance   string
	maxUsers   int                                          // SESSION_MAX_USERS
	remote     func(sid string, spare int) []presence.Entry // the other instances' presence entries, with room for spare more
	lastBeat   func() int64                                 // this instance's last heartbeat (unix ms)
	forget     func(*room)                                  // the hub drops an ended room
	touch      func(*room)                                  // queue an activity write (toucher)
	touchEvery time.Duration
	announce   func(*room) // queue the periodic presence-update (announcer)
}

func newRoom(d *roomDeps, id string) *room {
	return &room{id: id, d: d, ready: make(chan struct{}), touchEvery: touchInterval(d.touchEvery, id)}
}

// open subscribes to the session's peer events, reads its record and
// attaches to its document; a since ahead of this instance makes the
// engine read the op log first, so that client can be replayed.
func (rm *room) open(ctx context.Context, since int64) {
	defer close(rm.ready)
	if err := rm.openErrFree(ctx, since); err != nil {
		rm.openErr = handshakeFailure(err)
		if rm.sub != nil {
			_ = rm.sub.Unsubscribe()
		}
		if rm.doc != nil {
			rm.doc.Close()
			rm.doc = nil
		}
	}
}

// openReadTimeout bounds each of the room's own reads when it opens: the
// session record and the latest run.
const openReadTimeout = 5 * time.Second

func (rm *room) openErrFree(ctx context.Context, since int64) error {
	sub, err := rm.d.events.Subscribe(rm.d.peers, broker.EventsSubject(rm.id), rm.onPeer)
	if err != nil {
		return fmt.Errorf("subscribe to events of %s: %w", rm.id, err)
	}
	rm.sub = sub
	rctx, cancel := context.WithTimeout(ctx, openReadTimeout)
	defer cancel()
	// The peers connection is not the one that writes this instance's
	// presence: the flush has the server hold the subscription before
	// anyone can learn that a user is here, so the cursors sent to that
	// user are not missed.
	if err := rm.d.peers.FlushWithContext(rctx); err != nil {
		return fmt.Errorf("subscribe to events of %s: %w", rm.id, err)
	}
	rec, rev, err := rm.d.store.GetAny(rctx, rm.id)
	if err != nil {
		return err
	}
	if !rec.Live() {
		return session.ErrNotFound
	}
	if rec.Ended() {
		return errSessionEnded
	}
	rm.mu.Lock()
	if rev > rm.rev { // the watcher may have delivered a newer one meanwhile
		rm.rev, rm.record, rm.language = rev, rec, rec.Language
	}
	ended, by := rm.ended, rm.endedBy
	rm.mu.Unlock()
	if ended {
		return endedError(by)
	}
	if err := rm.loadLastRun(rctx); err != nil {
		return err
	}
	// The document's load bounds each of its reads itself.
	doc, err := rm.d.engine.Open(ctx, rm.id, since, rm)
	if err != nil {
		return err
	}
	rm.doc = doc
	return nil
}

// close releases what the room holds, once nobody uses it.
func (rm *room) close() {
	rm.mu.Lock()
	rm.closed = true
	purged := rm.ended && rm.endedBy != protocol.EndedByHost
	rm.mu.Unlock()
	if rm.sub != nil {
		_ = rm.sub.Unsubscribe()
	}
	// A deleted or expired session is dropped before its last Close, so the
	// engine does not write a snapshot of a document the purge has just
	// removed. An interview that ended stays readable: its last snapshots
	// are written as usual.
	if purged {
		rm.d.engine.Drop(rm.id)
		rm.d.engine.Drop(broker.NotesDocID(rm.id))
	}
	if rm.doc != nil {
		rm.doc.Close()
	}
}

// Opened implements document.Listener: the state the session starts from
// on this instance. Replays come from the engine's window (replayLocked).
func (rm *room) Opened(st document.State, _ []document.Applied, _ bool) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.code, rm.version, rm.hash = st.Code, st.Version, st.Hash
}

// Applied implements document.Listener: it runs on the engine's delivery
// goroutine or the submitter of the update, in version order, and only
// queues frames. The sender's
// connection gets code-ack, every other one code-update in its format,
// each format encoded once.
func (rm *room) Applied(a document.Applied) {
	now := rm.d.now()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if a.Version <= rm.version || rm.ended {
		return
	}
	gap := a.Version != rm.version+1
	rm.code, rm.version, rm.hash = a.Code, a.Version, a.Hash
	if gap {
		// Never happens with an engine that keeps its promise; if it does,
		// everyone is brought to the new state rather than left diverged.
		rm.d.log.Error("update out of order", "session_id", rm.id, "version", a.Version)
		for _, c := range rm.conns {
			c.sendEvent(rm.syncEventLocked(c))
			c.baseVersion = a.Version
		}
		return
	}
	rm.deliverLocked(a, protocol.TypeCodeUpdate, protocol.TypeCodeAck,
		func(c *client) bool { return a.Version > c.baseVersion }, now)
	rm.d.metrics.observeFanout(protocol.TypeCodeUpdate, a.Timestamp, now)
}

// deliverLocked queues an applied update to the connections that to accepts:
// ackType to the sender's connection, updateType in its format to every
// other one, each format encoded once.
func (rm *room) deliverLocked(a document.Applied, updateType, ackType string, to func(*client) bool, now time.Time) {
	var byFormat [numFormats]*outEvent
	for _, c := range rm.conns {
		if !to(c) {
			continue
		}
		if a.ConnID == c.id {
			c.sendLocked(ackEvent(ackType, rm.id, c.ident.UserID, a.Version, a.OpID, a.Hash, now))
			continue
		}
		f := c.ident.Format
		if byFormat[f] == nil {
			byFormat[f] = updateEvent(updateType, rm.id, a, f)
		}
		c.sendLocked(byFormat[f])
	}
}

// replayed is the part of a joining connection's replay read before join
// takes the room's lock: the updates since+1..upto.
type replayed struct {
	since, upto int64
	updates     []document.Applied
	ok          bool
}

// prefetchReplay reads the updates after since up to the version the room
// has delivered so far, without holding rm.mu (the texts may take a while
// to rebuild); join adds what was delivered meanwhile.
func (rm *room) prefetchReplay(since int64) replayed {
	rm.mu.Lock()
	upto := rm.version
	rm.mu.Unlock()
	r := replayed{since: since, upto: upto}
	r.updates, r.ok = rm.doc.Replay(since, upto)
	return r
}

// replayLocked completes a prefetched replay up to rm.version, or reports
// false when the engine's window no longer reaches back to since (or since
// is ahead of the document): the client then gets a sync. rm.mu may be
// held: Doc.Replay takes only the engine replica's lock.
func (rm *room) replayLocked(r replayed) ([]document.Applied, bool) {
	if r.since > r.upto { // the hub may have caught up with it since
		return rm.doc.Replay(r.since, rm.version)
	}
	if !r.ok {
		return nil, false
	}
	if r.upto == rm.version {
		return r.updates, true
	}
	rest, ok := rm.doc.Replay(r.upto, rm.version)
	if !ok {
		return nil, false
	}
	return append(r.updates, rest...), true
}

// join turns a held place into a live connection: connected first, then
// the replay (or a sync), then the others learn about the user. It consumes
// the place even when it fails.
func (rm *room) join(c *client, pre replayed) error {
	now := rm.d.now()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	uid := c.ident.UserID
	defer rm.releasePlaceLocked(uid)
	if rm.ended {
		return endedError(rm.endedBy)
	}
	c.rm = rm
	c.baseVersion, c.notesBase = rm.version, rm.notesVersion
	rm.conns = append(rm.conns, c)
	users := rm.foldLocked()
	p := protocol.Connected{SessionID: rm.id, UserID: uid, Role: c.ident.Role, ConnectedAt: now.UnixMilli(),
		Sync: rm.stateLocked(c, users)}
	if rm.lastRun != nil {
		p.LastRun = new(protocol.RunOutput)
		_ = json.Unmarshal(rm.lastRun, p.LastRun) // this instance encoded it
	}
	c.sendEvent(newEvent(protocol.TypeConnected, rm.id, uid, p, now))
	if c.ident.Since >= 0 {
		if replay, ok := rm.replayLocked(pre); ok {
			for _, a := range replay {
				c.sendLocked(updateEvent(protocol.TypeCodeUpdate, rm.id, a, c.ident.Format))
			}
		} else {
			c.sendLocked(rm.syncEventLocked(c))
		}
	}
	rm.announceLocked(users, c, protocol.LeftDisconnect)
	return nil
}

// leave removes a connection; when its user has no connection left anywhere
// the others get user-left with reason.
func (rm *room) leave(c *client, reason string) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if !rm.removeConnLocked(c) {
		return
	}
	if !rm.ended {
		rm.announceLocked(rm.foldLocked(), nil, reason)
	}
}

// removeConnLocked takes c out of the room's connections (the last one
// takes its place); false: it was not there.
func (rm *room) removeConnLocked(c *client) bool {
	i := slices.Index(rm.conns, c)
	if i < 0 {
		return false
	}
	last := len(rm.conns) - 1
	rm.conns[i], rm.conns[last] = rm.conns[last], nil
	rm.conns = rm.conns[:last]
	if last == 0 {
		rm.conns = nil // the room may stay (held places, the notes): it keeps no array
	}
	return true
}

// syncEventLocked is the full state for c, as sync and as a fallback
// replay.
func (rm *room) syncEventLocked(c *client) *outEvent {
	return newEvent(protocol.TypeSync, rm.id, c.ident.UserID, rm.stateLocked(c, rm.foldLocked()), rm.d.now())
}

// stateLocked is the state c starts from: with the notes when its role
// may read them.
func (rm *room) stateLocked(c *client, users []protocol.User) protocol.Sync {
	p := protocol.Sync{Code: rm.code, Version: rm.version, Language: rm.language, Users: users, Hash: rm.hash}
	if c.ident.Role.CanReadNotes() && rm.notesL != nil {
		notes, v, h := rm.notes, rm.notesVersion, rm.notesHash
		p.Notes, p.NotesVersion, p.NotesHash = &notes, &v, &h
	}
	return p
}

// broadcastLocked queues e to every connection skip does not exclude.
func (rm *room) broadcastLocked(e *outEvent, skip func(*client) bool) {
	for _, c := range rm.conns {
		if skip == nil || !skip(c) {
			c.sendLocked(e)
		}
	}
}

// foldLocked is the session's presence across every instance: the entries
// other instances wrote (from the presence watcher) plus this instance's
// own connections, folded into one entry per user. A connection's
// lastSeen is the later of its entry's and its instance's last heartbeat.
func (rm *room) foldLocked() []protocol.User {
	entries := rm.d.remote(rm.id, len(rm.conns))
	beat := rm.d.lastBeat()
	for _, c := range rm.conns {
		entries = append(entries, c.presenceEntry(max(c.lastSeen, beat)))
	}
	return presence.Users(entries)
}

// announceLocked compares the users last announced with after and tells
// the local connections: user-joined and user-left to the others,
// presence-update to everyone when anything changed. joiner, when set, is
// a connection that just got the list in connected: it is told nothing
// about who joined or left before it came.
func (rm *room) announceLocked(after []protocol.User, joiner *client, reason string) {
	joined, left, changed := diffUsers(rm.users, after)
	rm.users = after
	if !changed {
		return
	}
	now := rm.d.now()
	for _, u := range joined {
		e := newEvent(protocol.TypeUserJoined, rm.id, u.ID, protocol.User{ID: u.ID, Name: u.Name, Color: u.Color, Role: u.Role}, now)
		rm.broadcastLocked(e, func(c *client) bool { return c == joiner || c.ident.UserID == u.ID })
	}
	for _, u := range left {
		e := newEvent(protocol.TypeUserLeft, rm.id, u.ID, protocol.UserLeft{Reason: reason}, now)
		rm.broadcastLocked(e, func(c *client) bool { return c == joiner || c.ident.UserID == u.ID })
	}
	rm.broadcastLocked(rm.presenceEventLocked(after), nil)
}

func (rm *room) presenceEventLocked(users []protocol.User) *outEvent {
	if users == nil {
		users = []protocol.User{}
	}
	e := newEvent(protocol.TypePresenceUpdate, rm.id, "", protocol.PresenceUpdate{Users: users}, rm.d.now())
	e.Key = presenceKey
	return e
}

// presenceChanged is called by the presence watcher after another
// instance's entry for this session changed; reason is how it went, when
// it went.
func (rm *room) presenceChanged(reason string) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.ended || rm.closed {
		return
	}
	rm.announceLocked(rm.foldLocked(), nil, reason)
}

// tickPresence hands the room to the announcer, which sends its periodic
// presence-update in the room's part of the period (without one, at once).
func (rm *room) tickPresence() {
	if rm.d.announce != nil {
		rm.d.announce(rm)
		return
	}
	rm.sendPresence()
}

// sendPresence sends the periodic presence-update, with fresh lastSeen.
func (rm *room) sendPresence() {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.ended || len(rm.conns) == 0 {
		return
	}
	users := rm.foldLocked()
	rm.users = users
	rm.broadcastLocked(rm.presenceEventLocked(users), nil)
}

// acquireNotes attaches this instance to the session's notes for one more
// connection, opening the document on the first.
func (rm *room) acquireNotes(ctx context.Context) error {
	rm.notesMu.Lock()
	defer rm.notesMu.Unlock()
	if rm.notesRefs == 0 {
		l := &notesListener{rm: rm}
		rm.mu.Lock()
		rm.notesL = l
		rm.mu.Unlock()
		d, err := rm.d.engine.Open(ctx, broker.NotesDocID(rm.id), -1, l)
		if err != nil {
			rm.mu.Lock()
			rm.notesL = nil
			rm.mu.Unlock()
			return handshakeFailure(err)
		}
		rm.notesDoc = d
	}
	rm.notesRefs++
	return nil
}

// releaseNotes drops one connection's hold; the last closes the document
// (which writes its snapshot, unless the session was dropped).
func (rm *room) releaseNotes() {
	rm.notesMu.Lock()
	defer rm.notesMu.Unlock()
	if rm.notesRefs--; rm.notesRefs > 0 {
		return
	}
	d := rm.notesDoc
	rm.notesDoc = nil
	rm.mu.Lock()
	rm.notesL = nil
	rm.mu.Unlock()
	if d != nil {
		d.Close()
	}
}

// onPeer runs on a goroutine of the events dispatcher, shared with other
// rooms, and only queues. The peers connection is NoEcho, so this
// instance's own messages do not come back; the header check stays for a
// service built without Deps.Dial, whose peer events share its one
// connection.
func (rm *room) onPeer(msg *nats.Msg) {
	if msg.Header.Get(broker.HeaderInstance) == rm.d.instance {
		return
	}
	m, checked, err := decodePeer(msg.Data)
	if err != nil {
		rm.d.log.Warn("undecodable peer message", "session_id", rm.id, "err", err)
		return
	}
	now := rm.d.now()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.ended {
		return
	}
	switch m.Kind {
	case peerCursor:
		if len(m.Envelope) == 0 || !checked && !json.Valid(m.Envelope) {
			return
		}
		e := &outEvent{Type: protocol.TypeCursorUpdate, Body: m.Envelope, Key: cursorKey(m.UserID)}
		rm.broadcastLocked(e, func(c *client) bool { return c.ident.UserID == m.UserID })
		rm.d.metrics.observeFanout(protocol.TypeCursorUpdate, m.Sent, now)
	case peerLanguage:
		rm.hints.language(m.Language, m.UserID, now)
	}
}

// recordChanged applies a newer session record: the end of the session, or
// a language every connection (the sender's too) is told about.
func (rm *room) recordChanged(r session.Record, rev uint64) {
	now := rm.d.now()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rev <= rm.rev || rm.ended {
		return
	}
	rm.rev, rm.record = rev, r
	switch {
	case r.PurgeReason != "":
		rm.endLocked(r.PurgeReason)
		return
	case r.Ended():
		rm.endLocked(protocol.EndedByHost)
		return
	}
	if r.Language == rm.language || !r.Language.Valid() {
		return
	}
	rm.language = r.Language
	by := rm.hints.takeLanguage(r.Language, now)
	rm.broadcastLocked(newEvent(protocol.TypeLanguageChanged, rm.id, by, r.Language, now), nil)
}

// endLocked tells every connection the session ended and closes them; the
// Socket.IO ones get DISCONNECT first, so their clients do not reconnect.
func (rm *room) endLocked(reason string) {
	if reason != protocol.EndedExpired && reason != protocol.EndedByHost {
		reason = protocol.EndedDeleted
	}
	rm.ended, rm.endedBy = true, reason
	e := newEvent(protocol.TypeSessionEnded, rm.id, "", protocol.SessionEnded{Reason: reason}, rm.d.now())
	for _, c := range rm.conns {
		c.sendEvent(e)
		c.closeAfterQueue(websocket.CloseNormalClosure, "session ended", protocol.LeftDisconnect, c.ws.Framing().Farewell()...)
	}
	rm.d.forget(rm)
	rm.d.log.Info("session ended", "session_id", rm.id, "reason", reason, "connections", len(rm.conns))
}

// holdPlace holds a place for uid: SESSION_MAX_USERS counts distinct users
// across every instance (a user already present may open more tabs).
func (rm *room) holdPlace(uid string) error {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.ended {
		return session.ErrNotFound
	}
	users := map[string]bool{}
	for _, e := range rm.d.remote(rm.id, 0) {
		users[e.UserID] = true
	}
	for _, c := range rm.conns {
		users[c.ident.UserID] = true
	}
	for u := range rm.places {
		users[u] = true
	}
	if !users[uid] && len(users) >= rm.d.maxUsers {
		return protocol.Errorf(protocol.CodeSessionFull, "The session already has %d participants", rm.d.maxUsers)
	}
	if rm.places == nil {
		rm.places = map[string]int{}
	}
	rm.places[uid]++
	return nil
}

func (rm *room) releasePlace(uid string) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.releasePlaceLocked(uid)
}

func (rm *room) releasePlaceLocked(uid string) {
	if rm.places[uid] > 1 {
		rm.places[uid]--
		return
	}
	delete(rm.places, uid)
	if len(rm.places) == 0 {
		rm.places = nil // a map keeps its memory when emptied
	}
}

// loadLastRun reads the session's latest run, when the room opens
// (and after a watcher that lost its place); the watcher's newer ones win
// by revision.
func (rm *room) loadLastRun(ctx context.Context) error {
	e, err := rm.d.runs.Get(ctx, broker.RunKey(rm.id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	rm.runChanged(e.Value(), e.Revision())
	return nil
}

// runChanged applies a newer latest run and sends it to every connection.
func (rm *room) runChanged(value []byte, rev uint64) {
	var r protocol.RunOutput
	if err := json.Unmarshal(value, &r); err != nil {
		rm.d.log.Error("undecodable run output", "session_id", rm.id, "err", err)
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rev <= rm.lastRunRev || rm.ended {
		return
	}
	rm.lastRun, rm.lastRunRev = value, rev
	if len(rm.conns) > 0 {
		rm.broadcastLocked(rawEvent(protocol.TypeRunOutput, rm.id, r.UserID, value, r.Timestamp), nil)
	}
}

// activity records a client event; the session record is touched at most
// once per touch interval (rm.touchEvery, the session's own) per session
// per instance, and not while the record (as the sessions watcher
// delivered it) holds an activity within the interval that another
// instance or an earlier touch wrote: the record then lags the last
// activity by less than the interval, as when one instance writes alone.
// A recorded emptiness is cleared at this instance's next due touch.
func (rm *room) activity(now time.Time) {
	rm.mu.Lock()
	last := rm.touchAt
	if rm.record.EmptySince == nil && rm.record.LastActivityAt.After(last) {
		last = rm.record.LastActivityAt
	}
	due := now.Sub(last) >= rm.touchEvery
	if due {
		rm.touchAt = now
	}
	rm.mu.Unlock()
	if due {
		rm.d.touch(rm)
	}
}

// touched records a synchronous touch (the handshake's).
func (rm *room) touched(now time.Time) {
	rm.mu.Lock()
	rm.touchAt = now
	rm.mu.Unlock()
}

// known is the session record as the room last applied it, for a touch
// to start from.
func (rm *room) known() session.Entry {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return session.Entry{Record: rm.record, Revision: rm.rev}
}

// wrote applies what a touch that started from revision base returned
// (session.TouchFrom): the record right after base, unless the watcher
// applied base's successor (or later) already.
func (rm *room) wrote(base uint64, e session.Entry) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if e.Revision > base && rm.rev == base {
		rm.rev, rm.record = e.Revision, e.Record
	}
}

// touch writes the session's activity from the record the room knows.
func (rm *room) touch(ctx context.Context, now time.Time) error {
	known := rm.known()
	e, err := rm.d.store.TouchFrom(ctx, rm.id, known, now)
	if err == nil {
		rm.wrote(known.Revision, e)
	}
	return err
}
