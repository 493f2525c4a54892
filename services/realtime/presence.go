package realtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// presenceWriteTimeout bounds one write to the presence bucket.
const presenceWriteTimeout = 5 * time.Second

// presenceTracker mirrors the presence buckets: one watcher per instance
// for the entries (per-session consumers would cost a consumer per
// session) and one for the instances' heartbeats, each drained in its own
// goroutine. It keeps the other instances' entries of every session, so a
// session this instance starts holding knows its users at once; this
// instance's own connections are taken from the hub instead. An entry
// counts (remote, elsewhere) only while its instance's heartbeat lives:
// when one expires, every session holding that instance's entries hears
// its users leave with reason timeout, and the entries are purged.
type presenceTracker struct {
	kv, beatsKV jetstream.KeyValue // the presence and presence-instances buckets
	instance    string
	ttl         time.Duration // PRESENCE_TIMEOUT: the heartbeats' TTL
	// startWatch runs a watcher for the service's lifetime (watch.go).
	startWatch func(ctx context.Context, name string, w jetstream.KeyWatcher, open opener,
		handle func(jetstream.KeyValueEntry), reopened func(ctx context.Context, last uint64)) error
	rooms *hub              // set once the hub exists: changes go to the rooms held
	stale chan []staleEntry // a dead instance's entries, for the purge loop
	// lost is signalled when this instance's own heartbeat expired or was
	// removed while it runs (paused longer than PRESENCE_TIMEOUT without
	// losing NATS): the others dropped its users and purge its entries, so
	// it renews the heartbeat and puts every entry back.
	lost chan struct{}
	now  func() time.Time // the service's clock (lastSeen); liveness runs on time.Now

	mu        sync.Mutex
	entries   map[string]map[string]mirrored // session id → key → entry
	beats     map[string]beat                // instance id → its heartbeat, while it lives
	resumedAt time.Time                      // when the NATS connection last came back
}

// mirrored is another instance's entry and when this instance last saw it
// written (local time: instance clocks may disagree), with its revision.
type mirrored struct {
	presence.Entry
	seen    time.Time
	written time.Time // when the NATS server stored it: an older instance's entry counts for ttl after
	rev     uint64
}

// beat is another instance's heartbeat: its time (the instance's clock,
// for lastSeen) and when this instance last saw it (local time).
type beat struct {
	at   int64
	seen time.Time
}

// staleEntry is an entry of a dead instance to purge, at the revision seen.
type staleEntry struct {
	instance string
	key      string
	rev      uint64
}

func newPresenceTracker(kv, beatsKV jetstream.KeyValue, instance string, ttl time.Duration, now func() time.Time,
	startWatch func(ctx context.Context, name string, w jetstream.KeyWatcher, open opener,
		handle func(jetstream.KeyValueEntry), reopened func(ctx context.Context, last uint64)) error,
) *presenceTracker {
	return &presenceTracker{kv: kv, beatsKV: beatsKV, instance: instance, ttl: ttl, now: now, startWatch: startWatch,
		stale: make(chan []staleEntry, 16), lost: make(chan struct{}, 1), entries: map[string]map[string]mirrored{}, beats: map[string]beat{}}
}

// countsLocked reports whether e counts now: a vouched entry while its
// instance's heartbeat lives, an older instance's entry (no heartbeat)
// while mirrored: apply does not take one written a TTL ago or more, and
// prune drops one that has aged so, with user-left, as the bucket TTL
// once expired it. Whether an entry counts changes only where the rooms
// are told, so a presence list built meanwhile cannot swallow a leave.
func (p *presenceTracker) countsLocked(e *mirrored) bool {
	if e.Vouched {
		_, ok := p.beats[e.Instance]
		return ok
	}
	return true
}

