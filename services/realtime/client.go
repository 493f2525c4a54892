package realtime

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime/internal/wsconn"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// client is the protocol side of one connection, either framing: its
// identity and role, its events and their rate limits, its place in the
// room. The socket itself (send queue, writer, keepalives, framing)
// is a wsconn.Conn. Its goroutines are the reader (a poller's worker
// while frames arrive, with WS_READER=epoll, or a goroutine of its own;
// its end starts the connection's leave), the writer only while frames
// wait to be written, and the submitter only while events wait for the
// document (submitter.go).
type client struct {
	id     string
	d      *clientDeps
	ws     *wsconn.Conn // its Framing is the client's framing
	ident  identity
	rm     *room
	ip     string
	opened int64 // unix milliseconds of the upgrade

	// Events that wait for the document or the session record
	// (code-update, language-changed, sync) run in order on a submitter
	// goroutine started on demand, so the reader never waits for
	// JetStream and cursor updates are relayed at once.
	subMu      sync.Mutex
	subQueue   []queuedEvent
	submitting bool
	subRunning bool           // the submitter is handling an event it took from subQueue
	subWG      sync.WaitGroup // the submitter, while it runs

	reasonMu sync.Mutex
	reason   string // why the connection ended; the first cause wins

	budget connBudget // WS_EVENTS_PER_SECOND of this connection; reader only
	// flooded is set by the reader once it cut the client off.
	flooded bool
	// notes: the client holds its room's notes (its role may read them),
	// released when it leaves.
	notes bool

	// baseVersion is the document version the connection was brought to by
	// connected (or sync); updates at or below it are not sent. Guarded by rm.mu (its room).
	baseVersion int64
	// notesBase is the same for the notes, of a connection that reads them.
	notesBase int64
	// lastSeen is the lastSeen of the connection's presence entry (unix
	// milliseconds): when it joined, as written. presenceEntry builds the
	// rest from the identity; the lists show the later of it and the
	// instance's last heartbeat. Set before the room has the connection.
	lastSeen int64

	presMu sync.Mutex // orders presence writes: no refresh after the delete
	left   bool       // guarded by presMu
}

// clientDeps is what a client uses of its instance, shared by every
// client.
type clientDeps struct {
	log             *slog.Logger
	metrics         *metrics
	now             func() time.Time
	limits          *limitStore   // per-user rates, kept across reconnects
	maxFrameBytes   int           // WS_MAX_FRAME_BYTES
	sendQueue       int           // WS_SEND_QUEUE
	writeTimeout    time.Duration // WS_WRITE_TIMEOUT
	eventsPerSecond int           // WS_EVENTS_PER_SECOND
	// handle runs one validated event (events.go).
	handle func(*client, clientEvent) error
	// submitters runs the submit loops (submitter.go).
	submitters *submitters
	poller     *wsconn.Poller // reads idle connections; nil: a goroutine each
}

func newClient(d *clientDeps, ws *websocket.Conn, fr wsconn.Framing, id string, ip string) *client {
	c := &client{id: id, d: d, ip: ip, opened: d.now().UnixMilli(),
		budget: newConnBudget(d.eventsPerSecond, d.now())}
	c.ws = wsconn.New(ws, fr, wsconn.Options{MaxFrameBytes: d.maxFrameBytes, SendQueue: d.sendQueue,
		WriteTimeout: d.writeTimeout, Overflow: c.overflow, CatchUp: c.catchUp, Poller: d.poller})
	return c
}

// setReason records why the connection ends, unless a cause is already known.
func (c *client) setReason(r string) {
	c.reasonMu.Lock()
	if c.reason == "" {
		c.reason = r
	}
	c.reasonMu.Unlock()
}

func (c *client) leaveReason() string {
	c.reasonMu.Lock()
	defer c.reasonMu.Unlock()
	if c.reason == "" {
		return protocol.LeftDisconnect
	}
	return c.reason
}

// overflow decides the fate of a client whose send queue is full: one
// that does not read the refusals of its flood is cut off with 1008, any
// other is a slow consumer and is disconnected, so it never holds up the
// hub or the other clients.
func (c *client) overflow(refusal bool) {
	if refusal {
		// The queue is full of answers to frames beyond the budget
		// that the client does not read: it is flooding.
		c.cutOff(nil, protocol.Errorf(protocol.CodeRateLimited,
			"Too many events on this connection, and their refusals are not read: this connection is closed").
			WithDetails(map[string]any{"limit": "connection", "disconnect": true}))
		return
	}
	c.d.metrics.slowConsumers.Inc()
	c.d.log.Warn("slow consumer disconnected", "conn_id", c.id, "session_id", c.ident.SessionID,
		"user_id", c.ident.UserID, "queue", c.d.sendQueue)
	c.kill(protocol.LeftDisconnect)
}

