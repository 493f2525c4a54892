package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// Framing is how events travel over the WebSocket.
type Framing string

// The two framings of the protocol.
const (
	FramingPlain    Framing = "plain"    // /ws: one JSON envelope per text frame
	FramingSocketIO Framing = "socketio" // /socket.io/: Engine.IO 4 + Socket.IO 5
)

// ConnConfig says where and as whom a connection joins.
type ConnConfig struct {
	URL     string // ws://host:port of a realtime process (no path)
	Framing Framing
	// Legacy speaks the protocol's older Socket.IO form: no token,
	// sessionId/userId/userName in the query, fullCode deltas, and no wait
	// for a connected event.
	Legacy      bool
	SessionID   string
	UserID      string
	UserName    string
	Token       string
	DeltaFormat string // "fullCode" or "ops"; empty: the server's default
	// Resume asks the server for the updates after document version
	// Since (the `since` query; the server replays them or answers sync):
	// a reconnection.
	Resume bool
	Since  int64
}

// Event is one event a server sent.
type Event struct {
	Type      string
	SessionID string
	UserID    string
	Payload   json.RawMessage
	At        int64 // Clock time of receipt

	// decoded: code holds the payload of a code-update, or the Version,
	// OpID and Hash of a code-ack, already read by quickEnvelope (Payload
	// is then nil).
	decoded bool
	code    protocol.CodeUpdate
}

// RefusedError is a handshake the server refused with a protocol error code.
type RefusedError struct {
	Status int    // HTTP status of a refused upgrade; 0 for a Socket.IO CONNECT_ERROR
	Code   string // the protocol's error code
}

// Error names the status and the code.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("handshake refused: %d %s", e.Status, e.Code)
}

// Conn is one client WebSocket. Run starts a reader goroutine, which hands
// every event to the handler, and a writer goroutine, which sends what Send
// queued: Send never blocks, so a server that stops reading cannot stall
// the reader, and the latency measured is never the generator's own lock
// contention.
type Conn struct {
	ws      *websocket.Conn
	framing Framing
	session string
	clock   Clock
	reads   *sync.Pool // of *bytes.Buffer: see Dialer.reads

	wmu    sync.Mutex    // serializes writes before Run, and Close
	queue  chan []byte   // frames for the writer goroutine
	quit   chan struct{} // closed by Close: the writer stops
	writer chan struct{} // closed when the writer has stopped

	done    chan struct{}
	err     error // why the reader stopped; read after done
	closing atomic.Bool
	running atomic.Bool
}

// sendQueue bounds what a connection buffers for a server that stopped
// reading; beyond it Send fails with ErrQueueFull.
const sendQueue = 256

// Errors of Send and of a connection's end.
var (
	// ErrQueueFull is a Send that found the connection's queue full: the
	// server has not read for a while.
	ErrQueueFull = errors.New("send queue full")
	// ErrClosed is a Send on a connection that has ended.
	ErrClosed = errors.New("connection closed")
	// ErrServerDisconnect is a connection the server ended with a
	// Socket.IO DISCONNECT (41): like socket.io-client, the generator does
	// not reconnect after it.
	ErrServerDisconnect = errors.New("the server disconnected the Socket.IO namespace")
)

// Run starts the reader goroutine, which calls handle for every event until
// the connection ends (Done), and the writer goroutine. handle runs on the
// reader: keep it short.
func (c *Conn) Run(handle func(Event)) {
	c.running.Store(true)
	go c.read(handle)
	go c.writeLoop()
}

// writeLoop sends queued frames until Close or a failed write, which also
// ends the reader.
func (c *Conn) writeLoop() {
	defer close(c.writer)
	for {
		select {
		case <-c.quit:
			return
		case <-c.done:
			return
		case frame := <-c.queue:
			if err := c.write(frame); err != nil {
				_ = c.ws.Close()
				return
			}
		}
	}
}

// readBuffer bounds the buffers the readers return to Dialer.reads: a
// larger one (a big document's sync) is left to the garbage collector.
const readBuffer = 64 << 10