// remote returns a copy of the other instances' entries of a session that
// count, each with lastSeen the later of its own and its instance's last
// heartbeat, with room for spare more (the caller's own).
func (p *presenceTracker) remote(sid string, spare int) []presence.Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.entries[sid]
	out := make([]presence.Entry, 0, len(m)+spare)
	for _, e := range m {
		if !p.countsLocked(&e) {
			continue
		}
		if b, ok := p.beats[e.Instance]; ok && e.Vouched {
			e.LastSeen = max(e.LastSeen, b.at)
		}
		out = append(out, e.Entry)
	}
	return out
}

// elsewhere reports whether another instance has a connection in the
// session, as far as the watchers have seen.
func (p *presenceTracker) elsewhere(sid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.entries[sid] {
		if p.countsLocked(&e) {
			return true
		}
	}
	return false
}

// watch starts the watchers, the heartbeats' first, and returns once both
// delivered their bucket's current content, so the first handshakes see
// every present user. An entry whose instance has no heartbeat yet waits
// for it: it counts once the heartbeat comes, never if it does not.
func (p *presenceTracker) watch(ctx context.Context, initial time.Duration) error {
	deadline := time.Now().Add(initial)
	if err := p.watchBucket(ctx, "presence-instances", p.beatsKV, p.applyBeat, time.Until(deadline)); err != nil {
		return err
	}
	return p.watchBucket(ctx, "presence", p.kv, p.apply, time.Until(deadline))
}

// watchBucket runs one watcher of every key of kv through apply and waits
// for its initial values.
func (p *presenceTracker) watchBucket(ctx context.Context, name string, kv jetstream.KeyValue,
	apply func(jetstream.KeyValueEntry), initial time.Duration) error {
	open := func(ctx context.Context, resume uint64) (jetstream.KeyWatcher, error) {
		if resume > 0 {
			return kv.WatchAll(ctx, jetstream.ResumeFromRevision(resume))
		}
		return kv.WatchAll(ctx)
	}
	w, err := open(ctx, 0)
	if err != nil {
		return fmt.Errorf("watch %s: %w", name, err)
	}
	synced := make(chan struct{})
	once := sync.OnceFunc(func() { close(synced) })
	handle := func(e jetstream.KeyValueEntry) {
		if e == nil {
			once()
			return
		}
		apply(e)
	}
	if err := p.startWatch(ctx, name, w, open, handle, nil); err != nil {
		return fmt.Errorf("watch %s: %w", name, err)
	}
	select {
	case <-synced:
		return nil
	case <-time.After(initial):
		return fmt.Errorf("watch %s: the initial values did not arrive", name)
	}
}

// apply folds one entry's change in and tells the room, if held and the
// change counts.
func (p *presenceTracker) apply(e jetstream.KeyValueEntry) {
	ch, ok := presence.Decode(e)
	if !ok || ch.Entry.Instance == p.instance {
		return // this instance's own connections come from the hub
	}
	sid := ch.Entry.SessionID
	if ch.Left == "" && !ch.Entry.Vouched && time.Since(e.Created()) >= p.ttl {
		ch.Left = protocol.LeftTimeout // an older instance's entry, expired already
	}
	p.mu.Lock()
	if ch.Left == "" {
		if p.entries[sid] == nil {
			p.entries[sid] = map[string]mirrored{}
		}
		old, known := p.entries[sid][ch.Key]
		m := mirrored{Entry: ch.Entry, seen: time.Now(), written: e.Created(), rev: e.Revision()}
		p.entries[sid][ch.Key] = m
		wasCounted := known && p.countsLocked(&old)
		if !p.countsLocked(&m) && !wasCounted || wasCounted && old.Name == ch.Entry.Name {
			p.mu.Unlock()
			return // not counted (its instance's heartbeat is not here), or a renewal: only lastSeen moved
		}
	} else {
		old, ok := p.entries[sid][ch.Key]
		if !ok {
			p.mu.Unlock()
			return // gone already (a manual leave's delete after its marker, a dead instance's purge), or never seen
		}
		counted := p.countsLocked(&old)
		delete(p.entries[sid], ch.Key)
		if len(p.entries[sid]) == 0 {
			delete(p.entries, sid)
		}
		if !counted {
			p.mu.Unlock()
			return
		}
	}
	p.mu.Unlock()
	if rm := p.rooms.get(sid); rm != nil {
		rm.presenceChanged(ch.Left)
	}
}

