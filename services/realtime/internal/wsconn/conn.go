// Package wsconn is the socket half of a realtime connection: the bounded
// send queue, the writer goroutine with its keepalives, the read loop with
// its keepalive deadline, and the two framings (plain WebSocket and
// Socket.IO) with the per-framing encode cache. It knows nothing of
// sessions, documents or NATS; the realtime package's client speaks the
// protocol over it.
package wsconn

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

const (
	// defaultWriteTimeout is Options.WriteTimeout when it is not set.
	defaultWriteTimeout = 10 * time.Second
	// closeGrace is how long the writer waits for the client's close frame
	// after sending its own, before dropping the TCP connection.
	closeGrace = time.Second
	// ReadBufferSize is the read buffer an upgrader should give each
	// connection: every connection keeps it while idle, so it is small;
	// frame headers and control frames fit, larger payloads bypass it.
	ReadBufferSize = 512
)

// Frame is one item of a connection's send queue.
type Frame struct {
	Data  []byte
	Close *websocket.CloseError // set: send this close frame, then end
	// Refusal marks the answer to a frame beyond the client's event budget:
	// when it does not fit the send queue, Options.Overflow is told so (the
	// client is flooding, not merely slow). Final marks the frames of a cut
	// off (CutOff), which go past the queue's bound.
	Refusal, Final bool
	// Key collapses: a frame with the Key of a queued, unwritten one
	// replaces it (the older one leaves its place, the newer one joins
	// the end of the queue), so a client that reads slowly gets only the
	// newest of each (a user's cursor, the presence list).
	Key string
	// Update marks a frame that a catch-up may replace (a code-update, or
	// a sync); Ack a frame that keeps the Update frames queued before it
	// (the acknowledgement of the client's own update, whose version must
	// follow theirs). CatchUp lets this frame, when it does not fit the
	// queue, call Options.CatchUp instead of Overflow when Update frames
	// are queued after the last Ack.
	Update, Ack, CatchUp bool
	// Inline lets the sender write the frame on its own goroutine, with a
	// write that does not wait, when the connection is polled and has
	// nothing queued or being written (inline.go); else it is queued.
	Inline bool
	ping   bool // a keepalive, queued by the ping timer
}

// Options configure a Conn.
type Options struct {
	// MaxFrameBytes is the largest client frame: a bigger one makes the
	// connection close with 1009 (message too big).
	MaxFrameBytes int
	// SendQueue bounds the frames queued or being written.
	SendQueue int
	// WriteTimeout bounds one write to the socket: a client whose TCP
	// window stays shut that long is gone (Overflow(false), then Kill).
	// Zero is 10 s.
	WriteTimeout time.Duration
	// Overflow is called, on the sender's goroutine, when a frame that is
	// not Final does not fit the send queue; refusal is the frame's
	// Refusal. The frame is dropped; the callback decides the connection's
	// fate (Kill, or CutOff and a last word). It is also called, with
	// false, on the writer's goroutine when a write made no progress for
	// WriteTimeout (the client stopped reading); the connection is killed
	// then.
	Overflow func(refusal bool)
	// CatchUp, when set, is called on the sender's goroutine with the
	// queue's lock held (it must not use the Conn) when a CatchUp frame
	// does not fit the queue and Update frames are queued after the last
	// Ack. CatchUp and Ack frames are bounded by the frames queued behind
	// the batch being written (so up to twice SendQueue in all), others by
	// every frame queued or being written. It returns the frame that replaces those Update frames (and
	// the new frame, when that is an Update too): the document's state
	// for this connection. The frame joins the end of the queue; false
	// leaves the queue as it is and calls Overflow.
	CatchUp func() (Frame, bool)
	// Poller, when set, reads the connection while it is idle instead of
	// a goroutine of its own (polled.go); the connection then needs a
	// socket with a file descriptor (a net.TCPConn), else it keeps the
	// goroutine reader.
	Poller *Poller
}