// sendEvent queues an event framed for this connection.
func (c *client) sendEvent(e *outEvent) bool {
	if !c.ws.SendMessage(e, false) {
		return false
	}
	c.d.metrics.out(e.Type, 1)
	return true
}

// maxInlineFanout is the most connections a room may hold for its
// broadcasts to be written by the sender itself (wsconn's Frame.Inline):
// the writes are made with rm.mu held, so a crowd's fan-out, hundreds of
// writes, is left to the connections' writer goroutines.
const maxInlineFanout = 8

// sendLocked queues an event of the room, sent with rm.mu held (its
// broadcasts and deliveries). When the send queue is full and code-updates
// wait in it, they are replaced by one sync (catchUp) rather than the
// connection being cut off: the document is state, and a reader that lags
// behind is caught up with it. A code-ack keeps the updates queued before
// it, so the versions the client sees stay consecutive up to the sync.
func (c *client) sendLocked(e *outEvent) bool {
	f := wsconn.Frame{Data: e.Frame(c.ws.Framing()), Key: e.Key, CatchUp: true, Inline: len(c.rm.conns) <= maxInlineFanout}
	switch e.Type {
	case protocol.TypeCodeUpdate, protocol.TypeSync:
		f.Update = true
	case protocol.TypeCodeAck, protocol.TypeNotesAck:
		f.Ack, f.CatchUp = true, false // its version must follow the updates before it
	}
	if !c.ws.Send(f) {
		return false
	}
	c.d.metrics.out(e.Type, 1)
	return true
}

// catchUp is the sync that replaces the code-updates queued for a client
// whose send queue is full: the room's state now, from which it goes on
// (baseVersion). It runs in Send under the queue's lock, called by
// sendLocked, so rm.mu is held.
func (c *client) catchUp() (wsconn.Frame, bool) {
	rm := c.rm
	e := rm.syncEventLocked(c)
	c.baseVersion, c.notesBase = rm.version, rm.notesVersion
	c.d.metrics.catchUps.Inc()
	c.d.metrics.out(e.Type, 1)
	return wsconn.Frame{Data: e.Frame(c.ws.Framing()), Update: true}, true
}

// sendError answers the client with the protocol's error event.
func (c *client) sendError(err error) {
	c.d.metrics.refused("event", err)
	e := errorEvent(c.ident.SessionID, c.ident.UserID, err, c.d.now())
	if c.ws.SendMessage(e, overBudget(err)) {
		c.d.metrics.out(e.Type, 1)
	}
}

// closeAfterQueue sends what is queued, then extra frames and a close frame
// with code and text; when the queue has no room it cuts the connection.
func (c *client) closeAfterQueue(code int, text string, reason string, extra ...[]byte) {
	c.setReason(reason)
	c.ws.CloseAfterQueue(code, text, extra...)
}

// kill ends the connection at once: the TCP connection is closed, which
// unblocks the reader and the writer wherever they are.
func (c *client) kill(reason string) {
	c.setReason(reason)
	c.ws.Kill()
}

// handleFrame handles one client frame on the reader (the connection's
// reader goroutine, or a poller's worker: one frame at a time, in order);
// false ends the reader (the client left). It never waits for the
// document: those events go to the submitter.
func (c *client) handleFrame(mt int, data []byte) bool {
	if c.flooded || c.ws.Cut() {
		return true // cut off: what is still in flight is dropped until the close completes
	}
	in, err := decodeFrame(c.ws.Framing(), mt, data, c.ident.SessionID)
	if in.kind == inEvent {
		// The role first: what a role may not send is FORBIDDEN,
		// whether or not its payload is well formed.
		if perr := c.permit(in.env); perr != nil {
			err = perr
		}
	}
	if in.kind == inLeave {
		c.setReason(protocol.LeftManual)
		return false
	}
	if in.env.Type != "" {
		c.d.metrics.eventsIn.WithLabelValues(typeLabel(in.env.Type)).Inc()
	}
	// Every frame is charged, keepalives too, so a flood of any kind
	// is answered at most WS_EVENTS_PER_SECOND times per second.
	over, flooding := c.budget.spend(c.d.now())
	switch {
	case flooding:
		// After the answers to what came before, like every refusal. The
		// closure captures a copy: capturing in itself would move it to
		// the heap for every frame (about 300 bytes each), not only this
		// one.
		last := in
		c.submitOrdered(queuedEvent{fn: func() { c.floodedOut(last, over) }})
		c.flooded = true
		return true
	case over != nil && (in.kind == inEvent || err != nil):
		err = withDetails(over, protocol.Truncate(in.env.Type, maxTypeEcho), probeOpID(in.env))
	case err == nil && in.kind == inEvent && ordered(in.ev.typ):
		if err = c.limitEvent(in.ev); err == nil {
			c.submitOrdered(queuedEvent{ev: in.ev, ackID: in.ackID})
			return true
		}
	case err == nil && in.kind == inEvent:
		err = c.d.handle(c, in.ev)
	}
	if err != nil && in.kind == inEvent && ordered(in.env.Type) {
		// A refusal keeps its place behind the client's earlier events.
		c.submitOrdered(queuedEvent{ackID: in.ackID, err: err})
		return true
	}
	if err != nil || in.ackID != nil {
		c.answer(in.ackID, err)
	}
	return true
}

