package realtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// presenceWriteTimeout bounds one write to the presence bucket.
const presenceWriteTimeout = 5 * time.Second

// presenceTracker mirrors the presence bucket: one watcher per instance
// (per-session consumers would cost a consumer per session), drained in
// its own goroutine. It keeps the other instances' entries of every
// session, so a session this instance starts holding knows its users at
// once; this instance's own connections are taken from the hub instead.
type presenceTracker struct {
	kv       jetstream.KeyValue // the presence bucket
	instance string
	// startWatch runs a watcher for the service's lifetime (watch.go).
	startWatch func(ctx context.Context, name string, w jetstream.KeyWatcher, open opener,
		handle func(jetstream.KeyValueEntry), reopened func(ctx context.Context, last uint64)) error
	rooms *hub // set once the hub exists: changes go to the rooms held

	mu        sync.Mutex
	entries   map[string]map[string]mirrored // session id → key → entry
	resumedAt time.Time                      // when the NATS connection last came back
}

// mirrored is another instance's entry and when this instance last saw it
// written (local time: instance clocks may disagree).
type mirrored struct {
	presence.Entry
	seen time.Time
}

func newPresenceTracker(kv jetstream.KeyValue, instance string, startWatch func(ctx context.Context, name string,
	w jetstream.KeyWatcher, open opener, handle func(jetstream.KeyValueEntry), reopened func(ctx context.Context, last uint64)) error,
) *presenceTracker {
	return &presenceTracker{kv: kv, instance: instance, startWatch: startWatch, entries: map[string]map[string]mirrored{}}
}

// remote returns a copy of the other instances' entries of a session.
func (p *presenceTracker) remote(sid string) []presence.Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.entries[sid]
	out := make([]presence.Entry, 0, len(m)+4)
	for _, e := range m {
		out = append(out, e.Entry)
	}
	return out
}

// elsewhere reports whether another instance has a connection in the
// session, as far as the watcher has seen.
func (p *presenceTracker) elsewhere(sid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries[sid]) > 0
}

// watch starts the watcher and returns once it delivered the bucket's
// current content, so the first handshakes see every present user.
func (p *presenceTracker) watch(ctx context.Context, initial time.Duration) error {
	open := func(ctx context.Context, resume uint64) (jetstream.KeyWatcher, error) {
		if resume > 0 {
			return p.kv.WatchAll(ctx, jetstream.ResumeFromRevision(resume))
		}
		return p.kv.WatchAll(ctx)
	}
	w, err := open(ctx, 0)
	if err != nil {
		return fmt.Errorf("watch presence: %w", err)
	}
	synced := make(chan struct{})
	once := sync.OnceFunc(func() { close(synced) })
	handle := func(e jetstream.KeyValueEntry) {
		if e == nil {
			once()
			return
		}
		p.apply(e)
	}
	if err := p.startWatch(ctx, "presence", w, open, handle, nil); err != nil {
		return fmt.Errorf("watch presence: %w", err)
	}
	select {
	case <-synced:
		return nil
	case <-time.After(initial):
		return errors.New("watch presence: the initial values did not arrive")
	}
}

// apply folds one change in and tells the room, if held.
func (p *presenceTracker) apply(e jetstream.KeyValueEntry) {
	ch, ok := presence.Decode(e)
	if !ok || ch.Entry.Instance == p.instance {
		return // this instance's own connections come from the hub
	}
	sid := ch.Entry.SessionID
	p.mu.Lock()
	if ch.Left == "" {
		if p.entries[sid] == nil {
			p.entries[sid] = map[string]mirrored{}
		}
		old, known := p.entries[sid][ch.Key]
		p.entries[sid][ch.Key] = mirrored{Entry: ch.Entry, seen: time.Now()}
		if known && old.Name == ch.Entry.Name {
			p.mu.Unlock()
			return // a refresh: only lastSeen moved, which the periodic presence-update carries
		}
	} else {
		if _, ok := p.entries[sid][ch.Key]; !ok {
			p.mu.Unlock()
			return // gone already (a manual leave's delete after its marker), or never seen
		}
		delete(p.entries[sid], ch.Key)
		if len(p.entries[sid]) == 0 {
			delete(p.entries, sid)
		}
	}
	p.mu.Unlock()
	if rm := p.rooms.get(sid); rm != nil {
		rm.presenceChanged(ch.Left)
	}
}

// prune forgets entries nobody refreshed for two bucket TTLs. Their expiry
// marker should have said so; one missed (this instance was cut off from
// NATS longer than the markers live) would otherwise leave a ghost user.
// Time without NATS does not count: entries get two TTLs after the
// connection is back to be refreshed or to expire visibly.
func (p *presenceTracker) prune(ttl time.Duration) {
	var touched []string
	p.mu.Lock()
	for sid, m := range p.entries {
		for k, e := range m {
			if time.Since(later(e.seen, p.resumedAt)) > 2*ttl {
				delete(m, k)
				touched = append(touched, sid)
			}
		}
		if len(m) == 0 {
			delete(p.entries, sid)
		}
	}
	p.mu.Unlock()
	for _, sid := range touched {
		if rm := p.rooms.get(sid); rm != nil {
			rm.presenceChanged(protocol.LeftTimeout)
		}
	}
}

