package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
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

// Conn is one client WebSocket, read and written on its socket with the
// generator's own framing (wsframe.go). Run hands the connection's reads
// to one of the Dialer's read loops (readloop_linux.go; elsewhere a reader
// goroutine), which hands every event to the handler, and starts a writer
// goroutine, which sends what Send queued: Send never blocks, so a server that stops
// reading cannot stall the reader, and the latency measured is never the
// generator's own lock contention.
type Conn struct {
	nc      *net.TCPConn
	raw     syscall.RawConn
	rd      *wsReader // the handshake's, then the reader goroutine's
	framing Framing
	session string
	clock   Clock

	wmu    sync.Mutex    // serializes writes before Run, and Close
	queue  chan []byte   // frames for the writer goroutine
	quit   chan struct{} // closed by Close: the writer stops
	writer chan struct{} // closed when the writer has stopped

	done    chan struct{}
	err     error // why the reader stopped; read after done
	closing atomic.Bool
	cut     atomic.Bool
	running atomic.Bool

	// loops, when not nil, read the connection (Run registers it), and
	// polled says so: then only the reader closes the socket, once the
	// connection has left its epoll set, and Close and Cut shut the
	// socket down to end it, so its fd is never reused while registered.
	loops  *readLoops
	polled bool
	fd     int         // the socket's, while registered
	handle func(Event) // the loop's handler of the connection's events
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

// Run starts the connection's reader, which calls handle for every event until
// the connection ends (Done), and the writer goroutine. handle runs on the
// reader, which a read loop shares with many connections: keep it short,
// never block in it, and do not Close or Cut the connection from it.
//
// Where the Dialer has read loops (Linux), the connection's reads are
// theirs: a received frame costs no goroutine wake-up of its own (see
// readloop_linux.go); elsewhere a reader goroutine reads it.
func (c *Conn) Run(handle func(Event)) {
	c.running.Store(true)
	go c.writeLoop()
	if c.loops != nil && c.loops.register(c, handle) {
		return
	}
	go c.read(handle)
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
			c.wmu.Lock()
			err := c.writeAll(frame, time.Now().Add(writeWait))
			c.wmu.Unlock()
			if err != nil {
				c.shutdown()
				return
			}
		}
	}
}

// writeWait bounds a write that waits for the socket.
const writeWait = 10 * time.Second

// read is the reader goroutine, where the Dialer has no read loops
// (readloop_linux.go): one RawConn.Read for the connection's life, whose
// callback reads the socket itself (service) and waits for the socket to
// be readable only after a read that found it drained. RawRead resets the
// poller's readiness only when it is entered, before the first read; bytes
// that arrive after a read raise a new edge, so the wait cannot miss them,
// and a frame costs one read syscall instead of the two of Go's net.Conn
// (whose second fails with EAGAIN before Go parks on the poller).
func (c *Conn) read(handle func(Event)) {
	var err error
	rerr := c.raw.Read(func(fd uintptr) bool {
		var end bool
		err, end = c.service(int(fd), handle)
		return end
	})
	if err == nil {
		err = rerr
	}
	c.finish(err)
}

// service reads the socket fd until it is drained (EAGAIN, or fewer bytes
// than asked for), dispatching every complete frame as it is parsed; end
// reports that the connection ended, with err. Whoever calls it waits for
// the socket's next edge before calling it again.
func (c *Conn) service(fd int, handle func(Event)) (err error, end bool) {
	for !c.closing.Load() && !c.cut.Load() {
		if err = c.drain(handle); err != nil {
			return err, true
		}
		buf := c.rd.space()
		n, errno := syscall.Read(fd, buf)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			c.rd.idle()
			return nil, false
		case errno != nil:
			return os.NewSyscallError("read", errno), true
		case n == 0:
			err = io.EOF
			if c.rd.buffered() > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err, true
		}
		c.rd.filled(n)
		if n < len(buf) {
			if err = c.drain(handle); err != nil {
				return err, true
			}
			c.rd.idle()
			return nil, false
		}
	}
	return net.ErrClosed, true
}

// finish ends the connection once its reader has stopped, with err.
func (c *Conn) finish(err error) {
	c.rd.release()
	c.err = err
	if c.polled || !c.closing.Load() {
		// Not from RawConn.Read's callback: a Close waits for the
		// socket's readers. A polled connection's socket is closed only
		// here, once it has left its epoll set (see Close and Cut).
		_ = c.nc.Close()
	}
	close(c.done)
}

