package wsconn

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// PolledReadBufferSize is the read buffer an upgrader gives connections
// read by a Poller: gorilla's reader is never used then (frames.go reads
// the frames), and gorilla rounds it up to its smallest, 125 bytes, which
// goes with gorilla's Conn once New has the socket.
const PolledReadBufferSize = 1

// controlWait bounds writing a pong or close frame the reader sends, from
// when its turn comes (writeControl), as gorilla's own handlers bound
// theirs.
const controlWait = time.Second

// maxReads bounds the reads one turn of a worker makes for a connection
// that keeps sending: then its registration is modified, which has epoll
// report it again at once if bytes are left, and it waits its turn.
const maxReads = 8

type pollState uint8

const (
	pollIdle    pollState = iota // Start not called yet
	pollArmed                    // waiting in epoll for bytes (the next edge)
	pollRunning                  // a worker reads and handles its frames
	pollEnded
)

// polled is the reader of a Conn read by a Poller.
type polled struct {
	rc syscall.RawConn

	mu      sync.Mutex
	state   pollState
	stopped bool   // the socket is being closed (Kill, the writer's end) while not armed
	added   bool   // the fd is in the epoll set
	key     uint64 // the registration's key, set by Start
	// again: epoll reported bytes while a worker ran the connection; it
	// reads again before the connection waits for the next edge.
	again bool

	fr        frameReader // the running worker's, or the handshake's
	keepalive time.Duration
	lastRead  atomic.Int64 // unix nanoseconds of the last data message or pong
	handle    func(messageType int, data []byte) bool
	done      func(reason string)
}

// Start runs the reader until the connection ends, then calls done with
// the leave reason (as readLoop returns it) on a goroutine of its own. A
// Conn with a Poller parks on it while idle; otherwise Start runs readLoop
// on a new goroutine.
func (c *Conn) Start(keepalive time.Duration, handle func(messageType int, data []byte) bool, done func(reason string)) {
	pr := c.pr
	if pr == nil {
		go func() { done(c.readLoop(keepalive, handle)) }()
		return
	}
	pr.keepalive, pr.handle, pr.done = keepalive, handle, done
	pr.lastRead.Store(time.Now().UnixNano())
	_ = c.nc.SetReadDeadline(time.Time{}) // the handshake's: polled reads do not wait
	pr.fr.release()
	pr.mu.Lock()
	if pr.stopped {
		pr.state = pollEnded
		pr.mu.Unlock()
		c.endRead(protocol.LeftDisconnect)
		return
	}
	pr.key = c.poll.register(c)
	c.setCheck(time.Now().Add(keepalive)) // under pr.mu: pr.mu comes before sendMu
	if pr.fr.buffered() > 0 {
		// Frames that came with the handshake's: no readiness will
		// announce them.
		pr.state = pollRunning
		pr.mu.Unlock()
		go c.serve(newSysCalls())
		return
	}
	pr.state, pr.added = pollArmed, true
	if err := c.poll.arm(newSysCalls(), pr, true); err != nil {
		pr.state = pollEnded
		pr.mu.Unlock()
		c.endRead(protocol.LeftDisconnect)
		return
	}
	pr.mu.Unlock()
}

// readyFor is called by the poller's waiter when the registration key
// reports bytes (an edge): it reports whether a worker is to serve the
// connection now. One a worker runs is marked to be read again.
func (c *Conn) readyFor(key uint64) bool {
	pr := c.pr
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.key != key {
		return false
	}
	switch pr.state {
	case pollArmed:
		pr.state = pollRunning
		return true
	case pollRunning:
		pr.again = true
	}
	return false
}

