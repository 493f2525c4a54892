//go:build linux

package wsconn

import (
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestPollerFails: when the waiter fails (here its epoll fd is closed
// under it, as a failing epoll_wait would end it), Done closes and Err
// says why, so the owner can stop instead of keeping deaf connections;
// Close still ends the workers and returns the same error.
func TestPollerFails(t *testing.T) {
	needPoller(t)
	before := pollerGoroutines()
	p, addr, conns := pollerServer(t)
	c := rawDial(t, addr)
	pc := <-conns
	write(t, c, clientFrame(websocket.TextMessage, true, []byte("x")))
	if got := next(t, pc); got != "x" {
		t.Fatalf("handled %q, want x", got)
	}
	select {
	case <-p.Done():
		t.Fatal("Done closed while the waiter runs")
	default:
	}
	if err := p.Err(); err != nil {
		t.Fatalf("Err while the waiter runs: %v", err)
	}

	if err := p.ep.file.Close(); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	werr := p.Err()
	if werr == nil || !strings.Contains(werr.Error(), "epoll fd") {
		t.Fatalf("Err after the waiter failed: %v, want the epoll fd's error", werr)
	}
	_ = c.Close()
	pc.c.Kill() // nothing reads it any more: its owner ends it
	<-pc.reason
	if err := p.Close(); err != werr {
		t.Fatalf("Close: %v, want the waiter's error %v", err, werr)
	}
	if err := p.Err(); err != werr {
		t.Fatalf("Err after Close: %v, want %v", err, werr)
	}
	if n := pollerGoroutines(); n > before {
		t.Fatalf("%d poller goroutines after Close, %d before", n, before)
	}
}
