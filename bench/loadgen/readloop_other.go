//go:build !linux

package loadgen

// readLoops has no epoll elsewhere than on Linux: every connection has its
// own reader goroutine (Conn.read).
type readLoops struct{}

func newReadLoops() *readLoops { return nil }

func (*readLoops) register(*Conn, func(Event)) bool { return false }