// drain dispatches every complete message and control frame read so far.
func (c *Conn) drain(handle func(Event)) error {
	for {
		op, payload, ok, err := c.rd.next()
		if err != nil || !ok {
			return err
		}
		switch op {
		case opText, opBinary:
			if err := c.dispatch(payload, handle); err != nil {
				return err
			}
		case opPing:
			_ = c.enqueue(clientFrame(opPong, payload))
		case opClose:
			// Echoed before the reader closes the socket, as gorilla did:
			// between two of the writer's frames, within a second.
			c.wmu.Lock()
			_ = c.writeAll(clientFrame(opClose, closeEcho(payload)), time.Now().Add(time.Second))
			c.wmu.Unlock()
			return closeError(payload)
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
		_ = c.enqueue(clientFrame(opText, []byte(PongFrame)))
	case FrameEvent:
		env, err := decodeEnvelope(f.Name, f.Arg)
		if err != nil {
			handle(Event{Type: "bad-frame", At: c.clock.Now()})
			return nil
		}
		handle(c.event(env))
	case FrameDisconnect:
		return ErrServerDisconnect // the reader closes the socket
	case FrameClose:
		return errors.New("the server closed the Engine.IO session")
	}
	return nil
}

// Send queues one event of type typ with payload (nil: none) for the
// writer, as one masked frame.
func (c *Conn) Send(typ string, payload any) error {
	now := time.Now()
	if cu, ok := payload.(protocol.CursorUpdate); ok && typ == protocol.TypeCursorUpdate && cu.Selection == nil {
		// The most frequent send, written in one pass behind room for the
		// frame's header.
		if frame, ok := appendCursorFrame(headroom(192), c.framing == FramingSocketIO, c.session, cu.Position, now.UnixMilli()); ok {
			return c.enqueue(clientFrameAt(frame, opText))
		}
	}
	if upd, ok := payload.(protocol.CodeUpdate); ok && typ == protocol.TypeCodeUpdate && upd.Delta.FullCode != nil {
		// Every fullCode update, written in one pass.
		size := 160 + len(c.session) + len(*upd.Delta.FullCode) + len(upd.OpID)
		if frame, ok := appendCodeFrame(headroom(size), c.framing == FramingSocketIO, c.session, upd, now.UnixMilli()); ok {
			return c.enqueue(clientFrameAt(frame, opText))
		}
	}
	env, err := encodeEnvelope(typ, c.session, payload, now)
	if err != nil {
		return err
	}
	if c.framing == FramingSocketIO {
		return c.enqueue(clientFrameAt(AppendEvent(headroom(len(env)+len(typ)+8), typ, env), opText))
	}
	return c.enqueue(clientFrame(opText, env))
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

// writeAll writes frame, waiting for the socket until deadline; with wmu
// held. The deadline is lifted after the write: a raw write after it
// (RawConn.Write) would fail once it had passed.
func (c *Conn) writeAll(frame []byte, deadline time.Time) error {
	_ = c.nc.SetWriteDeadline(deadline)
	_, err := c.nc.Write(frame)
	_ = c.nc.SetWriteDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// write sends one text message before Run, waiting for the socket.
func (c *Conn) write(payload []byte) error { return c.writeFrame(clientFrame(opText, payload)) }

// writeFrame sends one client frame before Run, waiting for the socket.
func (c *Conn) writeFrame(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeAll(frame, time.Now().Add(writeWait))
}

// shutdown ends the connection both ways without closing its descriptor
// (the reader closes it once it has ended, which this makes it do).
func (c *Conn) shutdown() {
	_ = c.raw.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
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
// drops it would; the reader then ends with an error. Not from the
// connection's handler.
func (c *Conn) Cut() {
	c.cut.Store(true)
	if c.polled && c.running.Load() {
		c.shutdown() // the reader sees cut and closes the socket
		return
	}
	_ = c.nc.Close()
}

// Close says goodbye with a normal closure and waits for the reader, if Run
// started one. Not from the connection's handler.
func (c *Conn) Close() {
	if c.closing.Swap(true) {
		return
	}
	close(c.quit)
	if c.running.Load() {
		<-c.writer // the close frame must not interleave with a data frame
	}
	c.wmu.Lock()
	_ = c.writeAll(clientFrame(opClose, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")), time.Now().Add(time.Second))
	c.wmu.Unlock()
	if c.polled && c.running.Load() {
		c.shutdown() // the reader sees closing and closes the socket
		<-c.done
		return
	}
	_ = c.nc.Close()
	if c.running.Load() {
		<-c.done
	}
}
