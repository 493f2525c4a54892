package realtime

import (
	"errors"
	"sync"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// maxQueuedEvents bounds the events a connection may have waiting for the
// submitter. The per-connection budget cuts a flood off long before; an
// event beyond it is refused at once (out of order, as it is abuse).
const maxQueuedEvents = 256

// queuedEvent is one event for the submitter: a validated event to run,
// (err set) a refusal to answer in its place in the order, or (fn set)
// something the reader decided that must follow the earlier answers, such
// as the flood cut-off.
type queuedEvent struct {
	ev    clientEvent
	ackID *int64
	err   error
	fn    func()
}

// ordered reports whether an event waits for the document or the session
// record, and so runs on the submitter rather than the reader. Cursor
// updates only touch memory and core NATS: they are relayed at once.
func ordered(typ string) bool {
	return typ != protocol.TypeCursorUpdate
}

// submitOrdered queues an event for the connection's submitter, starting
// it when it is idle. Only the reader calls it, so the submitter's wait
// group never grows while serve waits on it.
func (c *client) submitOrdered(q queuedEvent) {
	c.subMu.Lock()
	if (q.err != nil || q.fn != nil) && !c.submitting {
		c.subMu.Unlock()
		c.runQueued(q) // nothing ahead of it: at once
		return
	}
	if len(c.subQueue) >= maxQueuedEvents && q.fn == nil {
		c.subMu.Unlock()
		err := q.err
		if err == nil {
			err = withDetails(protocol.Errorf(protocol.CodeRateLimited,
				"Too many events are waiting on this connection (at most %d): slow down", maxQueuedEvents),
				q.ev.typ, q.ev.code.OpID)
		}
		c.answer(q.ackID, err)
		return
	}
	c.subQueue = append(c.subQueue, q)
	if c.submitting {
		c.subMu.Unlock()
		return
	}
	c.submitting = true
	c.subWG.Add(1)
	c.subMu.Unlock()
	c.d.submitters.run(c.submitLoop)
}

// submitLoop runs the queued events one at a time, in the order the client
// sent them, and answers each refusal (and Socket.IO ack) after its event.
// It ends when the queue is empty; the next event starts a new one, so an
// idle connection has no submitter goroutine.
func (c *client) submitLoop() {
	defer c.subWG.Done()
	for {
		c.subMu.Lock()
		c.subRunning = false
		if len(c.subQueue) == 0 {
			c.subQueue = nil // drop the backing array: idle connections hold none
			c.submitting = false
			c.subMu.Unlock()
			return
		}
		q := c.subQueue[0]
		c.subQueue[0] = queuedEvent{}
		c.subQueue = c.subQueue[1:]
		c.subRunning = true
		c.subMu.Unlock()
		if c.ws.Killed() {
			continue // cut off: nobody is left to answer, and the update was never acknowledged
		}
		c.runQueued(q)
	}
}

// runQueued runs one queued item and answers it.
func (c *client) runQueued(q queuedEvent) {
	if q.fn != nil {
		q.fn()
		return
	}
	err := q.err
	if err == nil {
		err = c.d.handle(c, q.ev)
	}
	if err != nil || q.ackID != nil {
		c.answer(q.ackID, err)
	}
	if wantsSync(err) {
		// The refusal said a sync follows: the state to resend against.
		c.rm.mu.Lock()
		c.sendEvent(c.rm.syncEventLocked(c))
		c.rm.mu.Unlock()
	}
}

// wantsSync reports a refusal whose client must start again from the
// current state (details.sync): an update too far behind, or over the
// transform budget.
func wantsSync(err error) bool {
	if err == nil {
		return false // without the errors.As target escaping: no object per event
	}
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Details["sync"] == true
}

// dropQueued forgets the events still waiting when the connection has
// closed, and returns how many: none was acknowledged, so a client
// resends them when it reconnects, and a client cannot leave a queue of
// expensive updates running after it. The event being handled (or, when
// the submitter has not started yet, the first one) still completes.
func (c *client) dropQueued() int {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	keep := 0
	if !c.subRunning && len(c.subQueue) > 0 {
		keep = 1
	}
	n := len(c.subQueue) - keep
	clear(c.subQueue[keep:])
	c.subQueue = c.subQueue[:keep]
	return n
}

// limitEvent spends the user's rate limit for an event when it arrives,
// so the limit sees the client's own pace, not the submitter's.
func (c *client) limitEvent(ev clientEvent) error {
	switch ev.typ {
	case protocol.TypeCodeUpdate:
		if err := c.limit(protocol.TypeCodeUpdate); err != nil {
			return withDetails(err, protocol.TypeCodeUpdate, ev.code.OpID)
		}
	case protocol.TypeNotesUpdate:
		if err := c.limit(protocol.TypeNotesUpdate); err != nil {
			return withDetails(err, protocol.TypeNotesUpdate, ev.code.OpID)
		}
	case protocol.TypeLanguageChanged, protocol.TypeRunOutput:
		if err := c.limit(ev.typ); err != nil {
			return withDetails(err, ev.typ, "")
		}
	}
	return nil
}

// workerIdle is how long a submit worker waits for the next loop to run
// before it ends.
const workerIdle = 5 * time.Second

// submitters runs the connections' submit loops on goroutines that outlive
// one loop. A goroutine that ran a submit has grown its stack to the depth
// of the append path (the JetStream request, transforms, the delivery to
// the room); a fresh goroutine per burst of updates paid that growth again
// every time (stack copies were 2.7 % of the all-in-one's CPU under
// interview load). There are never more workers than loops that ran at
// once in the last workerIdle; an idle connection has none.
type submitters struct {
	tasks chan func() // to a worker waiting for its next loop
	stop  chan struct{}
	mu    sync.Mutex
	down  bool
	wg    sync.WaitGroup // the workers
}

func newSubmitters() *submitters {
	return &submitters{tasks: make(chan func()), stop: make(chan struct{})}
}

// run runs f on an idle worker, or on a new one. After close (or without
// a pool, in tests) f gets a goroutine of its own.
func (p *submitters) run(f func()) {
	if p == nil {
		go f()
		return
	}
	select {
	case p.tasks <- f:
		return
	default:
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		go f()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.work(f)
}

// work runs f, then the loops handed to it, until it has been idle for
// workerIdle or the pool closes.
func (p *submitters) work(f func()) {
	defer p.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(workerIdle)
		select {
		case f = <-p.tasks:
		case <-idle.C:
			return
		case <-p.stop:
			return
		}
	}
}

// close ends the idle workers and waits for every worker, which ends once
// the loop it runs does (the connections own those: see subWG).
func (p *submitters) close() {
	p.mu.Lock()
	if !p.down {
		p.down = true
		close(p.stop)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