// Conn is one upgraded WebSocket connection. Its reader (Start) is a
// Poller's while it has one, else readLoop on a goroutine of its own. It
// has no writer goroutine while idle: one is started when a frame is
// queued and ends once the queue is drained, and the keepalive is a timer
// that queues a ping. That writer is the only one writing data frames,
// but for a sender that writes its frame inline (inline.go) in its place.
type Conn struct {
	nc net.Conn
	// ws is gorilla's connection, kept for the goroutine reader (its
	// ReadMessage and control handlers); nil when a Poller reads the
	// connection: everything is written here then (control.go), and an
	// idle connection does not keep gorilla's Conn, its read buffer and
	// its write lock.
	ws *websocket.Conn
	fr Framing
	o  Options

	// The send queue is a slice that the writer takes whole, so an idle
	// connection holds no queue memory; pending counts the frames queued
	// or being written, bounded by Options.SendQueue.
	sendMu    sync.Mutex
	queue     []Frame
	pending   int
	started   bool          // StartWriter was called: frames are written
	writing   bool          // a writer runs, or the end (finish) is under way
	ended     bool          // finish ran: nothing is written any more
	pingEvery time.Duration // the keepalive interval, set by StartWriter
	clk       clock         // queues a ping every pingEvery, and checks a polled reader's keepalive
	pingSent  bool          // a ping is queued and not written yet

	killed    atomic.Bool // Kill was called: stop now
	readEnded bool        // the reader ended; guarded by sendMu
	// wake is made by a writer that waits for the reader's end or Kill
	// (closeWith), and closed by either; guarded by sendMu. An idle
	// connection has none.
	wake chan struct{}
	// writeDone is made by WriteDone, and closed once finish is over
	// (finished); guarded by sendMu. An idle connection has none.
	writeDone chan struct{}
	finished  bool
	endOnce   sync.Once
	cut       atomic.Bool // cut off: only Final frames are still sent

	ctl ctlWriter // the control frames' writes when ws is nil

	poll *Poller // set with pr: the reader is polled
	pr   *polled
}

