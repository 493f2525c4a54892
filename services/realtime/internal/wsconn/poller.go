package wsconn

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoPoller: this platform has no epoll; connections keep a reader
// goroutine each.
var ErrNoPoller = errors.New("wsconn: no epoll on this platform")

// errWouldBlock: a polled read found nothing to read, or a raw write no
// room in the socket buffer.
var errWouldBlock = errors.New("wsconn: the socket is not ready (nothing to read, or no room to write)")

const (
	// warmWorkers stay while idle; more are started when every worker is
	// busy, and end after workerIdle without work.
	warmWorkers = 4
	workerIdle  = 2 * time.Second
)

// Poller parks idle connections' readers on epoll instead of one blocked
// goroutine per connection: one goroutine waits on the epoll set for every
// registered connection (parked in the runtime's poller, poller_linux.go),
// and a ready connection's frames are read (without blocking) and handled
// on a worker. A connection is registered once, edge-triggered: epoll
// reports it when bytes arrive, with no system call to re-arm it after
// each read. Its state (polled.go) keeps it to one worker at a time: an
// edge reported while a worker runs it only marks it (polled.again), and
// that worker reads again before it lets the connection wait, so bytes
// that arrive during a read or a handler are never left unannounced. A
// flooding client is throttled by TCP as with a reader goroutine: nothing
// is read while its handler runs. Each registration has a key of its own,
// so a reused fd number never reaches the connection that had it before.
// The owner calls Close once its connections have ended.
type Poller struct {
	ep *epoll

	mu     sync.RWMutex // regs and next; held for reading by every epoll_ctl, so none runs once closed
	regs   map[uint64]*Conn
	next   uint64
	closed bool

	// stopping: Close has ended the waiter and closes tasks; serveNow
	// dispatches no more. Guarded by mu.
	stopping bool

	tasks     chan *Conn
	workers   atomic.Int32
	wg        sync.WaitGroup // the waiter and the workers
	done      chan struct{}  // closed when the waiter has returned
	closeOnce sync.Once
	// err is why the waiter ended, when it failed (an epoll_wait error,
	// which nothing the poller does causes): armed connections are then
	// not read again; Err reports it so the owner can stop.
	err error
}

// NewPoller starts a poller; ErrNoPoller where there is no epoll.
func NewPoller() (*Poller, error) {
	ep, err := newEpoll()
	if err != nil {
		return nil, err
	}
	p := &Poller{ep: ep, regs: map[uint64]*Conn{}, next: wakeKey + 1, tasks: make(chan *Conn), done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.done)
		p.err = ep.wait(p.ready)
	}()
	return p, nil
}

// Close ends the waiter and the workers, once the workers have finished
// what they were handling. Connections still registered are not read any
// more: close them first.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() {
		p.ep.wake()
		<-p.done
		p.mu.Lock()
		p.stopping = true // serveNow, the other source of work, is done too
		p.mu.Unlock()
		close(p.tasks) // the waiter, which starts the work, has ended
		p.wg.Wait()
		p.mu.Lock()
		p.closed = true
		p.ep.close()
		p.mu.Unlock()
	})
	return p.err
}

// Done is closed when the waiter has ended: by Close, or because it failed
// (Err). Once it is closed no registered connection is read again.
func (p *Poller) Done() <-chan struct{} { return p.done }

// Err is why the waiter ended when it failed, once Done is closed; nil
// while it runs and after Close. A failed poller's connections are deaf:
// its owner cannot go on serving them (realtime ends the process).
func (p *Poller) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// register adds c, not armed yet, and returns its key.
func (p *Poller) register(c *Conn) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := p.next
	p.next++
	p.regs[key] = c
	return key
}

func (p *Poller) unregister(key uint64) {
	p.mu.Lock()
	delete(p.regs, key)
	p.mu.Unlock()
}

// ready runs on the waiter for each ready connection.
func (p *Poller) ready(key uint64) {
	p.mu.RLock()
	c := p.regs[key]
	p.mu.RUnlock()
	if c != nil && c.readyFor(key) {
		p.dispatch(c)
	}
}

// serveNow hands c to a worker as ready does, for a keepalive check that
// found it parked with bytes unread (the caller moved it to pollRunning);
// false once Close has begun, when no worker is left to serve it.
func (p *Poller) serveNow(c *Conn) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.stopping {
		return false
	}
	p.dispatch(c)
	return true
}

// dispatch hands c to an idle worker, or to a new one when all are busy.
func (p *Poller) dispatch(c *Conn) {
	select {
	case p.tasks <- c:
	default:
		p.workers.Add(1)
		p.wg.Add(1)
		go p.work(c)
	}
}

// work is a worker: it serves ready connections until the poller closes,
// or until it has been idle for workerIdle and is not one of the warm ones.
func (p *Poller) work(c *Conn) {
	defer p.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	sc := newSysCalls()
	for {
		if c != nil {
			c.serve(sc)
		}
		idle.Reset(workerIdle)
		var ok bool
		select {
		case c, ok = <-p.tasks:
			if !ok {
				p.workers.Add(-1)
				return
			}
		case <-idle.C:
			c = nil
			if n := p.workers.Load(); n > warmWorkers && p.workers.CompareAndSwap(n, n-1) {
				return
			}
		}
	}
}

// errPollerClosed: the poller was closed before the connection ended.
var errPollerClosed = errors.New("wsconn: poller closed")

// arm adds (add) or modifies a connection's registration with sc's system
// calls; either reports the fd at once if it is readable.
func (p *Poller) arm(sc *sysCalls, pr *polled, add bool) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return errPollerClosed
	}
	return sc.arm(p.ep, pr.rc, pr.key, add)
}

// del removes a connection's fd, before the connection closes it (a
// closed fd leaves the epoll set by itself, so a connection already
// closed is not an error).
func (p *Poller) del(pr *polled) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.closed {
		_ = pr.rc.Control(func(fd uintptr) { _ = p.ep.del(fd) })
	}
}
