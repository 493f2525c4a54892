// Package ratelimit counts requests per client and class in fixed windows
// kept in the `ratelimits` KV bucket, so every replica of a service shares
// one count: a client cannot multiply its allowance by spreading requests
// over replicas.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
)

// maxAttempts bounds the compare-and-swap retries of one Allow; a conflict
// means another replica counted a request of the same client meanwhile.
const maxAttempts = 25

// ErrContention is returned when the counter kept changing under every attempt.
var ErrContention = errors.New("ratelimit: counter contention, gave up")

// Limiter counts in the ratelimits bucket. The bucket's TTL (an hour,
// broker.RateLimitWindowMax) removes old windows; a period longer than that
// is counted as if it were an hour long.
type Limiter struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// New returns a Limiter over kv (broker.Infra.Limits); now is the clock
// (nil: time.Now).
func New(kv jetstream.KeyValue, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{kv: kv, now: now}
}

// Result is the outcome of one Allow.
type Result struct {
	Allowed   bool
	Limit     int
	Remaining int
	// RetryAfter is the time until the current window ends, at least a second.
	RetryAfter time.Duration
}

// Key is the counter key of subject (a client, e.g. its IP) in class during
// window number window: <class>.<base64url subject>.<window>.
func Key(class, subject string, window int64) string {
	return class + "." + broker.EncodeToken(subject) + "." + strconv.FormatInt(window, 10)
}

// Allow counts one request of subject in class against rate and reports
// whether it is within the limit. A refused request is not counted. A
// disabled rate (N == 0) always allows without touching NATS.
func (l *Limiter) Allow(ctx context.Context, class, subject string, rate config.Rate) (Result, error) {
	if rate.Disabled() {
		return Result{Allowed: true}, nil
	}
	per := rate.Per
	if per <= 0 {
		per = time.Minute
	}
	if per > broker.RateLimitWindowMax {
		per = broker.RateLimitWindowMax
	}
	now := l.now()
	window := now.UnixNano() / int64(per)
	end := time.Unix(0, (window+1)*int64(per))
	// Rounded up, so a client never comes back before the window ends.
	wait := (end.Sub(now) + time.Second - 1).Truncate(time.Second)
	res := Result{Limit: rate.N, RetryAfter: max(wait, time.Second)}
	key := Key(class, subject, window)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		n, rev, err := l.read(ctx, key)
		if err != nil {
			return res, err
		}
		if n >= rate.N {
			return res, nil
		}
		next := []byte(strconv.Itoa(n + 1))
		if rev == 0 {
			_, err = l.kv.Create(ctx, key, next)
		} else {
			_, err = l.kv.Update(ctx, key, next, rev)
		}
		if err == nil {
			res.Allowed, res.Remaining = true, rate.N-n-1
			return res, nil
		}
		if !broker.Conflict(err) {
			return res, fmt.Errorf("ratelimit: count %s: %w", key, err)
		}
		if attempt+1 == maxAttempts {
			break
		}
		if err := broker.ConflictBackoff(ctx, attempt); err != nil {
			return res, fmt.Errorf("ratelimit: count %s: %w", key, err)
		}
	}
	return res, ErrContention
}

// read returns the count under key and its revision; 0, 0 when it has none.
func (l *Limiter) read(ctx context.Context, key string) (int, uint64, error) {
	e, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("ratelimit: read %s: %w", key, err)
	}
	n, err := strconv.Atoi(string(e.Value()))
	if err != nil {
		n = 0 // a corrupt counter restarts rather than locking a client out
	}
	return n, e.Revision(), nil
}

// ClientIP returns the client address of r: the host of RemoteAddr, or, when
// trustProxy is set (only behind a proxy that sets the header), the first
// X-Forwarded-For entry if it is an IP address.
func ClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
				return ip.Unmap().WithZone("").String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().WithZone("").String()
	}
	return host
}
