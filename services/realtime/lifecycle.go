package realtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// killGrace is how long Shutdown waits for connections it cut off at its
// deadline to finish their bookkeeping (presence deletes).
const killGrace = 3 * time.Second

// slots counts connections (from the handshake to their end) per instance
// and per client IP, and turns new ones away while the service drains.
type slots struct {
	mu       sync.Mutex
	max      int
	maxPerIP int
	total    int
	perIP    map[string]int
	draining bool
	idle     chan struct{} // closed when draining and nothing is left
}

func newSlots(max, maxPerIP int) *slots {
	return &slots{max: max, maxPerIP: maxPerIP, perIP: map[string]int{}, idle: make(chan struct{})}
}

// take holds a slot for ip until the returned release is called.
func (sl *slots) take(ip string) (func(), error) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	switch {
	case sl.draining:
		return nil, protocol.Errorf(protocol.CodeServiceUnavailable, "The service is restarting: reconnect in a moment")
	case sl.total >= sl.max:
		return nil, protocol.Errorf(protocol.CodeServiceUnavailable, "This instance is at its connection limit (%d)", sl.max)
	case sl.maxPerIP > 0 && sl.perIP[ip] >= sl.maxPerIP:
		return nil, protocol.Errorf(protocol.CodeTooManyConnections, "Too many connections from this address (at most %d)", sl.maxPerIP)
	}
	sl.total++
	sl.perIP[ip]++
	var once sync.Once
	return func() { once.Do(func() { sl.release(ip) }) }, nil
}

func (sl *slots) release(ip string) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.total--
	if sl.perIP[ip]--; sl.perIP[ip] <= 0 {
		delete(sl.perIP, ip)
	}
	if sl.draining && sl.total == 0 {
		close(sl.idle)
	}
}

// drain refuses new connections from now on.
func (sl *slots) drain() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.draining {
		return
	}
	sl.draining = true
	if sl.total == 0 {
		close(sl.idle)
	}
}

func (sl *slots) isDraining() bool {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.draining
}

func (sl *slots) open() int {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.total
}

// Shutdown stops accepting connections (new upgrades get 503), tells every
// client to reconnect (close 1012 "service restart"; Socket.IO clients see
// a transport close and reconnect on their own), removes their presence
// entries, waits for them within ctx (cutting off the rest at its end),
// then stops the watchers, the micro service and the document engine,
// which writes its last snapshots. Every goroutine of the service has
// ended when it returns. It is safe to call more than once.
func (s *Service) Shutdown(ctx context.Context) error {
	var err error
	s.shutdownOnce.Do(func() { err = s.shutdown(ctx) })
	return err
}

func (s *Service) shutdown(ctx context.Context) error {
	s.slots.drain()
	conns := s.hub.conns()
	s.log.Info("draining connections", "connections", len(conns))
	for _, c := range conns {
		c.closeAfterQueue(websocket.CloseServiceRestart, "service restart", protocol.LeftDisconnect)
	}
	var errs []error
	select {
	case <-s.slots.idle:
	case <-ctx.Done():
		left := s.hub.conns()
		errs = append(errs, fmt.Errorf("drain: %d connections cut off: %w", len(left), ctx.Err()))
		for _, c := range left {
			c.kill(protocol.LeftDisconnect)
		}
		select {
		case <-s.slots.idle:
		case <-time.After(killGrace):
			errs = append(errs, fmt.Errorf("drain: %d handshakes still running", s.slots.open()))
		}
	}
	s.stopBackground()
	return errors.Join(errs...)
}

// stopBackground ends the watchers, loops, micro service and engine.
func (s *Service) stopBackground() {
	s.cancel()
	s.watches.stop()
	if s.micro != nil {
		if err := s.micro.Stop(); err != nil {
			s.log.Warn("stop micro service", "err", err)
		}
	}
	s.bg.Wait()
	s.hub.wait()
	s.engine.Close()
	s.clients.submitters.close() // a loop still running after a cut-off drain fails fast now
	s.events.Close()             // every room has closed, and unsubscribed
	if s.ownPeers {
		s.peers.Close()
	}
	if s.poller != nil {
		// Every connection has ended (or was never read): nothing is
		// registered any more.
		if err := s.poller.Close(); err != nil {
			s.log.Warn("epoll reader", "err", err)
		}
	}
}
