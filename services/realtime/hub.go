package realtime

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/services/realtime/internal/refcount"
	"github.com/pairpad/pairpad/shared/protocol"
)

// openGrace is how long a room whose opening outlived every handshake
// that waited for it (a big op log loading on a busy machine) stays open
// with nobody in it, so the client's retry after its 503 finds the
// document loaded instead of starting the load again.
const openGrace = time.Minute

// hub holds the rooms of this instance: one per session it has
// connections in. A room lives while it has connections, held places or
// handshakes in progress; the last one out closes it.
//
// Lock order: hub.mu may be taken while holding a room's mu, never the
// other way round; neither is held while calling into the document engine,
// except a room's mu around Doc.Replay and Doc.HashAt, which take only the
// engine replica's lock (the engine calls a room's Opened under that lock
// only while the room's own Doc attaches, before anyone joins).
type hub struct {
	ctx      context.Context  // rooms open under it, not under a handshake's
	gauge    prometheus.Gauge // rooms held
	roomDeps roomDeps
	mu       sync.Mutex
	rooms    refcount.Map[string, *room] // by session id
	wg       sync.WaitGroup              // openers and the graces after them; end with ctx
}

func newHub(ctx context.Context, gauge prometheus.Gauge, rooms roomDeps) *hub {
	h := &hub{ctx: ctx, gauge: gauge, roomDeps: rooms}
	h.roomDeps.forget = h.forget
	return h
}

// acquire returns the session's room, opening it on this instance
// when it is the first (since then seeds its replay history).
//
// Opening belongs to the room, not to the handshake that came first: it
// runs on a goroutine of its own, under the service's context, each NATS
// read within its own deadline, so a long load is neither cut short by
// one handshake's deadline nor started again by the next handshake. A
// handshake waits for it until its own ctx ends, and is then answered
// SERVICE_UNAVAILABLE (retry) saying the document is still loading.
func (h *hub) acquire(ctx context.Context, sid string, since int64) (*room, error) {
	h.mu.Lock()
	rm, created := h.rooms.Acquire(sid, func() *room { return newRoom(&h.roomDeps, sid) })
	if created {
		h.gauge.Set(float64(h.rooms.Len()))
		h.rooms.Hold(rm) // the opener's, released by h.open
		h.wg.Add(1)
		go h.open(rm, since)
	}
	h.mu.Unlock()
	select {
	case <-rm.ready:
	default:
		select {
		case <-rm.ready:
		case <-ctx.Done():
			h.release(rm)
			return nil, errStillLoading(ctx.Err())
		}
	}
	if rm.openErr != nil {
		h.release(rm)
		return nil, rm.openErr
	}
	return rm, nil
}

// errStillLoading is the answer to a handshake that gave up waiting for
// its session to open: retryable, and not a NATS outage.
func errStillLoading(cause error) error {
	return protocol.Wrap(protocol.CodeServiceUnavailable,
		"The session's document is still loading on this instance; retry shortly", cause)
}

// open opens rm and drops the opener's reference. When every handshake
// that waited has given up meanwhile, the opened room is kept for
// openGrace (or until the service stops) for their retries.
func (h *hub) open(rm *room, since int64) {
	defer h.wg.Done()
	rm.open(h.ctx, since)
	h.mu.Lock()
	keep := rm.openErr == nil && h.rooms.Refs(rm) == 1
	h.mu.Unlock()
	if !keep {
		h.release(rm)
		return
	}
	t := time.NewTimer(openGrace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-h.ctx.Done():
	}
	h.release(rm)
}

// wait returns when every opener and grace has ended; they end soon
// after the hub's context does.
func (h *hub) wait() { h.wg.Wait() }

// release drops one reference; the last closes the room.
func (h *hub) release(rm *room) {
	h.mu.Lock()
	last, _ := h.rooms.Release(rm)
	h.gauge.Set(float64(h.rooms.Len()))
	h.mu.Unlock()
	if last {
		rm.close()
	}
}

// forget removes an ended room, so the next handshake for the same
// id opens afresh (and finds the session gone).
func (h *hub) forget(rm *room) {
	h.mu.Lock()
	h.rooms.Forget(rm)
	h.gauge.Set(float64(h.rooms.Len()))
	h.mu.Unlock()
}

// get returns the open room of sid, or nil.
func (h *hub) get(sid string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	rm, ok := h.rooms.Get(sid)
	if !ok {
		return nil
	}
	select {
	case <-rm.ready:
		if rm.openErr != nil {
			return nil
		}
		return rm
	default:
		return rm // still opening: its own record read orders with the watcher by revision
	}
}

// all returns every open room.
func (h *hub) all() []*room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms.Values()
}

// conns returns every connection of this instance.
func (h *hub) conns() []*client {
	var out []*client
	for _, rm := range h.all() {
		rm.mu.Lock()
		out = append(out, rm.conns...)
		rm.mu.Unlock()
	}
	return out
}

// counts reports sessions held and connections open, for stats.
func (h *hub) counts() (sessions, conns int) {
	for _, rm := range h.all() {
		sessions++
		rm.mu.Lock()
		conns += len(rm.conns)
		rm.mu.Unlock()
	}
	return sessions, conns
}
