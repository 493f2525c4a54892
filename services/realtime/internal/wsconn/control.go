package wsconn

import (
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ctlWriter writes the control frames (pong, close) of a connection that
// has no gorilla Conn (a polled one) as gorilla's WriteControl does: one
// net.Conn write each, which a net.Conn never interleaves with another
// write (batch.go), under a lock, and nothing more once a close frame was
// sent or a write failed.
type ctlWriter struct {
	mu   sync.Mutex
	done bool // a close frame was sent, or a write failed
}

// errControlDone is writeControl's answer after a close frame or a failed
// write, as gorilla's is websocket.ErrCloseSent or the write's error.
var errControlDone = errors.New("websocket: no control frame after a close frame or a failed write")

// writeControl writes one control frame (at most 125 bytes of payload)
// with a write deadline wait from when its turn comes: through gorilla
// when the connection keeps its Conn (the goroutine reader, whose control
// handlers share its state), else itself. On a polled connection the
// deadline is set once the control frames' lock is held: a data frame's
// rest written under that lock (inline.go) has its own write timeout, and
// a pong that spent its wait queued behind it would fail unwritten and,
// as a failed write, end every later control frame of a connection whose
// client is reading.
func (c *Conn) writeControl(op int, payload []byte, wait time.Duration) error {
	if c.ws != nil {
		return c.ws.WriteControl(op, payload, time.Now().Add(wait))
	}
	if len(payload) > maxControlLen {
		return errors.New("websocket: invalid control frame")
	}
	var buf [2 + maxControlLen]byte
	frame := appendFrame(buf[:0], op, payload)
	c.ctl.mu.Lock()
	defer c.ctl.mu.Unlock()
	if c.ctl.done {
		return errControlDone
	}
	err := c.nc.SetWriteDeadline(time.Now().Add(wait))
	if err == nil {
		_, err = c.nc.Write(frame)
	}
	if err != nil || op == websocket.CloseMessage {
		c.ctl.done = true
	}
	return err
}