// New wraps an upgraded connection; nothing runs until StartWriter and
// Start. A connection read by o.Poller keeps only ws's net.Conn.
func New(ws *websocket.Conn, fr Framing, o Options) *Conn {
	ws.SetReadLimit(int64(o.MaxFrameBytes)) // gorilla closes a bigger frame's connection with 1009
	if o.Overflow == nil {
		o.Overflow = func(bool) {}
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	c := &Conn{nc: ws.NetConn(), ws: ws, fr: fr, o: o}
	if sc, ok := c.nc.(syscall.Conn); ok && o.Poller != nil {
		if rc, err := sc.SyscallConn(); err == nil {
			c.poll, c.pr = o.Poller, &polled{rc: rc, fr: frameReader{limit: int64(o.MaxFrameBytes)}}
			c.ws = nil // frames.go reads, control.go writes: gorilla's part is done
		}
	}
	return c
}

// Framing returns the connection's framing.
func (c *Conn) Framing() Framing { return c.fr }

// Send queues a frame without ever blocking. A frame with a Key replaces
// the queued one with that Key. A client that reads too slowly fills its
// queue: then a CatchUp frame may make room through Options.CatchUp, and
// otherwise Options.Overflow decides what happens to the client, so it
// never holds up the sender or the other clients. It reports whether the
// frame was queued (or stood for by the catch-up).
func (c *Conn) Send(f Frame) bool {
	if c.killed.Load() {
		return false
	}
	if c.cut.Load() && !f.Final {
		return false // being cut off: nothing but the last frames
	}
	c.sendMu.Lock()
	if c.ended {
		c.sendMu.Unlock()
		return false
	}
	switch {
	case f.Key != "" && c.collapseLocked(f):
		c.sendMu.Unlock()
		return true
	case c.pending < c.o.SendQueue || f.Final:
	case (f.CatchUp || f.Ack) && len(c.queue) < c.o.SendQueue:
		// A reader that lags behind: the frames it is owed may fill the
		// queue behind the batch being written before a catch-up.
	case f.CatchUp && c.catchUpLocked() && (f.Update || len(c.queue) < c.o.SendQueue):
		if f.Update {
			// It is in the state that replaced the queued updates.
			start := c.wakeLocked()
			c.sendMu.Unlock()
			if start {
				go c.write()
			}
			return true
		}
	default:
		c.sendMu.Unlock()
		c.o.Overflow(f.Refusal)
		return false
	}
	if c.inlineLocked(f) {
		c.sendMu.Unlock()
		c.writeInline(f)
		return true
	}
	c.queue = append(c.queue, f)
	c.pending++
	start := c.wakeLocked()
	c.sendMu.Unlock()
	if start {
		go c.write()
	}
	return true
}

// collapseLocked replaces the queued, unwritten frame with f's Key by f,
// at the end of the queue; it reports false when there is none.
func (c *Conn) collapseLocked(f Frame) bool {
	for i := range c.queue {
		if c.queue[i].Key == f.Key {
			copy(c.queue[i:], c.queue[i+1:])
			c.queue[len(c.queue)-1] = f
			return true
		}
	}
	return false
}

// catchUpLocked replaces the Update frames queued after the last Ack by
// the frame Options.CatchUp returns, at the end of the queue. It reports
// whether it did.
func (c *Conn) catchUpLocked() bool {
	if c.o.CatchUp == nil {
		return false
	}
	from := 0
	for i := len(c.queue) - 1; i >= 0; i-- {
		if c.queue[i].Ack {
			from = i + 1
			break
		}
	}
	updates := 0
	for _, f := range c.queue[from:] {
		if f.Update {
			updates++
		}
	}
	if updates == 0 {
		return false
	}
	state, ok := c.o.CatchUp()
	if !ok {
		return false
	}
	state.Update = true
	kept := c.queue[:from]
	for _, f := range c.queue[from:] {
		if !f.Update {
			kept = append(kept, f)
		}
	}
	kept = append(kept, state)
	clear(c.queue[len(kept):])
	c.queue = kept
	c.pending -= updates - 1
	return true
}

// wakeLocked reports whether the caller is to start a writer for what is
// queued: none runs and StartWriter was called.
func (c *Conn) wakeLocked() bool {
	if !c.started || c.writing || c.ended || len(c.queue) == 0 {
		return false
	}
	c.writing = true
	return true
}

// SendMessage queues m framed for this connection.
func (c *Conn) SendMessage(m *Message, refusal bool) bool {
	return c.Send(Frame{Data: m.Frame(c.fr), Refusal: refusal, Key: m.Key})
}

// CloseAfterQueue sends what is queued, then extra frames and a close
// frame with code and text; when the queue has no room, Overflow decides.
func (c *Conn) CloseAfterQueue(code int, text string, extra ...[]byte) {
	for _, f := range extra {
		if !c.Send(Frame{Data: f}) {
			return
		}
	}
	c.Send(Frame{Close: &websocket.CloseError{Code: code, Text: text}})
}

// CutOff makes the connection refuse every frame but Final ones from now
// on; it reports whether this call did it (the first one).
func (c *Conn) CutOff() bool { return !c.cut.Swap(true) }

// Cut reports whether CutOff was called.
func (c *Conn) Cut() bool { return c.cut.Load() }

// Kill ends the connection at once: the TCP connection is closed, which
// unblocks the reader and the writer wherever they are. Idempotent.
func (c *Conn) Kill() {
	if c.killed.Swap(true) {
		return
	}
	c.sendMu.Lock()
	c.wakeWriterLocked()
	c.sendMu.Unlock()
	c.stopReader()
	_ = c.nc.Close()
	c.endIfIdle()
}

// Killed reports whether Kill was called.
func (c *Conn) Killed() bool { return c.killed.Load() }

// wakeWriterLocked wakes a writer waiting in closeWith.
func (c *Conn) wakeWriterLocked() {
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
}

// readEnd records the reader's end, which ends the writer too.
func (c *Conn) readEnd() {
	c.sendMu.Lock()
	c.readEnded = true
	c.wakeWriterLocked()
	c.sendMu.Unlock()
}

// WriteDone is closed when the writer has ended and closed the socket.
func (c *Conn) WriteDone() <-chan struct{} {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.writeDone == nil {
		c.writeDone = make(chan struct{})
		if c.finished {
			close(c.writeDone)
		}
	}
	return c.writeDone
}

// WriteNow writes one text frame at once, before StartWriter (the
// handshake's frames).
func (c *Conn) WriteNow(data []byte) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.o.WriteTimeout)); err != nil {
		return err
	}
	_, err := c.nc.Write(appendFrame(make([]byte, 0, 10+len(data)), websocket.TextMessage, data))
	return err
}

// ReadBefore reads one frame that must arrive before deadline, before
// readLoop (the handshake's frames).
func (c *Conn) ReadBefore(deadline time.Time) (messageType int, data []byte, err error) {
	if c.pr != nil {
		return c.readBeforePolled(deadline)
	}
	_ = c.ws.SetReadDeadline(deadline)
	return c.ws.ReadMessage()
}

