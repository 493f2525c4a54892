package realtime

import (
	"sync"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// Per-user event limits of the protocol. They are kept in memory per user
// per session per instance (limitStore): a user's tabs on one instance
// share them, they outlive the user's connections for their window, and
// an exact cluster-wide count would cost a NATS round trip per keystroke.
var eventLimits = map[string]rate{
	protocol.TypeCodeUpdate:      {n: 50, per: time.Second},
	protocol.TypeCursorUpdate:    {n: 10, per: time.Second},
	protocol.TypeLanguageChanged: {n: 1, per: 5 * time.Second},
	protocol.TypeNotesUpdate:     {n: 50, per: time.Second},
	protocol.TypeRunOutput:       {n: 1, per: 2 * time.Second},
}

// rate allows n events per period, with bursts of up to n.
type rate struct {
	n   int
	per time.Duration
}

// bucket is a token bucket; the zero value is full once started.
type bucket struct {
	r      rate
	tokens float64
	last   time.Time
}

func newBucket(r rate, now time.Time) bucket {
	return bucket{r: r, tokens: float64(r.n), last: now}
}

// take spends one token; when none is left it reports how long until one is.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if b.r.n <= 0 {
		return true, 0
	}
	perToken := b.r.per / time.Duration(b.r.n)
	if el := now.Sub(b.last); el > 0 {
		b.tokens += float64(el) / float64(perToken)
		if b.tokens > float64(b.r.n) {
			b.tokens = float64(b.r.n)
		}
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(perToken))
}

// userLimits holds one user's buckets in one session on this instance.
type userLimits struct {
	mu sync.Mutex
	// buckets grows by the keys the user spent (the handshake, then the
	// few event types): a handful at most, so a slice, not a map, which
	// every idle user would hold a few hundred bytes of.
	buckets []keyedBucket
	last    time.Time // the newest take: after the longest window, every bucket is full again
}

// keyedBucket is one of a user's buckets and what it limits.
type keyedBucket struct {
	key string
	b   bucket
}

func newUserLimits() *userLimits { return &userLimits{} }

// allow spends one event of type typ; types without a limit always pass.
func (u *userLimits) allow(typ string, now time.Time) error {
	r, ok := eventLimits[typ]
	if !ok {
		return nil
	}
	if ok, wait := u.take(typ, r, now); !ok {
		return rateError(typ, r, wait)
	}
	return nil
}

// take spends one token of the bucket key, of rate r.
func (u *userLimits) take(key string, r rate, now time.Time) (bool, time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var b *bucket
	for i := range u.buckets {
		if u.buckets[i].key == key {
			b = &u.buckets[i].b
			break
		}
	}
	if b == nil {
		u.buckets = append(u.buckets, keyedBucket{key: key, b: newBucket(r, now)})
		b = &u.buckets[len(u.buckets)-1].b
	}
	if now.After(u.last) {
		u.last = now
	}
	return b.take(now)
}

// idleSince reports whether u was last used before t.
func (u *userLimits) idleSince(t time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last.Before(t)
}

// limitKey names one user in one session.
type limitKey struct{ sessionID, userID string }

// limitStore keeps every user's buckets on this instance for as long as
// they can refuse anything, whether or not the user is connected: a user
// who disconnects and reconnects finds them as they left them, so closing
// a connection does not refill them. An entry untouched for longer than
// the longest window holds only full buckets, the same as a new one: it is
// forgotten then, so memory follows the users active within that window.
type limitStore struct {
	mu        sync.Mutex
	m         map[limitKey]*userLimits
	keep      time.Duration // the longest window of any limit
	lastPrune time.Time
}

func newLimitStore(handshake rate) *limitStore {
	keep := handshake.per
	for _, r := range eventLimits {
		keep = max(keep, r.per)
	}
	return &limitStore{m: map[limitKey]*userLimits{}, keep: keep}
}

// get returns the buckets of userID in sessionID, pruning forgotten
// entries at most once per window.
func (s *limitStore) get(sessionID, userID string, now time.Time) *userLimits {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastPrune) > s.keep {
		s.lastPrune = now
		for k, u := range s.m {
			if u.idleSince(now.Add(-s.keep)) {
				delete(s.m, k)
			}
		}
	}
	k := limitKey{sessionID, userID}
	u := s.m[k]
	if u == nil {
		u = newUserLimits()
		s.m[k] = u
	}
	return u
}

// handshake spends one of the user's handshakes (WS_HANDSHAKES_PER_USER):
// reconnecting in a loop cannot replay join and leave events, or anything
// else a connection does once, faster than that.
func (s *limitStore) handshake(sessionID, userID string, r rate, now time.Time) error {
	if r.n <= 0 {
		return nil
	}
	if ok, wait := s.get(sessionID, userID, now).take("handshake", r, now); !ok {
		return protocol.Errorf(protocol.CodeRateLimited, "Too many connections opened by this user: at most %d per %s", r.n, r.per).
			WithDetails(map[string]any{"type": "handshake", "retryAfterMs": wait.Milliseconds() + 1})
	}
	return nil
}

func rateError(typ string, r rate, wait time.Duration) *protocol.Error {
	return protocol.Errorf(protocol.CodeRateLimited, "Too many %s events: at most %d per %s", typ, r.n, r.per).
		WithDetails(map[string]any{"type": typ, "retryAfterMs": wait.Milliseconds() + 1})
}

// floodTolerance is how far a connection may outrun WS_EVENTS_PER_SECOND
// before it is cut off: its refused frames are themselves budgeted at
// WS_EVENTS_PER_SECOND per second, with bursts of floodTolerance seconds'
// worth. A client at up to twice its budget only gets refusals; one at ten
// times its budget is cut off after about floodTolerance/8 seconds.
const floodTolerance = 20

// connBudget is one connection's WS_EVENTS_PER_SECOND: every frame it
// sends spends from events; each frame refused for lack of one spends from
// strikes, and a connection that empties strikes too is flooding. Used by
// the connection's reader only.
type connBudget struct {
	perSecond int
	events    bucket
	strikes   bucket
}

func newConnBudget(perSecond int, now time.Time) connBudget {
	return connBudget{perSecond: perSecond,
		events:  newBucket(rate{n: perSecond, per: time.Second}, now),
		strikes: newBucket(rate{n: floodTolerance * perSecond, per: floodTolerance * time.Second}, now)}
}

// spend charges one frame. over is the refusal of a frame beyond the
// budget (nil within it); flooding reports that the connection also ran
// out of tolerance and is to be cut off.
func (b *connBudget) spend(now time.Time) (over *protocol.Error, flooding bool) {
	ok, wait := b.events.take(now)
	if ok {
		return nil, false
	}
	over = protocol.Errorf(protocol.CodeRateLimited, "Too many events on this connection: at most %d per second", b.perSecond).
		WithDetails(map[string]any{"limit": "connection", "retryAfterMs": wait.Milliseconds() + 1})
	if ok, _ := b.strikes.take(now); !ok {
		return over, true
	}
	return over, false
}
