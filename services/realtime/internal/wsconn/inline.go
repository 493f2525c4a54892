package wsconn

import "github.com/gorilla/websocket"

// An inline write: a frame sent with Frame.Inline to a polled connection
// that has nothing queued and no writer running is written by the sender,
// on its own goroutine, with one write that does not wait (the socket
// takes what fits in its buffer), instead of being queued for a writer
// goroutine started for it. An interview's frames nearly always find their
// connection so: the goroutine's start, its scheduling and the wake-up of
// an idle thread for it cost more than the write itself. It keeps every
// guarantee of the queue:
//   - order: the sender holds the writer's place (writing) while it writes,
//     so a frame sent meanwhile is queued, and a writer started for it once
//     the inline write is over;
//   - whole frames: the control frames of a polled connection are written
//     under ctl.mu (control.go), and the inline write holds it too; when
//     the socket took only part of the frame, or none (its buffer full, a
//     client that reads slowly), a writer goroutine is started with ctl.mu
//     still held, writes the rest as the writer writes (waiting up to
//     WriteTimeout), and only then lets go of it, so no pong or close frame
//     lands inside the frame;
//   - never blocking the sender: the write does not wait, and a control
//     frame being written (ctl.mu taken) sends the frame to the queue.
// A connection read by its own goroutine (gorilla's Conn, whose pong and
// close frames do not go through ctl.mu) never writes inline.

// inlineLocked reports whether the sender writes f itself, and if so takes
// the writer's place for it. The caller holds sendMu and has counted f in
// the queue's bound.
func (c *Conn) inlineLocked(f Frame) bool {
	if !f.Inline || f.Close != nil || c.pr == nil || !c.started || c.writing || c.ended || len(c.queue) > 0 {
		return false
	}
	c.writing = true
	c.pending++
	return true
}

// writeInline writes f without waiting (inlineLocked took the writer's
// place for it); what the socket does not take is left to a writer
// goroutine.
func (c *Conn) writeInline(f Frame) {
	if !c.ctl.mu.TryLock() {
		c.requeue(f) // a control frame is being written: the writer follows it
		return
	}
	if c.ctl.done {
		c.ctl.mu.Unlock()
		c.requeue(f) // the connection is closing: the writer sees to it
		return
	}
	b := getBatch()
	*b = appendFrame(*b, websocket.TextMessage, f.Data)
	sc := writeCalls.Get().(*sysCalls)
	n, err := sc.write(c.pr.rc, *b)
	writeCalls.Put(sc)
	if err != nil || n < len(*b) {
		// The socket's buffer is full, or the raw write failed (as in
		// writeOut): a writer writes the rest, with ctl.mu handed to it.
		go c.writeRest(b, n)
		return
	}
	c.ctl.mu.Unlock()
	putBatch(b)
	c.sendMu.Lock()
	c.pending--
	if len(c.queue) == 0 && !c.over() {
		c.writing = false
		c.sendMu.Unlock()
		return
	}
	c.sendMu.Unlock()
	go c.write() // frames sent meanwhile, or the end
}

// writeRest runs as the writer: it writes what the socket did not take of
// an inline frame, waiting as writeOut does, lets go of ctl.mu (which
// writeInline handed to it), and goes on with the queue.
func (c *Conn) writeRest(b *[]byte, n int) {
	err := c.writeWaiting((*b)[n:])
	c.ctl.mu.Unlock()
	putBatch(b)
	if !c.flushed(err) {
		return // killed and finished
	}
	c.written(1)
	c.write()
}

// requeue puts back at the head of the queue a frame that could not be
// written inline (frames sent meanwhile are behind it) and starts the
// writer, whose place inlineLocked took.
func (c *Conn) requeue(f Frame) {
	c.sendMu.Lock()
	c.queue = append(c.queue, Frame{})
	copy(c.queue[1:], c.queue)
	c.queue[0] = f
	c.sendMu.Unlock()
	go c.write()
}
