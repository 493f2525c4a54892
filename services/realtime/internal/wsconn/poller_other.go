//go:build !linux

package wsconn

import (
	"errors"
	"syscall"
)

// Elsewhere than Linux there is no epoll: NewPoller fails with
// ErrNoPoller and connections keep the goroutine reader.
type epoll struct{}

const wakeKey = 0

func newEpoll() (*epoll, error) { return nil, ErrNoPoller }

func (*epoll) ctl(uintptr, uint64, bool) error { return ErrNoPoller }
func (*epoll) del(uintptr) error               { return ErrNoPoller }
func (*epoll) wait(func(uint64)) error         { return ErrNoPoller }
func (*epoll) wake()                           {}
func (*epoll) close()                          {}

type sysCalls struct{}

func newSysCalls() *sysCalls { return &sysCalls{} }

func (*sysCalls) read(syscall.RawConn, []byte) (int, error)  { return 0, errors.ErrUnsupported }
func (*sysCalls) write(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }
func (*sysCalls) arm(*epoll, syscall.RawConn, uint64, bool) error {
	return errors.ErrUnsupported
}

func unread(syscall.RawConn) bool { return false }
