package api

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/httpx"
)

// requestTimeout bounds the NATS work of one REST request, the rate limit
// check included. nats.go buffers requests while it reconnects, so without
// a deadline a request that started just before an outage would wait for
// JetStream's own 5 s per call, several times over.
const requestTimeout = 5 * time.Second

// bounded guards the routes that need NATS. While the connection is down it
// answers 503 SERVICE_UNAVAILABLE with Retry-After at once, instead of
// queueing the request behind a reconnect that may take minutes; otherwise it
// gives the request a deadline of requestTimeout, and a NATS call that misses
// it answers 503 too (httpx.WriteError classifies it). The connection
// reconnects by itself, so nothing has to be restarted when NATS returns.
func bounded(nc *nats.Conn) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !nc.IsConnected() {
				httpx.WriteError(w, broker.ErrDown)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
