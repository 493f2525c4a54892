package broker

import (
	"net"
	"sync"
	"time"
)

// batchMaxBytes is the most a batchConn holds before writing at once: a
// write that would take the buffer past it goes out immediately, with what
// was held before it.
const batchMaxBytes = 32 << 10

// batchDialer dials TCP connections whose writes are batched (batchConn).
// It is installed with nats.SetCustomDialer on a connection that publishes
// small messages at a high rate, where one write syscall per publish (the
// nats.go flusher wakes on every publish) costs more, on both ends, than a
// bounded delay.
type batchDialer struct {
	dialer       net.Dialer
	delay        time.Duration
	writeTimeout time.Duration    // batchConn.writeTimeout
	dialed       func(*batchConn) // tests: sees each connection dialled
}

func (d *batchDialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.dialer.Dial(network, address)
	if err != nil {
		return nil, err
	}
	bc := &batchConn{Conn: c, delay: d.delay, writeTimeout: d.writeTimeout}
	if d.dialed != nil {
		d.dialed(bc)
	}
	return bc, nil
}

// batchConn is a net.Conn whose writes are held for at most delay and then
// written together: messages published within one window reach the server
// in one write (and one read there). Reads pass through. A write that fills
// the buffer beyond batchMaxBytes goes out at once. A deferred write that
// fails closes the connection, so its reader fails too and the NATS client
// reconnects; the held bytes are lost with the connection, as they would be
// in the client's own buffer.
//
// The client's write deadlines bound its own writes, which here only append:
// every socket write is bounded instead by writeTimeout (the client's
// FlusherTimeout) or the client's write deadline, whichever comes first, so
// a server that stops reading fails the connection as it would without
// batching, rather than holding every publisher on the mutex.
type batchConn struct {
	net.Conn
	delay        time.Duration
	writeTimeout time.Duration // 0: only the client's deadline

	mu       sync.Mutex
	buf      []byte
	timer    *time.Timer // armed while buf holds bytes; nil until the first
	armed    bool
	err      error     // the first failed write, or net.ErrClosed after Close
	deadline time.Time // the client's write deadline
	writes   int       // writes made to the underlying conn, for tests
}

// Write holds p until the window's deadline, or writes it at once with what
// is held when the buffer would pass batchMaxBytes.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if len(c.buf)+len(p) > batchMaxBytes {
		c.buf = append(c.buf, p...)
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	if !c.armed {
		c.armed = true
		if c.timer == nil {
			c.timer = time.AfterFunc(c.delay, c.deferred)
		} else {
			c.timer.Reset(c.delay)
		}
	}
	return len(p), nil
}

// deferred is the timer's flush.
func (c *batchConn) deferred() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || !c.armed {
		return
	}
	_ = c.flushLocked()
}

// flushLocked writes what is held. On failure the connection is closed and
// every later Write returns the error.
func (c *batchConn) flushLocked() error {
	if c.armed {
		c.armed = false
		c.timer.Stop()
	}
	if len(c.buf) == 0 {
		return nil
	}
	c.writes++
	d := c.deadline
	if c.writeTimeout > 0 {
		if bound := time.Now().Add(c.writeTimeout); d.IsZero() || bound.Before(d) {
			d = bound
		}
	}
	if !d.Equal(c.deadline) {
		c.Conn.SetWriteDeadline(d)
		defer c.Conn.SetWriteDeadline(c.deadline)
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > 2*batchMaxBytes {
		c.buf = nil
	}
	if err != nil {
		c.err = err
		c.Conn.Close()
	}
	return err
}

// SetDeadline sets the read deadline and the client's write deadline.
func (c *batchConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

// SetWriteDeadline sets the client's write deadline.
func (c *batchConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetWriteDeadline(t)
}

// Close writes what is held (the client flushes its own buffer before
// closing), stops the timer and closes the connection.
func (c *batchConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		_ = c.flushLocked()
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.armed = false
	if c.err == nil {
		c.err = net.ErrClosed
	}
	return c.Conn.Close()
}