// applyBeat folds one heartbeat change in. An instance that appears (new,
// or back from an outage) makes its entries count; one whose heartbeat
// expired (or was removed) takes its users away with reason timeout, and
// its entries go to the purge loop.
func (p *presenceTracker) applyBeat(e jetstream.KeyValueEntry) {
	b, alive, ok := presence.DecodeBeat(e)
	if !ok {
		return
	}
	if b.Instance == p.instance {
		if !alive {
			select {
			case p.lost <- struct{}{}:
			default:
			}
		}
		return
	}
	p.mu.Lock()
	_, was := p.beats[b.Instance]
	if alive {
		p.beats[b.Instance] = beat{at: b.At, seen: time.Now()}
	} else {
		delete(p.beats, b.Instance)
	}
	if was == alive {
		p.mu.Unlock()
		return // a renewal: lastSeen moved, which the periodic presence-update carries
	}
	sids, stale := p.ofInstanceLocked(b.Instance)
	p.mu.Unlock()
	reason := ""
	if !alive {
		reason = protocol.LeftTimeout
		p.dropStale(stale)
	}
	p.notify(sids, reason)
}

// ofInstanceLocked returns the sessions holding an instance's vouched
// entries, and those entries.
func (p *presenceTracker) ofInstanceLocked(instance string) (sids []string, stale []staleEntry) {
	for sid, m := range p.entries {
		held := false
		for k, e := range m {
			if e.Vouched && e.Instance == instance {
				held = true
				stale = append(stale, staleEntry{instance: instance, key: k, rev: e.rev})
			}
		}
		if held {
			sids = append(sids, sid)
		}
	}
	return sids, stale
}

// dropStale hands a dead instance's entries to the purge loop; when it is
// behind, they stay for the bucket TTL (broker.PresenceEntryTTL), counted
// by nobody, and this instance forgets them after two heartbeat TTLs.
func (p *presenceTracker) dropStale(stale []staleEntry) {
	if len(stale) == 0 {
		return
	}
	select {
	case p.stale <- stale:
	default:
	}
}

// notify tells the rooms held of sids that their presence changed.
func (p *presenceTracker) notify(sids []string, reason string) {
	for _, sid := range sids {
		if rm := p.rooms.get(sid); rm != nil {
			rm.presenceChanged(reason)
		}
	}
}

// prune runs every heartbeat period. It forgets an instance whose
// heartbeat nobody renewed for two TTLs (its expiry marker should have said
// so; one missed, this instance being cut off from NATS longer than the
// markers live, would otherwise leave ghost users; its entries stay,
// uncounted, and count again when its heartbeat is seen: only an expiry
// seen in the bucket has them purged, as this instance may be the one that
// was cut off), older instances'
// entries not written for a TTL (what the bucket TTL did for them), and
// entries that count for nobody, not written for two TTLs. Time without
// NATS does not count: heartbeats and entries get two TTLs after the
// connection is back to be renewed or to expire visibly.
func (p *presenceTracker) prune() {
	gone := map[string]bool{}
	touched := map[string]bool{}
	p.mu.Lock()
	for id, b := range p.beats {
		if time.Since(later(b.seen, p.resumedAt)) > 2*p.ttl {
			delete(p.beats, id)
			gone[id] = true
		}
	}
	for sid, m := range p.entries {
		for k, e := range m {
			switch {
			case e.Vouched && gone[e.Instance]:
				touched[sid] = true // not purged: this instance may be the one cut off
			case !e.Vouched && time.Since(e.written) >= p.ttl:
				delete(m, k)
				touched[sid] = true
			case e.Vouched && !p.countsLocked(&e) && time.Since(later(e.seen, p.resumedAt)) > 2*p.ttl:
				delete(m, k)
			}
		}
		if len(m) == 0 {
			delete(p.entries, sid)
		}
	}
	p.mu.Unlock()
	sids := make([]string, 0, len(touched))
	for sid := range touched {
		sids = append(sids, sid)
	}
	p.notify(sids, protocol.LeftTimeout)
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

// put writes a connection's presence entry, unless it left.
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
// tells the other instances why (presence.Leave). A delete that fails (NATS
// is away) is tried again when NATS is back and at every heartbeat: the
// entry no longer expires on its own while this instance lives.
func (s *Service) removePresence(c *client, reason string) {
	c.presMu.Lock()
	defer c.presMu.Unlock()
	if c.left {
		return
	}
	c.left = true
	e := c.presenceEntry(c.lastSeen)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), presenceWriteTimeout)
	defer cancel()
	if err := presence.Leave(ctx, s.in.Presence, e, reason); err != nil {
		s.metrics.presenceErrs.Inc()
		s.log.Warn("presence delete failed", "conn_id", c.id, "session_id", c.ident.SessionID, "err", err)
		s.unremoved.add(e, reason)
	}
}