// serve runs on a worker: it reads and handles what the client sent, and
// again while epoll reported more meanwhile (up to maxReads reads in all),
// then lets the connection wait for the next edge, or ends it. The socket
// is drained when a read came back short or found nothing: bytes that
// arrive after that read make an edge, which either finds the connection
// waiting (and is served) or marks it to be read again here, under pr.mu.
// When it is not drained (maxReads reads, or the mark left), its
// registration is modified, which has epoll report it at once if bytes are
// left.
func (c *Conn) serve(sc *sysCalls) {
	pr := c.pr
	reads := 0
	for {
		reason, end, drained := c.readFrames(sc, &reads)
		pr.mu.Lock()
		if !end && pr.stopped {
			reason, end = protocol.LeftDisconnect, true
		}
		if !end {
			if drained && pr.again && reads < maxReads {
				pr.again = false
				pr.mu.Unlock()
				continue
			}
			pr.fr.release()
			pr.state = pollArmed
			report := !drained || pr.again || !pr.added // !added: it started with frames buffered
			pr.again = false
			if !report {
				pr.mu.Unlock()
				return
			}
			add := !pr.added
			pr.added = true
			if err := c.poll.arm(sc, pr, add); err == nil {
				pr.mu.Unlock()
				return
			}
			reason = protocol.LeftDisconnect
		}
		pr.state = pollEnded
		c.poll.del(pr) // before the socket is closed
		pr.mu.Unlock()
		c.endRead(reason)
		return
	}
}

// readFrames handles every whole frame buffered, reads what the socket
// holds without waiting, and again, while *reads (the reads of this turn)
// is under maxReads. end reports the connection's end, with its leave
// reason; drained, that the last read came back short or found nothing.
func (c *Conn) readFrames(sc *sysCalls, reads *int) (reason string, end, drained bool) {
	pr := c.pr
	for {
		for {
			f, ok, err := pr.fr.next()
			if err != nil {
				return c.frameFailure(err), true, false
			}
			if !ok {
				break
			}
			if reason, end := c.onFrame(f); end {
				return reason, true, false
			}
		}
		if drained {
			return "", false, true
		}
		if *reads >= maxReads {
			return "", false, false // serve has epoll report what is left
		}
		space := pr.fr.space()
		n, err := sc.read(pr.rc, space)
		*reads++
		switch {
		case n > 0:
			pr.fr.filled(n)
			// Short: the socket is drained; handle what came, then wait.
			drained = n < len(space)
		case errors.Is(err, errWouldBlock):
			return "", false, true
		default:
			return protocol.LeftDisconnect, true, false // the end of the stream, or a failed read
		}
	}
}

// onFrame handles one client frame as gorilla's reader and its default
// handlers do: a ping is answered with a pong, a pong extends the
// keepalive, a close frame is echoed and ends the reader, and a data
// message goes to the handler.
func (c *Conn) onFrame(f frame) (reason string, end bool) {
	pr := c.pr
	switch f.Op {
	case websocket.PingMessage:
		_ = c.writeControl(websocket.PongMessage, f.Payload, controlWait)
	case websocket.PongMessage:
		pr.lastRead.Store(time.Now().UnixNano())
	case websocket.CloseMessage:
		code, err := c.closeReceived(f.Payload)
		if err != nil {
			return c.frameFailure(err), true
		}
		return c.fr.ClosedBy(code), true
	default:
		mt, data, whole := pr.fr.message(f)
		if !whole {
			return "", false
		}
		pr.lastRead.Store(time.Now().UnixNano())
		if !pr.handle(mt, data) {
			return "", true
		}
	}
	return "", false
}

// closeReceived checks a client's close frame and echoes its code, as
// gorilla's default close handler does.
func (c *Conn) closeReceived(payload []byte) (int, error) {
	code, _, err := closeFrame(payload)
	if err != nil {
		return 0, err
	}
	msg := []byte{}
	if code != websocket.CloseNoStatusReceived {
		msg = websocket.FormatCloseMessage(code, "")
	}
	_ = c.writeControl(websocket.CloseMessage, msg, controlWait)
	return code, nil
}

// frameFailure answers a frame that ends the connection as gorilla does
// (close 1002 with the reason, or 1009) and returns the leave reason.
func (c *Conn) frameFailure(err error) string {
	var pe *protocolError
	switch {
	case errors.As(err, &pe):
		data := websocket.FormatCloseMessage(websocket.CloseProtocolError, pe.Text)
		if len(data) > maxControlLen {
			data = data[:maxControlLen]
		}
		_ = c.writeControl(websocket.CloseMessage, data, controlWait)
	case errors.Is(err, errTooBig):
		_ = c.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseMessageTooBig, ""), controlWait)
	}
	return protocol.LeftDisconnect
}

