package realtime

import (
	"sync"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// Per-user event limits of the contract. They are kept in memory per user
// per instance: a user's tabs on one instance share them, and an exact
// cluster-wide count would cost a NATS round trip per keystroke.
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

func newBucket(r rate, now time.Time) *bucket {
	return &bucket{r: r, tokens: float64(r.n), last: now}
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

// userLimits holds one user's buckets in one session on this instance; the
// hub session drops them when the user's last local connection goes.
type userLimits struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

func newUserLimits() *userLimits { return &userLimits{buckets: map[string]*bucket{}} }

// allow spends one event of type typ; types without a limit always pass.
func (u *userLimits) allow(typ string, now time.Time) error {
	r, ok := eventLimits[typ]
	if !ok {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	b := u.buckets[typ]
	if b == nil {
		b = newBucket(r, now)
		u.buckets[typ] = b
	}
	if ok, wait := b.take(now); !ok {
		return rateError(typ, r, wait)
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
	events    *bucket
	strikes   *bucket
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