// unremoved holds the entries of connections that left while their delete
// failed, until a delete succeeds.
type unremoved struct {
	mu    sync.Mutex
	items map[string]unremovedEntry // key → entry
}

type unremovedEntry struct {
	e      presence.Entry
	reason string
}

func (u *unremoved) add(e presence.Entry, reason string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.items == nil {
		u.items = map[string]unremovedEntry{}
	}
	u.items[e.Key()] = unremovedEntry{e, reason}
}

// retry deletes the entries again; those that fail stay.
func (u *unremoved) retry(ctx context.Context, kv jetstream.KeyValue) {
	u.mu.Lock()
	items := make([]unremovedEntry, 0, len(u.items))
	for _, it := range u.items {
		items = append(items, it)
	}
	u.mu.Unlock()
	for _, it := range items {
		wctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
		err := presence.Leave(wctx, kv, it.e, it.reason)
		cancel()
		if err != nil {
			return // NATS is away again: the next heartbeat tries
		}
		u.mu.Lock()
		delete(u.items, it.e.Key())
		u.mu.Unlock()
	}
}

// heartbeat renews this instance's heartbeat, which vouches for every
// entry it wrote; lastBeat is its time once stored.
func (s *Service) heartbeat(ctx context.Context) error {
	at := s.now().UnixMilli()
	ctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
	defer cancel()
	if err := presence.PutBeat(ctx, s.in.PresenceInstances, presence.Beat{Instance: s.instance, At: at}); err != nil {
		s.metrics.presenceErrs.Inc()
		return err
	}
	s.lastBeat.Store(at)
	return nil
}

// presenceLoop renews this instance's heartbeat every PRESENCE_TIMEOUT/3,
// prunes the mirrored presence, renews this instance's entries well inside
// the presence bucket's TTL (broker.PresenceEntryTTL, a part of the
// sessions at a time) and sends every session's periodic presence-update.
// When the NATS connection comes back it renews the heartbeat, re-puts
// every entry at once (an outage longer than PRESENCE_TIMEOUT expired the
// heartbeat: the others saw this instance's users leave and may have
// purged the entries), deletes what left meanwhile and restarts the
// watchers where they left off. It does the same (but the watchers) when
// its own heartbeat expires while it runs.
func (s *Service) presenceLoop(ctx context.Context) {
	defer s.bg.Done()
	beat := time.NewTicker(s.cfg.PresenceTimeout / 3)
	defer beat.Stop()
	refresh := time.NewTicker(broker.PresenceEntryTTL / 3 / presenceSlots)
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
			if err := s.heartbeat(ctx); err != nil {
				s.log.Warn("heartbeat failed", "err", err)
			}
			s.refreshPresence(-1)
			s.unremoved.retry(ctx, s.in.Presence)
		case <-s.presence.lost:
			if !s.in.NC.IsConnected() {
				continue // the reconnect restores it
			}
			s.log.Warn("this instance's heartbeat expired while it runs: restoring presence")
			if err := s.heartbeat(ctx); err != nil {
				s.log.Warn("heartbeat failed", "err", err)
			}
			s.refreshPresence(-1)
		case <-beat.C:
			s.presence.prune()
			if !s.in.NC.IsConnected() {
				continue // the write would only wait for its timeout; the reconnect renews
			}
			if err := s.heartbeat(ctx); err != nil {
				s.log.Warn("heartbeat failed", "err", err)
			}
			s.unremoved.retry(ctx, s.in.Presence)
		case <-refresh.C:
			due := slot
			slot = (slot + 1) % presenceSlots
			if s.in.NC.IsConnected() {
				s.refreshPresence(due)
			}
		case <-announce.C:
			for _, rm := range s.hub.all() {
				rm.tickPresence()
			}
		}
	}
}