// checkKeepalive runs on the keepalive timer (clock.go): a connection parked with
// nothing (not even a pong) read within the keepalive window ends with
// reason timeout, as a reader's read deadline does. The window is judged
// by what arrived, not by what the instance got round to reading: a parked
// connection whose socket holds bytes not read yet (its edge not served
// because the instance stalled: a long pause, CPU starvation, the waiter
// held up) is served now, on a worker as ready would (its frames, a pong
// among them, renew lastRead as usual), and looked at again soon. Bytes
// stay unread in a parked connection's socket only while the poller has
// not dispatched its edge, so a client cannot keep itself alive by this
// without sending frames.
func (c *Conn) checkKeepalive() {
	pr := c.pr
	pr.mu.Lock()
	if pr.state == pollEnded {
		pr.mu.Unlock()
		return
	}
	wait := pr.keepalive - time.Since(time.Unix(0, pr.lastRead.Load()))
	if pr.state != pollArmed || wait > 0 {
		if wait <= 0 {
			wait = pr.keepalive/8 + time.Millisecond // a handler is running: look again soon
		}
		c.setCheck(time.Now().Add(wait))
		pr.mu.Unlock()
		return
	}
	if unread(pr.rc) {
		pr.state = pollRunning // as readyFor: an edge reported now only marks it
		if c.poll.serveNow(c) {
			c.setCheck(time.Now().Add(pr.keepalive/8 + time.Millisecond))
			pr.mu.Unlock()
			return
		}
		pr.state = pollArmed // the poller is closing: no worker to serve it
	}
	pr.state = pollEnded
	c.poll.del(pr)
	pr.mu.Unlock()
	c.endRead(protocol.LeftTimeout)
}

// stopReader is called before the socket is closed (Kill, the writer's
// end): a parked reader ends now, with reason disconnect, as a reader
// goroutine whose socket is closed does; a running one ends once its
// worker is done with it.
func (c *Conn) stopReader() {
	pr := c.pr
	if pr == nil {
		return
	}
	pr.mu.Lock()
	switch pr.state {
	case pollArmed:
		pr.state = pollEnded
		c.poll.del(pr)
		pr.mu.Unlock()
		c.endRead(protocol.LeftDisconnect)
		return
	case pollIdle, pollRunning:
		pr.stopped = true
	}
	pr.mu.Unlock()
}

// endRead ends a polled reader, once (the caller moved it to pollEnded):
// what readLoop's return does, then done on a goroutine of its own.
func (c *Conn) endRead(reason string) {
	pr := c.pr
	c.setCheck(time.Time{})
	if pr.key != 0 {
		c.poll.unregister(pr.key)
	}
	pr.fr = frameReader{}
	c.readEnd()
	c.endIfIdle()
	go pr.done(reason)
}

// readBeforePolled is ReadBefore for a polled connection: the frames are
// read here too, so none is left in gorilla's buffer for the polled
// reader to miss, and what follows the frame returned stays buffered for
// it.
func (c *Conn) readBeforePolled(deadline time.Time) (int, []byte, error) {
	pr := c.pr
	nc := c.nc
	_ = nc.SetReadDeadline(deadline)
	for {
		f, ok, err := pr.fr.next()
		if err != nil {
			c.frameFailure(err)
			return 0, nil, err
		}
		if !ok {
			n, err := nc.Read(pr.fr.space())
			pr.fr.filled(n)
			if err != nil {
				return 0, nil, err
			}
			continue
		}
		switch f.Op {
		case websocket.PingMessage:
			_ = c.writeControl(websocket.PongMessage, f.Payload, controlWait)
		case websocket.PongMessage:
		case websocket.CloseMessage:
			code, text, err := closeFrame(f.Payload)
			if err != nil {
				c.frameFailure(err)
				return 0, nil, err
			}
			if _, err := c.closeReceived(f.Payload); err != nil {
				return 0, nil, err
			}
			return 0, nil, &websocket.CloseError{Code: code, Text: text}
		default:
			if mt, data, whole := pr.fr.message(f); whole {
				return mt, data, nil
			}
		}
	}
}
