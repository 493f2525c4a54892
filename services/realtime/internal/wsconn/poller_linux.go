//go:build linux

package wsconn

import (
	"errors"
	"fmt"
	"syscall"
)

// epoll is the poller's Linux half: an epoll instance with one-shot
// registrations and a pipe that wakes its waiter for Close.
type epoll struct {
	fd    int
	wakeR int
	wakeW int
}

const (
	// wakeKey is the pipe's key; connections' keys start at 1.
	wakeKey  = 0
	armFlags = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT
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
	e := &epoll{fd: fd, wakeR: p[0], wakeW: p[1]}
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

// ctl adds (add) or re-arms a connection's fd, one-shot, with its key.
func (e *epoll) ctl(fd uintptr, key uint64, add bool) error {
	op := syscall.EPOLL_CTL_MOD
	if add {
		op = syscall.EPOLL_CTL_ADD
	}
	ev := syscall.EpollEvent{Events: armFlags}
	setKey(&ev, key)
	return syscall.EpollCtl(e.fd, op, int(fd), &ev)
}

// del removes a connection's fd.
func (e *epoll) del(fd uintptr) error {
	return syscall.EpollCtl(e.fd, syscall.EPOLL_CTL_DEL, int(fd), &syscall.EpollEvent{})
}

// wait blocks until connections are ready and calls ready with each one's
// key; it returns when the wake pipe is written (Close).
func (e *epoll) wait(ready func(key uint64)) error {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(e.fd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wsconn: epoll_wait: %w", err)
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
	_ = syscall.Close(e.fd)
	_ = syscall.Close(e.wakeR)
	_ = syscall.Close(e.wakeW)
}

// readNow reads once from a connection's fd without waiting: n 0 and
// errWouldBlock when nothing is there, n 0 and a nil error at the end of
// the stream.
func readNow(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), b)
			if rerr != syscall.EINTR {
				return true
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if rerr == syscall.EAGAIN {
		return 0, errWouldBlock
	}
	if rerr != nil {
		return 0, rerr
	}
	return n, nil
}
