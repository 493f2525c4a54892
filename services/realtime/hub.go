package realtime

import (
	"context"
	"sync"
	"time"
)

// openTimeout bounds opening a session on this instance: events
// subscription, record and document load.
const openTimeout = 15 * time.Second

// hub holds the sessions this instance has connections in. A hub session
// lives while it has connections, reservations or handshakes in progress;
// the last one out closes it.
//
// Lock order: hub.mu may be taken while holding a hubSession's mu, never the
// other way round; neither is held while calling into the document engine.
type hub struct {
	s        *Service
	mu       sync.Mutex
	sessions map[string]*hubSession
}

func newHub(s *Service) *hub {
	return &hub{s: s, sessions: map[string]*hubSession{}}
}

// acquire returns the session's hub session, opening it on this instance
// when it is the first (since then seeds its replay history).
func (h *hub) acquire(ctx context.Context, sid string, since int64) (*hubSession, error) {
	h.mu.Lock()
	hs := h.sessions[sid]
	create := hs == nil
	if create {
		hs = newHubSession(h.s, sid)
		h.sessions[sid] = hs
		h.s.metrics.sessions.Set(float64(len(h.sessions)))
	}
	hs.refs++
	h.mu.Unlock()
	if create {
		octx, cancel := context.WithTimeout(h.s.ctx, openTimeout)
		hs.open(octx, since)
		cancel()
	}
	select {
	case <-hs.ready:
	case <-ctx.Done():
		h.release(hs)
		return nil, handshakeFailure(ctx.Err())
	}
	if hs.openErr != nil {
		h.release(hs)
		return nil, hs.openErr
	}
	return hs, nil
}

// release drops one reference; the last closes the hub session.
func (h *hub) release(hs *hubSession) {
	h.mu.Lock()
	hs.refs--
	last := hs.refs == 0
	if last && h.sessions[hs.id] == hs {
		delete(h.sessions, hs.id)
	}
	h.s.metrics.sessions.Set(float64(len(h.sessions)))
	h.mu.Unlock()
	if last {
		hs.close()
	}
}

// forget removes an ended hub session, so the next handshake for the same
// id opens afresh (and finds the session gone).
func (h *hub) forget(hs *hubSession) {
	h.mu.Lock()
	if h.sessions[hs.id] == hs {
		delete(h.sessions, hs.id)
	}
	h.s.metrics.sessions.Set(float64(len(h.sessions)))
	h.mu.Unlock()
}

// get returns the open hub session of sid, or nil.
func (h *hub) get(sid string) *hubSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.sessions[sid]
	if hs == nil {
		return nil
	}
	select {
	case <-hs.ready:
		if hs.openErr != nil {
			return nil
		}
		return hs
	default:
		return hs // still opening: its own record read orders with the watcher by revision
	}
}

// all returns every open hub session.
func (h *hub) all() []*hubSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*hubSession, 0, len(h.sessions))
	for _, hs := range h.sessions {
		out = append(out, hs)
	}
	return out
}

// conns returns every connection of this instance.
func (h *hub) conns() []*client {
	var out []*client
	for _, hs := range h.all() {
		hs.mu.Lock()
		for _, c := range hs.conns {
			out = append(out, c)
		}
		hs.mu.Unlock()
	}
	return out
}

// counts reports sessions held and connections open, for stats.
func (h *hub) counts() (sessions, conns int) {
	for _, hs := range h.all() {
		sessions++
		hs.mu.Lock()
		conns += len(hs.conns)
		hs.mu.Unlock()
	}
	return sessions, conns
}
