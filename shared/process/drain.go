package process

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// drain flushes what the connection still has to send and closes it.
func drain(nc *nats.Conn, timeout time.Duration) error {
	if !nc.IsConnected() {
		nc.Close()
		return nil
	}
	done := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return fmt.Errorf("drain nats: %w", err)
	}
	select {
	case <-done:
	case <-time.After(timeout):
		nc.Close()
	}
	return nil
}