// resumed records when the NATS connection came back.
func (p *presenceTracker) resumed(at time.Time) {
	p.mu.Lock()
	p.resumedAt = at
	p.mu.Unlock()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// counts reports the entries the tracker mirrors, for stats.
func (p *presenceTracker) counts() (sessions, entries int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.entries {
		entries += len(m)
	}
	return len(p.entries), entries
}

// put writes (or refreshes) a connection's presence entry, unless it left.
func (s *Service) putPresence(c *client, e presence.Entry) {
	c.presMu.Lock()
	defer c.presMu.Unlock()
	if c.left {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, presenceWriteTimeout)
	defer cancel()
	if err := presence.Put(ctx, s.in.Presence, e); err != nil {
		s.metrics.presenceErrs.Inc()
		s.log.Warn("presence write failed", "conn_id", c.id, "session_id", e.SessionID, "err", err)
	}
}

// removePresence deletes a connection's entry for good, in the way that
// tells the other instances why (presence.Leave).
func (s *Service) removePresence(c *client, reason string) {
	c.presMu.Lock()
	defer c.presMu.Unlock()
	if c.left {
		return
	}
	c.left = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), presenceWriteTimeout)
	defer cancel()
	if err := presence.Leave(ctx, s.in.Presence, c.presenceEntry(c.lastSeen), reason); err != nil {
		s.metrics.presenceErrs.Inc()
		s.log.Warn("presence delete failed", "conn_id", c.id, "session_id", c.ident.SessionID, "err", err)
	}
}

// presenceLoop refreshes this instance's entries well inside the bucket
// TTL and sends every session's periodic presence-update. When the NATS
// connection comes back it re-puts every entry at once (an outage longer
// than PRESENCE_TIMEOUT expired them: the others saw this instance's users
// leave) and restarts the watchers where they left off.
func (s *Service) presenceLoop(ctx context.Context) {
	defer s.bg.Done()
	refresh := time.NewTicker(s.cfg.PresenceTimeout / 3 / presenceSlots)
	defer refresh.Stop()
	slot := 0
	announce := time.NewTicker(presenceUpdateEvery(s.cfg.PresenceTimeout))
	defer announce.Stop()
	reconnected := s.in.NC.StatusChanged(nats.CONNECTED)
	defer s.in.NC.RemoveStatusListener(reconnected)
	for {
		select {
		case <-ctx.Done():
			return
		case <-reconnected:
			s.log.Info("nats is back: restoring presence and watchers")
			s.presence.resumed(time.Now())
			s.watches.restart()
			s.refreshPresence(-1)
		case <-refresh.C:
			due := slot
			slot = (slot + 1) % presenceSlots
			if !s.in.NC.IsConnected() {
				continue // the writes would only wait for their timeout; the reconnect refreshes
			}
			s.refreshPresence(due)
			if due == presenceSlots-1 {
				s.presence.prune(s.cfg.PresenceTimeout)
			}
		case <-announce.C:
			for _, rm := range s.hub.all() {
				rm.tickPresence()
			}
		}
	}
}

// presenceUpdateEvery is the period of the unconditional presence-update:
// the protocol's 15 s, or the presence timeout when that is shorter.
func presenceUpdateEvery(timeout time.Duration) time.Duration {
	return min(15*time.Second, timeout)
}

// presenceSlots is how many parts the refresh period (PRESENCE_TIMEOUT/3)
// is cut into. Each session's entries on this instance belong to one part
// (presenceSlot) and are re-put when that part comes round, once a period
// as before, so an instance's writes, and every other instance's watcher
// deliveries of them, spread over the period. Re-putting every entry at
// once made a burst every period (16,700 JetStream writes from each
// instance of the 50,000-connection layout, and 50,000 deliveries to each
// watcher), which delayed the cursor fan-out in the NATS server and the
// instances.
const presenceSlots = 10

// presenceSlot is the part of the refresh period a session's entries are
// re-put in: spread evenly over random session ids, and found without
// taking the room's lock.
func presenceSlot(sessionID string) int {
	h := uint32(2166136261) // FNV-1a, without hash/fnv's allocation
	for i := 0; i < len(sessionID); i++ {
		h ^= uint32(sessionID[i])
		h *= 16777619
	}
	return int(h % presenceSlots)
}

// refreshPresence re-puts the local entries of the sessions in one part of
// the period (slot; -1: every entry) with a fresh lastSeen, a few writes at
// a time.
func (s *Service) refreshPresence(slot int) {
	now := s.now().UnixMilli()
	type item struct {
		c *client
		e presence.Entry
	}
	var items []item
	for _, rm := range s.hub.all() {
		if slot >= 0 && presenceSlot(rm.id) != slot {
			continue
		}
		rm.mu.Lock()
		for _, c := range rm.conns {
			c.lastSeen = now
			items = append(items, item{c, c.presenceEntry(now)})
		}
		rm.mu.Unlock()
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.putPresence(it.c, it.e)
		}()
	}
	wg.Wait()
}
