package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/ratelimit"
)

// Route classes of the rate limits: each has its own count per client IP.
const (
	classCreate  = "create"
	classJoin    = "join"
	classDefault = "default"
)

// limiterTimeout bounds the limiter's NATS round trips, so a slow NATS delays
// a request by at most this much before the request is let through.
const limiterTimeout = 2 * time.Second

// limit returns middleware that counts each request against rate, per client
// IP, in the counters every api replica shares; over the limit it answers
// 429 RATE_LIMIT_EXCEEDED with Retry-After (seconds until the window ends).
func (s *Service) limit(class string, rate config.Rate) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if rate.Disabled() {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := ratelimit.ClientIP(r, s.cfg.TrustProxy)
			ctx, cancel := context.WithTimeout(r.Context(), limiterTimeout)
			res, err := s.limiter.Allow(ctx, class, ip, rate)
			cancel()
			if err != nil {
				// Fail open: the limit guards against abuse, not correctness,
				// and turning a NATS hiccup into 5xx on every route would be a
				// worse outage than a few uncounted requests; the handler's own
				// store calls still fail properly if NATS is really gone.
				s.metrics.limiterErrors.Inc()
				s.log.Warn("rate limiter unavailable, request let through", "request_id", httpx.RequestID(r.Context()),
					"class", class, "err", err)
				next.ServeHTTP(w, r)
				return
			}
			if !res.Allowed {
				s.metrics.rateLimited.WithLabelValues(class).Inc()
				secs := int(res.RetryAfter / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				httpx.WriteError(w, protocol.Errorf(protocol.CodeRateLimited,
					"Too many requests: at most %d per %s; retry in %d s", rate.N, rate.Per, secs).
					WithDetails(map[string]any{"limit": rate.N, "window": rate.Per.String(), "retryAfter": secs}))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
