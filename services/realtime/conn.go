package realtime

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

const (
	// writeWait bounds one frame's write: a client whose TCP window stays
	// shut that long is gone.
	writeWait = 10 * time.Second
	// closeGrace is how long the writer waits for the client's close frame
	// after sending its own, before dropping the TCP connection.
	closeGrace = time.Second
)

// outFrame is one item of a connection's send queue.
type outFrame struct {
	data  []byte
	typ   string                // event type, for metrics; "" for protocol frames
	close *websocket.CloseError // set: send this close frame, then end
	// refusal marks the answer to a frame beyond WS_EVENTS_PER_SECOND: when
	// it does not fit the send queue the client is flooding (1008), not
	// merely slow. final marks the frames of that cut-off, which go past
	// the queue's bound (at most four, once).
	refusal, final bool
}

// conn is one client connection, either framing. It has two goroutines:
// the reader (started by the HTTP handler after the upgrade, which also
// owns the connection's end) and the writer, the only one writing data
// frames; plus, only while events wait for the document, the submitter
// (submitter.go).
type conn struct {
	id     string
	s      *Service
	ws     *websocket.Conn
	fr     framing
	ident  identity
	hs     *hubSession
	ip     string
	opened time.Time

	// The send queue is a slice that the writer takes whole, so an idle
	// connection holds no queue memory; pending counts the frames queued
	// or being written, bounded by WS_SEND_QUEUE.
	sendMu  sync.Mutex
	queue   []outFrame
	pending int
	wake    chan struct{} // capacity 1: the queue has frames

	// Events that wait for the document or the session record
	// (code-update, language-changed, sync) run in order on a submitter
	// goroutine started on demand, so the reader never waits for
	// JetStream and cursor updates are relayed at once.
	subMu      sync.Mutex
	subQueue   []queuedEvent
	submitting bool
	subRunning bool           // the submitter is handling an event it took from subQueue
	subWG      sync.WaitGroup // the submitter, while it runs

	closing   chan struct{} // closed by kill: stop now
	killOnce  sync.Once
	readDone  chan struct{}
	writeDone chan struct{}

	reasonMu sync.Mutex
	reason   string // why the connection ended; the first cause wins

	budget connBudget  // WS_EVENTS_PER_SECOND of this connection; reader only
	cut    atomic.Bool // cut off for flooding: only the final frames are still sent

	// baseVersion is the document version the connection was brought to by
	// connected (or sync); updates at or below it are not sent. Guarded by hs.mu.
	baseVersion int64
	// notesBase is the same for the notes, of a connection that reads them.
	notesBase int64
	// entry is the connection's presence entry. Guarded by hs.mu.
	entry presence.Entry

	presMu sync.Mutex // orders presence writes: no refresh after the delete
	left   bool       // guarded by presMu
}

func newConn(s *Service, ws *websocket.Conn, fr framing, id string, ip string) *conn {
	// A bigger frame makes gorilla close the connection with 1009.
	ws.SetReadLimit(int64(s.cfg.WSMaxFrameBytes))
	return &conn{
		id: id, s: s, ws: ws, fr: fr, ip: ip, opened: s.now(),
		wake:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		readDone:  make(chan struct{}),
		writeDone: make(chan struct{}),
		budget:    newConnBudget(s.cfg.WSEventsPerSecond, s.now()),
	}
}

// setReason records why the connection ends, unless a cause is already known.
func (c *conn) setReason(r string) {
	c.reasonMu.Lock()
	if c.reason == "" {
		c.reason = r
	}
	c.reasonMu.Unlock()
}

func (c *conn) leaveReason() string {
	c.reasonMu.Lock()
	defer c.reasonMu.Unlock()
	if c.reason == "" {
		return protocol.LeftDisconnect
	}
	return c.reason
}