func (c *Conn) read(handle func(Event)) {
	defer close(c.done)
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			c.err = err
			return
		}
		buf := c.reads.Get().(*bytes.Buffer)
		buf.Reset()
		if _, err = buf.ReadFrom(r); err == nil {
			// Nothing keeps the frame's bytes past dispatch: every
			// decoder copies what it keeps.
			err = c.dispatch(buf.Bytes(), handle)
		}
		if buf.Cap() <= readBuffer {
			c.reads.Put(buf)
		}
		if err != nil {
			c.err = err
			return
		}
	}
}

// dispatch hands one message's events to handle; an error ends the
// connection.
func (c *Conn) dispatch(data []byte, handle func(Event)) error {
	if c.framing == FramingPlain {
		if env, ok := quickEnvelope(data); ok && env.Type != "" {
			handle(c.event(env))
			return nil
		}
		env, err := decodeEnvelope("", data)
		if err != nil {
			handle(Event{Type: "bad-frame", At: c.clock.Now()})
			return nil
		}
		handle(c.event(env))
		return nil
	}
	if env, ok := quickEvent(data); ok {
		handle(c.event(env))
		return nil
	}
	f, err := ParseServerFrame(data)
	if err != nil {
		handle(Event{Type: "bad-frame", At: c.clock.Now()})
		return nil
	}
	switch f.Kind {
	case FramePing:
		_ = c.enqueue([]byte(PongFrame))
	case FrameEvent:
		env, err := decodeEnvelope(f.Name, f.Arg)
		if err != nil {
			handle(Event{Type: "bad-frame", At: c.clock.Now()})
			return nil
		}
		handle(c.event(env))
	case FrameDisconnect:
		_ = c.ws.Close()
		return ErrServerDisconnect
	case FrameClose:
		_ = c.ws.Close()
		return errors.New("the server closed the Engine.IO session")
	}
	return nil
}

// Send queues one event of type typ with payload (nil: none) for the writer.
func (c *Conn) Send(typ string, payload any) error {
	now := time.Now()
	if cu, ok := payload.(protocol.CursorUpdate); ok && typ == protocol.TypeCursorUpdate && cu.Selection == nil {
		// The most frequent send, written in one pass.
		if frame, ok := appendCursorFrame(make([]byte, 0, 192), c.framing == FramingSocketIO, c.session, cu.Position, now.UnixMilli()); ok {
			return c.enqueue(frame)
		}
	}
	if upd, ok := payload.(protocol.CodeUpdate); ok && typ == protocol.TypeCodeUpdate && upd.Delta.FullCode != nil {
		// Every fullCode update, written in one pass.
		size := 160 + len(c.session) + len(*upd.Delta.FullCode) + len(upd.OpID)
		if frame, ok := appendCodeFrame(make([]byte, 0, size), c.framing == FramingSocketIO, c.session, upd, now.UnixMilli()); ok {
			return c.enqueue(frame)
		}
	}
	env, err := encodeEnvelope(typ, c.session, payload, now)
	if err != nil {
		return err
	}
	if c.framing == FramingSocketIO {
		env = AppendEvent(make([]byte, 0, len(env)+len(typ)+8), typ, env)
	}
	return c.enqueue(env)
}

func (c *Conn) enqueue(frame []byte) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	select {
	case c.queue <- frame:
		return nil
	default:
		return ErrQueueFull
	}
}

func (c *Conn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Done is closed when the reader goroutine has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended; nil when Close ended it or it is open.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		if c.closing.Load() {
			return nil
		}
		return c.err
	default:
		return nil
	}
}

// Cut closes the TCP connection without a goodbye, as a network that
// drops it would; the reader then ends with an error.
func (c *Conn) Cut() { _ = c.ws.UnderlyingConn().Close() }

// Close says goodbye with a normal closure and waits for the reader, if Run
// started one.
func (c *Conn) Close() {
	if c.closing.Swap(true) {
		return
	}
	close(c.quit)
	if c.running.Load() {
		<-c.writer // the close frame must not interleave with a data frame
	}
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.ws.Close()
	if c.running.Load() {
		<-c.done
	}
}
