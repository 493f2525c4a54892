// Package process runs a service process the same way for api, realtime,
// janitor and the all-in-one: config, logger, NATS, readiness, HTTP and an
// orderly shutdown.
package process

import (
	"context"
	"log/slog"
	"net/http"
	"time"

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