// purgeLoop removes the entries of instances whose heartbeat expired, each
// at the revision seen (presence.Expire): an entry its instance wrote
// again since (back from an outage) stays, and of several instances
// purging the same entries one purge lands. An instance whose heartbeat is
// there again (an expiry read late) keeps its entries. Every watcher sees
// a purge as a timeout, which it already applied when the heartbeat
// expired.
func (s *Service) purgeLoop(ctx context.Context) {
	defer s.bg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case stale := <-s.presence.stale:
			purged := 0
			back := map[string]bool{}
			for _, e := range stale {
				if _, checked := back[e.instance]; !checked {
					back[e.instance] = s.beatsNow(ctx, e.instance)
				}
				if back[e.instance] {
					continue
				}
				wctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
				err := presence.Expire(wctx, s.in.Presence, e.key, jetstream.LastRevision(e.rev))
				cancel()
				if err == nil {
					purged++
				}
				if ctx.Err() != nil {
					return
				}
			}
			s.log.Info("purged a dead instance's presence entries", "entries", len(stale), "purged", purged)
		}
	}
}

// beatsNow reports whether an instance's heartbeat is in the bucket now;
// true also when that cannot be read, so nothing is purged on a guess.
func (s *Service) beatsNow(ctx context.Context, instance string) bool {
	ctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
	defer cancel()
	_, err := s.in.PresenceInstances.Get(ctx, presence.BeatKey(instance))
	return !errors.Is(err, jetstream.ErrKeyNotFound)
}

// presenceUpdateEvery is the period of the unconditional presence-update:
// the protocol's 15 s, or the presence timeout when that is shorter.
func presenceUpdateEvery(timeout time.Duration) time.Duration {
	return min(15*time.Second, timeout)
}

// presenceSlots is how many parts the entries' renewal period
// (broker.PresenceEntryTTL/3) is cut into. Each session's entries on this
// instance belong to one part (presenceSlot) and are re-put when that part
// comes round, once a period, so an instance's writes, and every other
// instance's watcher deliveries of them, spread over the period.
const presenceSlots = 10

// presenceSlot is the part of the renewal period a session's entries are
// re-put in: spread evenly over random session ids, and found without
// taking the room's lock.
func presenceSlot(sessionID string) int {
	return int(idHash(sessionID) % presenceSlots)
}

// idHash is FNV-1a of a session id, without hash/fnv's allocation: what
// spreads a session's periodic work (presenceSlot, touchInterval).
func idHash(sessionID string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(sessionID); i++ {
		h ^= uint32(sessionID[i])
		h *= 16777619
	}
	return h
}

// refreshPresence re-puts the local entries of the sessions in one part of
// the period (slot; -1: every entry), a few writes at a time.
func (s *Service) refreshPresence(slot int) {
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
			items = append(items, item{c, c.presenceEntry(c.lastSeen)})
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
