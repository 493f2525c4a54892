package realtime

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// Reopening a watcher that ended while the service runs: the first retry
// at once, then backing off up to a few seconds while NATS does not answer.
const (
	rewatchFirst = 200 * time.Millisecond
	rewatchMax   = 3 * time.Second
)

// opener opens a watcher that delivers every change from revision resume
// on (0: the watcher's usual start).
type opener func(ctx context.Context, resume uint64) (jetstream.KeyWatcher, error)

// watchSet holds the instance's current KV watchers by name, so a
// reconnect can restart them and Shutdown stop whichever is running.
type watchSet struct {
	mu      sync.Mutex
	stopped bool
	cur     map[string]jetstream.KeyWatcher
}

// set records w as the current watcher of name; after stop it stops w
// instead and reports false.
func (ws *watchSet) set(name string, w jetstream.KeyWatcher) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.stopped {
		_ = w.Stop()
		return false
	}
	if ws.cur == nil {
		ws.cur = map[string]jetstream.KeyWatcher{}
	}
	ws.cur[name] = w
	return true
}

// restart stops the current watchers; their loops reopen them where they
// left off. After a reconnect that is at once, where the ordered consumer
// underneath would notice its server-side consumer is gone only after
// missing two heartbeats (10 s).
func (ws *watchSet) restart() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, w := range ws.cur {
		_ = w.Stop()
	}
}

// stop stops every watcher for good.
func (ws *watchSet) stop() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.stopped = true
	for _, w := range ws.cur {
		_ = w.Stop()
	}
}

// startWatch registers w under name and runs it with keepWatching on a
// background goroutine that ends with the service.
func (s *Service) startWatch(ctx context.Context, name string, w jetstream.KeyWatcher, open opener,
	handle func(jetstream.KeyValueEntry), reopened func(ctx context.Context, last uint64)) error {
	if !s.watches.set(name, w) {
		return errors.New("the service is stopping")
	}
	s.bg.Add(1)
	go s.keepWatching(ctx, name, w, open, handle, reopened)
	return nil
}

// keepWatching is the goroutine of one watcher: it hands every entry (nil
// marks the end of the initial values) to handle until the service stops.
// A watcher that ends before that (restarted after a reconnect, or given
// up by nats.go when it could not recreate its consumer) is reopened after
// the last revision it delivered, so no change is skipped; reopened is
// called then, with that revision (0: none was seen).
func (s *Service) keepWatching(ctx context.Context, name string, w jetstream.KeyWatcher, open opener,
	handle func(jetstream.KeyValueEntry), reopened func(ctx context.Context, last uint64)) {
	defer s.bg.Done()
	var last uint64
	for {
		for e := range w.Updates() {
			if e != nil {
				last = max(last, e.Revision())
			}
			handle(e)
		}
		if ctx.Err() != nil {
			return
		}
		resume := uint64(0)
		if last > 0 {
			resume = last + 1
		}
		if w = s.reopen(ctx, name, open, resume); w == nil {
			return
		}
		if reopened != nil {
			reopened(ctx, last)
		}
	}
}

// reopen opens name's watcher again, retrying until it works or ctx ends
// (nil then).
func (s *Service) reopen(ctx context.Context, name string, open opener, resume uint64) jetstream.KeyWatcher {
	wait := rewatchFirst
	for attempt := 1; ; attempt++ {
		w, err := open(ctx, resume)
		if err == nil {
			if !s.watches.set(name, w) {
				return nil
			}
			s.log.Info("watcher resumed", "watcher", name, "revision", resume, "attempts", attempt)
			return w
		}
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("watcher stopped; reopening", "watcher", name, "attempts", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, rewatchMax)
	}
}

// reconcileSessions reads the record of every session this instance holds,
// for a sessions watcher reopened without a revision to resume from: what
// changed while it was away (an end, a language) is applied as the
// watcher would have.
func (s *Service) reconcileSessions(ctx context.Context) {
	for _, rm := range s.hub.all() {
		rctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
		rec, rev, err := s.store.GetAny(rctx, rm.id)
		cancel()
		switch {
		case errors.Is(err, session.ErrNotFound):
			rm.recordChanged(session.Record{PurgeReason: protocol.EndedDeleted}, math.MaxUint64)
		case err != nil:
			s.log.Warn("reconcile session failed", "session_id", rm.id, "err", err)
		default:
			rm.recordChanged(rec, rev)
		}
	}
}
