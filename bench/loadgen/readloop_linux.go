//go:build linux

package loadgen

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// readLoops are the generator's own epoll loops, which read the sockets of
// many connections: one per two of GOMAXPROCS (one on two cores), each with
// its own epoll instance in which a connection's socket is registered
// edge-triggered. A loop reads every ready socket until it is drained
// (Conn.service), parsing and dispatching its frames there, so a received
// frame costs no goroutine wake-up of its own: the loop's goroutine wakes
// once per batch of ready sockets. The epoll fd is itself in the runtime's
// poller (it is readable while sockets are ready), so a loop parks like any
// goroutine waiting for a socket; blocking in epoll_wait instead cost a
// fifth more CPU per event (a thread leaving a system call for every
// batch). A loop runs while it has connections: the first registered starts
// it, and it ends when its last connection has ended. A connection's
// handler runs on its loop, so it must not block (the generator's only
// take the user's lock and queue sends).
type readLoops struct {
	next  atomic.Uint64
	loops []*readLoop
}

func newReadLoops() *readLoops {
	// Fewer loops wake less often for larger batches: against the bare
	// relay on two cores, one loop took about 5 % less CPU per event than
	// the goroutine per connection, two loops about 2 % (docs/benchmarks.md).
	s := &readLoops{loops: make([]*readLoop, max(1, runtime.GOMAXPROCS(0)/2))}
	for i := range s.loops {
		s.loops[i] = &readLoop{conns: map[int]*Conn{}}
	}
	return s
}

// readLoop is one loop: its connections by socket fd, and its epoll
// instance while it runs.
type readLoop struct {
	mu    sync.Mutex
	conns map[int]*Conn
	ep    *epollFD // nil while the loop is not running
}

// epollArm: readable or shut down by the peer, edge-triggered (EPOLLET,
// which the syscall package spells as a negative int).
const epollArm = uint32(syscall.EPOLLIN|syscall.EPOLLRDHUP) | 1<<31

// register hands c's reads to a loop, after dispatching the frames read
// with the handshake; false when no loop could take it (the caller reads
// it with a goroutine).
func (s *readLoops) register(c *Conn, handle func(Event)) bool {
	if err := c.drain(handle); err != nil {
		c.finish(err)
		return true
	}
	c.rd.idle()
	fd := -1
	if err := c.raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		c.finish(err) // closed before it ran
		return true
	}
	c.fd, c.handle = fd, handle
	l := s.loops[s.next.Add(1)%uint64(len(s.loops))]
	l.mu.Lock()
	defer l.mu.Unlock()
	start := l.ep == nil
	if start {
		ep, err := newEpollFD()
		if err != nil {
			return false
		}
		l.ep = ep
	}
	l.conns[fd] = c
	// Bytes already in the socket are reported at once.
	ev := syscall.EpollEvent{Events: epollArm, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.ep.fd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		delete(l.conns, fd)
		if start {
			l.ep.close()
			l.ep = nil
		}
		return false
	}
	if start {
		go l.run(l.ep)
	}
	return true
}

// run is the loop's goroutine: it waits for ready sockets, services each,
// and ends the connections that ended, until it has none left. It stays in
// one RawConn.Read of the epoll fd: every socket made ready after it was
// entered raises an edge of the epoll fd that the runtime's poller
// remembers, so after a batch of fewer events than it asked for it waits at
// once, without another epoll_wait to find nothing.
func (l *readLoop) run(ep *epollFD) {
	events := make([]syscall.EpollEvent, 256)
	ready := make([]*Conn, 0, len(events))
	var werr error
	stopped := false
	err := ep.rc.Read(func(fd uintptr) bool {
		for {
			n, errno := syscall.EpollWait(int(fd), events, 0)
			switch {
			case errno == syscall.EINTR:
				continue
			case errno != nil:
				werr = os.NewSyscallError("epoll_wait", errno)
				return true
			case n == 0:
				return false
			}
			l.mu.Lock()
			for i := range events[:n] {
				if c := l.conns[int(events[i].Fd)]; c != nil {
					ready = append(ready, c)
				}
			}
			l.mu.Unlock()
			for i, c := range ready {
				if err, end := c.service(c.fd, c.handle); end {
					l.end(ep, c, err)
				}
				ready[i] = nil
			}
			ready = ready[:0]
			l.mu.Lock()
			if len(l.conns) == 0 {
				l.ep, stopped = nil, true
				l.mu.Unlock()
				return true
			}
			l.mu.Unlock()
			if n < len(events) {
				return false
			}
		}
	})
	if stopped {
		ep.close()
		return
	}
	if err == nil {
		err = werr
	}
	l.fail(ep, fmt.Errorf("loadgen: read loop: %w", err))
}

// end takes c out of the loop, then ends it (closing its socket).
func (l *readLoop) end(ep *epollFD, c *Conn, err error) {
	_ = syscall.EpollCtl(ep.fd, syscall.EPOLL_CTL_DEL, c.fd, &syscall.EpollEvent{})
	l.mu.Lock()
	delete(l.conns, c.fd)
	l.mu.Unlock()
	c.finish(err)
}

// fail ends every connection of a loop whose epoll instance failed (it
// never does in practice), and the loop.
func (l *readLoop) fail(ep *epollFD, err error) {
	l.mu.Lock()
	conns := make([]*Conn, 0, len(l.conns))
	for _, c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		l.end(ep, c, err)
	}
	l.mu.Lock()
	l.ep = nil
	l.mu.Unlock()
	ep.close()
}

// epollFD is an epoll instance, itself registered in the runtime's poller.
type epollFD struct {
	fd   int
	file *os.File // owns fd
	rc   syscall.RawConn
}

func newEpollFD() (*epollFD, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	e := &epollFD{fd: fd, file: os.NewFile(uintptr(fd), "epoll")}
	if e.rc, err = e.file.SyscallConn(); err != nil {
		e.close()
		return nil, err
	}
	// A file the runtime cannot poll has no deadlines: its loop could not
	// park, so the connections keep their reader goroutines.
	if err := e.file.SetReadDeadline(time.Time{}); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *epollFD) close() { _ = e.file.Close() }
