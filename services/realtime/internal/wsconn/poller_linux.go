//go:build linux

package wsconn

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// epoll is the poller's Linux half: an epoll instance with edge-triggered
// registrations (each added once, reporting bytes that arrive; see
// Poller) and a pipe that wakes its waiter for Close. The epoll fd
// is itself in the Go runtime's poller (it is readable while connections
// are ready), so the waiter parks like any goroutine waiting for a socket
// instead of holding a thread blocked in epoll_wait, and is woken by the
// scheduler's own polling.
type epoll struct {
	fd    int
	file  *os.File // owns fd
	rc    syscall.RawConn
	wakeR int
	wakeW int
}

const (
	// wakeKey is the pipe's key; connections' keys start at 1.
	wakeKey = 0
	// armFlags: readable or closed by the peer, edge-triggered
	// (EPOLLET, which the syscall package spells as a negative int).
	armFlags = uint32(syscall.EPOLLIN|syscall.EPOLLRDHUP) | 1<<31
)

func newEpoll() (*epoll, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("wsconn: epoll_create1: %w", err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("wsconn: pipe2: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("wsconn: epoll fd: %w", err)
	}
	e := &epoll{fd: fd, file: os.NewFile(uintptr(fd), "epoll"), wakeR: p[0], wakeW: p[1]}
	var err2 error
	if e.rc, err2 = e.file.SyscallConn(); err2 != nil {
		e.close()
		return nil, fmt.Errorf("wsconn: epoll fd: %w", err2)
	}
	// A file the runtime cannot poll has no deadlines: then the waiter
	// could not park, and the connections keep their goroutines.
	if err := e.file.SetReadDeadline(time.Time{}); err != nil {
		e.close()
		return nil, fmt.Errorf("%w: the runtime cannot poll an epoll fd (%v)", ErrNoPoller, err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setKey(&ev, wakeKey)
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, e.wakeR, &ev); err != nil {
		e.close()
		return nil, fmt.Errorf("wsconn: epoll_ctl wake pipe: %w", err)
	}
	return e, nil
}

func setKey(ev *syscall.EpollEvent, key uint64) {
	ev.Fd, ev.Pad = int32(uint32(key)), int32(uint32(key>>32))
}

func eventKey(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// del removes a connection's fd.
func (e *epoll) del(fd uintptr) error {
	return syscall.EpollCtl(e.fd, syscall.EPOLL_CTL_DEL, int(fd), &syscall.EpollEvent{})
}

// wait waits until connections are ready and calls ready with each one's
// key; it returns when the wake pipe is written (Close). epoll_wait itself
// never blocks: the runtime's poller says when it has events.
func (e *epoll) wait(ready func(key uint64)) error {
	events := make([]syscall.EpollEvent, 256)
	var n int
	var werr error
	poll := func(fd uintptr) bool {
		n, werr = syscall.EpollWait(int(fd), events, 0)
		return n > 0 || (werr != nil && werr != syscall.EINTR)
	}
	for {
		if err := e.rc.Read(poll); err != nil {
			return fmt.Errorf("wsconn: epoll fd: %w", err)
		}
		if werr != nil {
			return fmt.Errorf("wsconn: epoll_wait: %w", werr)
		}
		for i := range events[:n] {
			key := eventKey(&events[i])
			if key == wakeKey {
				return nil
			}
			ready(key)
		}
	}
}

// wake makes wait return.
func (e *epoll) wake() {
	_, _ = syscall.Write(e.wakeW, []byte{1})
}

func (e *epoll) close() {
	_ = e.file.Close()
	_ = syscall.Close(e.wakeR)
	_ = syscall.Close(e.wakeW)
}

// sysCalls holds a worker's system call arguments and results, with the
// functions that make them bound once, so its reads, writes and epoll_ctl calls
// allocate nothing per call.
type sysCalls struct {
	buf   []byte
	op    func(int, []byte) (int, error) // syscall.Read or syscall.Write
	n     int
	err   error
	ep    *epoll
	key   uint64
	add   bool
	ev    syscall.EpollEvent
	ioFn  func(uintptr) bool
	ctlFn func(uintptr)
}

func newSysCalls() *sysCalls {
	s := &sysCalls{}
	s.ioFn, s.ctlFn = s.doIO, s.doCtl
	return s
}

func (s *sysCalls) doIO(fd uintptr) bool {
	for {
		s.n, s.err = s.op(int(fd), s.buf)
		if s.err != syscall.EINTR {
			return true
		}
	}
}

// read reads once from a connection's fd without waiting: n 0 and
// errWouldBlock when nothing is there, n 0 and a nil error at the end of
// the stream.
func (s *sysCalls) read(rc syscall.RawConn, b []byte) (int, error) {
	s.buf, s.op = b, syscall.Read
	return s.result(rc.Read(s.ioFn))
}

// write writes b to a connection's fd once, without waiting for room: the
// bytes the socket's buffer took, errWouldBlock when it took none.
func (s *sysCalls) write(rc syscall.RawConn, b []byte) (int, error) {
	s.buf, s.op = b, syscall.Write
	return s.result(rc.Write(s.ioFn))
}

// result is what a read or write returns, from rc's error and the system
// call's.
func (s *sysCalls) result(err error) (int, error) {
	s.buf = nil
	switch {
	case err != nil:
		return 0, err
	case s.err == syscall.EAGAIN:
		return 0, errWouldBlock
	case s.err != nil:
		return 0, s.err
	}
	return s.n, nil
}

func (s *sysCalls) doCtl(fd uintptr) {
	op := syscall.EPOLL_CTL_MOD
	if s.add {
		op = syscall.EPOLL_CTL_ADD
	}
	s.ev = syscall.EpollEvent{Events: armFlags}
	setKey(&s.ev, s.key)
	s.err = syscall.EpollCtl(s.ep.fd, op, int(fd), &s.ev)
}

// arm adds (add) or modifies a connection's fd inside rc's Control, so it
// cannot be closed meanwhile. Either makes epoll report the fd at once if
// it is readable, as a new edge would.
func (s *sysCalls) arm(e *epoll, rc syscall.RawConn, key uint64, add bool) error {
	s.ep, s.key, s.add = e, key, add
	if err := rc.Control(s.ctlFn); err != nil {
		return err
	}
	return s.err
}

// unread reports whether a connection's socket holds bytes not read yet
// (ioctl FIONREAD), without reading or waiting; false when it cannot tell
// (the socket is closed).
func unread(rc syscall.RawConn) bool {
	var n int32
	var errno syscall.Errno
	err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	})
	return err == nil && errno == 0 && n > 0
}