// enqueue queues a frame without ever blocking: a client that stopped
// reading fills its queue and is cut off, so it never holds up the hub or
// the other clients.
func (c *conn) enqueue(f outFrame) bool {
	select {
	case <-c.closing:
		return false
	default:
	}
	if c.cut.Load() && !f.final {
		return false // being cut off: nothing but the last error and the close
	}
	c.sendMu.Lock()
	if c.pending >= c.s.cfg.WSSendQueue && !f.final {
		c.sendMu.Unlock()
		if f.refusal {
			// The queue is full of answers to frames beyond the budget
			// that the client does not read: it is flooding.
			c.cutOff(nil, protocol.Errorf(protocol.CodeRateLimited,
				"Too many events on this connection, and their refusals are not read: this connection is closed").
				WithDetails(map[string]any{"limit": "connection", "disconnect": true}))
			return false
		}
		c.s.metrics.slowConsumers.Inc()
		c.s.log.Warn("slow consumer disconnected", "conn_id", c.id, "session_id", c.ident.SessionID,
			"user_id", c.ident.UserID, "queue", c.s.cfg.WSSendQueue)
		c.kill(protocol.LeftDisconnect)
		return false
	}
	c.queue = append(c.queue, f)
	c.pending++
	c.sendMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // the writer was woken already
	}
	return true
}

// takeQueued hands the writer every queued frame at once.
func (c *conn) takeQueued() []outFrame {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	b := c.queue
	c.queue = nil
	return b
}

// written releases n frames of the queue's bound.
func (c *conn) written(n int) {
	c.sendMu.Lock()
	c.pending -= n
	c.sendMu.Unlock()
}

// sendEvent queues an event framed for this connection.
func (c *conn) sendEvent(e *outEvent) bool {
	if !c.enqueue(outFrame{data: e.frame(c.fr), typ: e.typ}) {
		return false
	}
	c.s.metrics.out(e.typ, 1)
	return true
}

// sendError answers the client with the protocol's error event.
func (c *conn) sendError(err error) {
	c.s.metrics.refused("event", err)
	e := errorEvent(c.ident.SessionID, c.ident.UserID, err, c.s.now())
	if c.enqueue(outFrame{data: e.frame(c.fr), typ: e.typ, refusal: overBudget(err)}) {
		c.s.metrics.out(e.typ, 1)
	}
}

// closeAfterQueue sends what is queued, then extra frames and a close frame
// with code and text; when the queue has no room it cuts the connection.
func (c *conn) closeAfterQueue(code int, text string, reason string, extra ...[]byte) {
	c.setReason(reason)
	for _, f := range extra {
		if !c.enqueue(outFrame{data: f}) {
			return
		}
	}
	c.enqueue(outFrame{close: &websocket.CloseError{Code: code, Text: text}})
}

// kill ends the connection at once: the TCP connection is closed, which
// unblocks the reader and the writer wherever they are.
func (c *conn) kill(reason string) {
	c.setReason(reason)
	c.killOnce.Do(func() {
		close(c.closing)
		_ = c.ws.NetConn().Close()
	})
}

// writeLoop is the writer goroutine: queued frames, keepalives and the close.
func (c *conn) writeLoop(pingEvery time.Duration) {
	defer close(c.writeDone)
	defer c.ws.Close()
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-c.wake:
			batch := c.takeQueued()
			for _, f := range batch {
				if f.close != nil {
					msg := websocket.FormatCloseMessage(f.close.Code, f.close.Text)
					_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
					select {
					case <-c.readDone:
					case <-c.closing:
					case <-time.After(closeGrace):
					}
					return
				}
				if err := c.write(f.data); err != nil {
					c.kill(protocol.LeftDisconnect)
					return
				}
			}
			c.written(len(batch))
		case <-t.C:
			if err := c.fr.ping(c.ws, time.Now().Add(writeWait)); err != nil {
				c.kill(protocol.LeftDisconnect)
				return
			}
		case <-c.closing:
			return
		case <-c.readDone:
			return
		}
	}
}