// Refuse ends a connection whose handshake failed, before StartWriter:
// close frame code with text, then the socket.
func (c *Conn) Refuse(code int, text string) {
	msg := websocket.FormatCloseMessage(code, text)
	_ = c.writeControl(websocket.CloseMessage, msg, time.Second)
	_ = c.nc.Close()
}

// StartWriter lets queued frames be written, now and from now on, and
// starts the keepalive: a ping every pingEvery. The writer runs on a
// goroutine only while frames wait. Once the connection is over (a close
// frame sent, a failed write, Kill, or the end of readLoop) the socket is
// closed and WriteDone is closed.
func (c *Conn) StartWriter(pingEvery time.Duration) {
	c.sendMu.Lock()
	if c.started || c.ended {
		c.sendMu.Unlock()
		return
	}
	c.started, c.pingEvery = true, pingEvery
	c.setPingLocked(time.Now().Add(pingEvery))
	start := c.wakeLocked()
	c.sendMu.Unlock()
	if start {
		go c.write()
	}
}

// ping runs on the keepalive timer (clock.go): it queues a ping (past the
// queue's bound, one at a time) and sets the next one's time.
func (c *Conn) ping() {
	c.sendMu.Lock()
	if c.ended {
		c.sendMu.Unlock()
		return
	}
	c.clk.pingAt = time.Now().Add(c.pingEvery) // the timer is set by tick
	if c.pingSent {
		c.sendMu.Unlock()
		return // the last one is still waiting for the writer
	}
	c.pingSent = true
	c.queue = append(c.queue, Frame{ping: true})
	c.pending++
	start := c.wakeLocked()
	c.sendMu.Unlock()
	if start {
		go c.write()
	}
}

// write is the writer: it writes what is queued until the queue is empty,
// then ends; it finishes the connection after a close frame, a failed
// write, Kill or the end of the reader. The frames it takes at once are
// written with one write to the socket (batch.go).
func (c *Conn) write() {
	b := getBatch()
	defer putBatch(b)
	var sc *sysCalls
	if c.pr != nil {
		sc = writeCalls.Get().(*sysCalls)
		defer writeCalls.Put(sc)
	}
	for {
		c.sendMu.Lock()
		if c.over() {
			c.sendMu.Unlock()
			c.finish()
			return
		}
		frames := c.queue
		c.queue = nil
		if len(frames) == 0 {
			c.writing = false
			c.sendMu.Unlock()
			return
		}
		for _, f := range frames {
			if f.ping {
				c.pingSent = false // taken: the timer may queue the next one
			}
		}
		c.sendMu.Unlock()
		var closeFrame *websocket.CloseError
		for _, f := range frames {
			if f.Close != nil {
				closeFrame = f.Close
				break // nothing is written after a close frame
			}
			if f.ping {
				op, payload := c.fr.Ping()
				*b = appendFrame(*b, op, payload)
			} else {
				*b = appendFrame(*b, websocket.TextMessage, f.Data)
			}
			if len(*b) >= maxBatchBytes {
				if !c.flush(b, sc) {
					return
				}
			}
		}
		if !c.flush(b, sc) {
			return
		}
		if closeFrame != nil {
			c.closeWith(closeFrame)
			return
		}
		c.written(len(frames))
	}
}

// flush writes the framed batch to the socket whole (writeOut); a failed
// write kills and finishes the connection, and flush reports false.
func (c *Conn) flush(b *[]byte, sc *sysCalls) bool {
	if len(*b) == 0 {
		return true
	}
	err := c.writeOut(*b, sc)
	*b = (*b)[:0]
	return c.flushed(err)
}

// flushed handles a write's outcome: a failed write kills and finishes
// the connection, and flushed reports false.
func (c *Conn) flushed(err error) bool {
	if err == nil {
		return true
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		// No progress for WriteTimeout: the client stopped reading.
		c.o.Overflow(false)
	}
	c.Kill()
	c.finish()
	return false
}

// writeOut writes data whole, failing when the socket takes none of it
// for WriteTimeout (the client stopped reading). A polled connection
// first writes what the socket's buffer takes without waiting, which is
// all of it unless the client is slow to read, and sets a write deadline
// only for a rest that has to wait: a deadline set for every write moved
// a runtime timer per connection on every write, and kept one per
// connection in the runtime's timer heap, which the scheduler scans. Both
// parts are written under the control frames' lock, so a pong or a close
// frame cannot fall between them (batch.go); sc is the writer's.
func (c *Conn) writeOut(data []byte, sc *sysCalls) error {
	if c.pr != nil {
		c.ctl.mu.Lock()
		defer c.ctl.mu.Unlock()
		n, err := sc.write(c.pr.rc, data)
		if err == nil && n == len(data) {
			return nil
		}
		// The socket's buffer is full, or the raw write failed (a deadline
		// a control frame set has passed, or the socket's error, which the
		// net.Conn reports again): the rest goes through the net.Conn.
		data = data[n:]
	}
	return c.writeWaiting(data)
}