// floodedOut cuts off a connection that kept sending far beyond its
// budget: its last frame is refused, then it is closed with 1008 (policy
// violation); a Socket.IO client gets DISCONNECT first, so it does not
// reconnect by itself in a loop.
func (c *client) floodedOut(in inbound, over *protocol.Error) {
	d := map[string]any{"limit": "connection", "disconnect": true}
	if in.env.Type != "" {
		d["type"] = protocol.Truncate(in.env.Type, maxTypeEcho)
	}
	if id := probeOpID(in.env); id != "" {
		d["opId"] = id
	}
	c.cutOff(in.ackID, protocol.Errorf(protocol.CodeRateLimited,
		"%s; this connection kept sending far beyond it and is closed", over.Message).WithDetails(d))
}

// cutOff ends a flooding connection, once: the last error (and the
// Socket.IO ack of the frame it answers), DISCONNECT for Socket.IO, then
// close 1008. These frames go past the send queue's bound, which a
// flooder that does not read its refusals has filled; anything else queued
// for it from now on is dropped.
func (c *client) cutOff(ackID *int64, last error) {
	if !c.ws.CutOff() {
		return
	}
	c.d.metrics.floodCuts.Inc()
	c.d.metrics.refused("event", last)
	c.d.log.Warn("flooding client disconnected", "conn_id", c.id, "session_id", c.ident.SessionID,
		"user_id", c.ident.UserID, "ip", c.ip)
	c.setReason(protocol.LeftDisconnect)
	e := errorEvent(c.ident.SessionID, c.ident.UserID, last, c.d.now())
	frames := []wsconn.Frame{{Data: e.Frame(c.ws.Framing()), Final: true}}
	if ackID != nil {
		if f := c.ws.Framing().Ack(*ackID, last); f != nil {
			frames = append(frames, wsconn.Frame{Data: f, Final: true})
		}
	}
	for _, f := range c.ws.Framing().Farewell() {
		frames = append(frames, wsconn.Frame{Data: f, Final: true})
	}
	frames = append(frames, wsconn.Frame{Close: &websocket.CloseError{Code: websocket.ClosePolicyViolation, Text: "rate limit exceeded"}, Final: true})
	for _, f := range frames {
		if !c.ws.Send(f) {
			return
		}
	}
	c.d.metrics.out(e.Type, 1)
}

// answer reports a refused event to the client (never silently) and
// acknowledges a Socket.IO event that asked for it.
func (c *client) answer(ackID *int64, err error) {
	if err != nil {
		c.sendError(err)
	}
	if ackID != nil {
		if f := c.ws.Framing().Ack(*ackID, err); f != nil {
			c.ws.Send(wsconn.Frame{Data: f, Refusal: overBudget(err)})
		}
	}
}

// overBudget reports the refusal of a frame beyond WS_EVENTS_PER_SECOND.
func overBudget(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == protocol.CodeRateLimited && pe.Details["limit"] == "connection"
}

// presenceEntry is the connection's presence entry as of lastSeen; c has
// joined its room (c.rm is set).
func (c *client) presenceEntry(lastSeen int64) presence.Entry {
	return presence.Entry{SessionID: c.rm.id, UserID: c.ident.UserID, Name: c.ident.UserName, Color: c.ident.Color,
		Role: string(c.ident.Role), ConnID: c.id, Instance: c.rm.d.instance, ConnectedAt: c.opened, LastSeen: lastSeen,
		Vouched: true}
}