func (c *conn) write(data []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// readLoop is the reader: it runs on the connection's goroutine until the
// client goes, misses its keepalives, or the connection is closed. It never
// waits for the document: those events go to the submitter.
func (c *conn) readLoop(keepalive time.Duration) {
	defer close(c.readDone)
	extend := func() { _ = c.ws.SetReadDeadline(time.Now().Add(keepalive)) }
	extend()
	c.ws.SetPongHandler(func(string) error { extend(); return nil })
	flooded := false
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			c.setReason(c.readFailure(err))
			return
		}
		extend()
		if flooded || c.cut.Load() {
			continue // cut off: what is still in flight is dropped until the close completes
		}
		in, err := decodeFrame(c.fr, mt, data, c.ident.SessionID)
		if in.kind == inEvent {
			// The role first: what a role may not send is FORBIDDEN,
			// whether or not its payload is well formed.
			if perr := c.permit(in.env); perr != nil {
				err = perr
			}
		}
		if in.kind == inLeave {
			c.setReason(protocol.LeftManual)
			return
		}
		if in.env.Type != "" {
			c.s.metrics.eventsIn.WithLabelValues(typeLabel(in.env.Type)).Inc()
		}
		// Every frame is charged, keepalives too, so a flood of any kind
		// is answered at most WS_EVENTS_PER_SECOND times per second.
		over, flooding := c.budget.spend(c.s.now())
		switch {
		case flooding:
			// After the answers to what came before, like every refusal.
			c.submitOrdered(queuedEvent{fn: func() { c.floodedOut(in, over) }})
			flooded = true
			continue
		case over != nil && (in.kind == inEvent || err != nil):
			err = withDetails(over, protocol.Truncate(in.env.Type, maxTypeEcho), probeOpID(in.env))
		case err == nil && in.kind == inEvent && ordered(in.ev.typ):
			if err = c.limitEvent(in.ev); err == nil {
				c.submitOrdered(queuedEvent{ev: in.ev, ackID: in.ackID})
				continue
			}
		case err == nil && in.kind == inEvent:
			err = c.s.handleEvent(c, in.ev)
		}
		if err != nil && in.kind == inEvent && ordered(in.env.Type) {
			// A refusal keeps its place behind the client's earlier events.
			c.submitOrdered(queuedEvent{ackID: in.ackID, err: err})
			continue
		}
		if err != nil || in.ackID != nil {
			c.answer(in.ackID, err)
		}
	}
}

// floodedOut cuts off a connection that kept sending far beyond its
// budget: its last frame is refused, then it is closed with 1008 (policy
// violation); a Socket.IO client gets DISCONNECT first, so it does not
// reconnect by itself in a loop.
func (c *conn) floodedOut(in inbound, over *protocol.Error) {
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
func (c *conn) cutOff(ackID *int64, last error) {
	if c.cut.Swap(true) {
		return
	}
	c.s.metrics.floodCuts.Inc()
	c.s.metrics.refused("event", last)
	c.s.log.Warn("flooding client disconnected", "conn_id", c.id, "session_id", c.ident.SessionID,
		"user_id", c.ident.UserID, "ip", c.ip)
	c.setReason(protocol.LeftDisconnect)
	e := errorEvent(c.ident.SessionID, c.ident.UserID, last, c.s.now())
	frames := []outFrame{{data: e.frame(c.fr), typ: e.typ, final: true}}
	if ackID != nil {
		if f := c.fr.ack(*ackID, last); f != nil {
			frames = append(frames, outFrame{data: f, final: true})
		}
	}
	for _, f := range c.fr.farewell() {
		frames = append(frames, outFrame{data: f, final: true})
	}
	frames = append(frames, outFrame{close: &websocket.CloseError{Code: websocket.ClosePolicyViolation, Text: "rate limit exceeded"}, final: true})
	for _, f := range frames {
		if !c.enqueue(f) {
			return
		}
	}
	c.s.metrics.out(e.typ, 1)
}

// answer reports a refused event to the client (never silently) and
// acknowledges a Socket.IO event that asked for it.
func (c *conn) answer(ackID *int64, err error) {
	if err != nil {
		c.sendError(err)
	}
	if ackID != nil {
		if f := c.fr.ack(*ackID, err); f != nil {
			c.enqueue(outFrame{data: f, refusal: overBudget(err)})
		}
	}
}

// overBudget reports the refusal of a frame beyond WS_EVENTS_PER_SECOND.
func overBudget(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == protocol.CodeRateLimited && pe.Details["limit"] == "connection"
}

// readFailure turns the error that ended the read loop into a leave reason.
func (c *conn) readFailure(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return c.fr.closedBy(ce.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return protocol.LeftTimeout // no pong (or anything) within the keepalive window
	}
	return protocol.LeftDisconnect
}