// writeWaiting writes data through the net.Conn, waiting up to
// WriteTimeout for room; a polled connection's caller holds ctl.mu.
func (c *Conn) writeWaiting(data []byte) error {
	nc := c.nc
	err := nc.SetWriteDeadline(time.Now().Add(c.o.WriteTimeout))
	if err == nil {
		_, err = nc.Write(data)
	}
	if err == nil && c.pr != nil {
		// The next raw write would fail once a deadline left set passed.
		err = nc.SetWriteDeadline(time.Time{})
	}
	return err
}

// closeWith sends the close frame, waits up to closeGrace for the client's
// own, and finishes.
func (c *Conn) closeWith(ce *websocket.CloseError) {
	msg := websocket.FormatCloseMessage(ce.Code, ce.Text)
	_ = c.writeControl(websocket.CloseMessage, msg, c.o.WriteTimeout)
	c.sendMu.Lock()
	var wake chan struct{}
	if !c.over() {
		c.wake = make(chan struct{})
		wake = c.wake
	}
	c.sendMu.Unlock()
	if wake != nil {
		t := time.NewTimer(closeGrace)
		select {
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
	c.finish()
}

// over reports that the reader ended or Kill was called: the writer
// stops. The caller holds sendMu.
func (c *Conn) over() bool { return c.readEnded || c.killed.Load() }

// endIfIdle finishes the connection unless a writer runs, which finishes
// it itself when it sees the end.
func (c *Conn) endIfIdle() {
	c.sendMu.Lock()
	if c.writing {
		c.sendMu.Unlock()
		return
	}
	c.writing = true // nobody starts a writer any more
	c.sendMu.Unlock()
	c.finish()
}

// finish ends the connection once: no more writes, the keepalive timer
// stopped, the socket closed, WriteDone closed.
func (c *Conn) finish() {
	c.endOnce.Do(func() {
		c.stopReader()
		c.sendMu.Lock()
		c.ended = true
		c.queue = nil
		c.clk.checkAt = time.Time{} // stopReader ended a parked reader; a running one has no more use for it
		c.setPingLocked(time.Time{})
		c.sendMu.Unlock()
		_ = c.nc.Close()
		c.sendMu.Lock()
		c.finished = true
		if c.writeDone != nil {
			close(c.writeDone)
		}
		c.sendMu.Unlock()
	})
}

// written releases n frames of the queue's bound.
func (c *Conn) written(n int) {
	c.sendMu.Lock()
	c.pending -= n
	c.sendMu.Unlock()
}

// readLoop is the goroutine reader: it runs on the caller's goroutine,
// hands every frame to handle, and ends when handle returns false, the
// client goes, nothing (not even a pong) arrives within keepalive, or the
// connection is killed. It returns the leave reason the end implies: "" when handle
// ended it, else protocol.LeftTimeout, LeftManual or LeftDisconnect as
// the framing reads the close. Unlike the polled reader's check
// (checkKeepalive) it does not spare a client whose bytes sit unread when
// the deadline passes (the instance stalled): gorilla keeps a read error,
// a timeout too, for every later read, and a timeout can strike inside a
// frame, so the loop cannot go on after it.
func (c *Conn) readLoop(keepalive time.Duration, handle func(messageType int, data []byte) bool) string {
	defer c.endIfIdle()
	defer c.readEnd()
	extend := func() { _ = c.ws.SetReadDeadline(time.Now().Add(keepalive)) }
	extend()
	c.ws.SetPongHandler(func(string) error { extend(); return nil })
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			return c.readFailure(err)
		}
		extend()
		if !handle(mt, data) {
			return ""
		}
	}
}

// readFailure turns the error that ended the read loop into a leave reason.
func (c *Conn) readFailure(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return c.fr.ClosedBy(ce.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return protocol.LeftTimeout // no pong (or anything) within the keepalive window
	}
	return protocol.LeftDisconnect
}
