package realtime

import (
	"context"
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

// toucher writes session activity off the connections' goroutines: requests
// for one session coalesce until the writer gets to them.
type toucher struct {
	s       *Service
	mu      sync.Mutex
	pending map[string]bool
	wake    chan struct{}
}

func newToucher(s *Service) *toucher {
	return &toucher{s: s, pending: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// request asks for a touch of sid; it never blocks.
func (t *toucher) request(sid string) {
	t.mu.Lock()
	t.pending[sid] = true
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run is the toucher goroutine; it ends with ctx.
func (t *toucher) run(ctx context.Context) {
	defer t.s.bg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
		t.mu.Lock()
		batch := t.pending
		t.pending = map[string]bool{}
		t.mu.Unlock()
		for sid := range batch {
			tctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
			err := t.s.store.Touch(tctx, sid, t.s.now())
			cancel()
			if err != nil && protocol.ErrorCode(err) != protocol.CodeSessionNotFound && ctx.Err() == nil {
				t.s.log.Warn("touch session failed", "session_id", sid, "err", err)
			}
		}
	}
}

// activity records a client event; the session record is touched at most
// once per touch interval per session per instance.
func (hs *hubSession) activity(now time.Time) {
	hs.mu.Lock()
	due := now.Sub(hs.touchAt) >= hs.s.touchEvery
	if due {
		hs.touchAt = now
	}
	hs.mu.Unlock()
	if due {
		hs.s.toucher.request(hs.id)
	}
}

// touched records a synchronous touch (the handshake's).
func (hs *hubSession) touched(now time.Time) {
	hs.mu.Lock()
	hs.touchAt = now
	hs.mu.Unlock()
}
