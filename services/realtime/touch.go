package realtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// touchEvery is how often a session's activity is written while clients
// are busy: a quarter of the idle timeout, at most a minute, so the record
// never sees a write per keystroke yet never looks idle to the janitor.
func touchEvery(idle time.Duration) time.Duration {
	return max(min(idle/4, time.Minute), time.Millisecond)
}

// touchInterval is how long after the activity its record holds a
// session's next touch is due: between three quarters of every and the
// whole of it, by the session id. Sessions opened together (an instance's
// restart, a benchmark's set-up: each handshake touches) would otherwise
// all fall due in the same second an interval later, and again every
// interval after, a burst of writes and watcher deliveries among the
// edits; with an interval of their own the first touches spread over a
// quarter of it and drift further apart after. The record still lags the
// last activity by less than every.
func touchInterval(every time.Duration, sessionID string) time.Duration {
	const parts = 1024
	return every - every/4*time.Duration(idHash(sessionID)%parts)/parts
}

// toucher writes session activity off the connections' goroutines: requests
// for one session coalesce until the writer gets to them. Each touch starts
// from the record its room knows (room.touch), so it reads the key only
// after a conflict.
type toucher struct {
	log     *slog.Logger
	now     func() time.Time
	mu      sync.Mutex
	pending map[string]*room
	wake    chan struct{}
}

func newToucher(log *slog.Logger, now func() time.Time) *toucher {
	return &toucher{log: log, now: now, pending: map[string]*room{}, wake: make(chan struct{}, 1)}
}

// request asks for a touch of rm's session; it never blocks.
func (t *toucher) request(rm *room) {
	t.mu.Lock()
	t.pending[rm.id] = rm
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run is the toucher goroutine; it ends with ctx.
func (t *toucher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
		t.mu.Lock()
		batch := t.pending
		t.pending = map[string]*room{}
		t.mu.Unlock()
		for sid, rm := range batch {
			tctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
			err := rm.touch(tctx, t.now())
			cancel()
			if err != nil && protocol.ErrorCode(err) != protocol.CodeSessionNotFound && ctx.Err() == nil {
				t.log.Warn("touch session failed", "session_id", sid, "err", err)
			}
		}
	}
}
