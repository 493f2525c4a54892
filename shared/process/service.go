// Package process runs a service process the same way for api, realtime,
// janitor and the all-in-one: config, logger, NATS, readiness, HTTP and an
// orderly shutdown.
package process

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
)

// Deps are what a service is given; it owns nothing it was not handed here.
type Deps struct {
	Config  config.Config
	Infra   *broker.Infra
	Log     *slog.Logger
	Metrics *prometheus.Registry
	Now     func() time.Time
	// Dial opens another connection to the process's NATS (in memory in
	// the all-in-one), with o's Name and NoEcho and the process's URL,
	// logger and reconnect counter; the caller closes it. Nil when the
	// caller built Deps itself: then Infra.NC is the only connection.
	Dial func(o broker.ConnOptions) (*nats.Conn, error)
}

// Service is what each service package's New returns.
type Service interface {
	// Handler serves the service's own routes; /healthz, /readyz and
	// /metrics are served by the process.
	Handler() http.Handler
	// Shutdown stops the service's background work and drains its
	// connections within ctx.
	Shutdown(ctx context.Context) error
}

// Failer is a Service that can fail while it runs, past what it can
// recover from by itself (realtime's epoll reader): Run selects on Failed
// beside its context, and an error received there ends the process as a
// signal would (not ready at once, the service shut down in order) but
// with that error, so Main exits 1 and a supervisor restarts it instead of
// leaving a ready instance that no longer serves. A Service without it
// never fails that way.
type Failer interface {
	// Failed delivers at most one error, once the service can no longer
	// serve; nil when it cannot fail.
	Failed() <-chan error
}
