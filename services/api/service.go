// Package api is the session REST service: it creates sessions, hands out
// join tokens, lists, deletes and describes sessions, and serves a session's
// edit history, all over the NATS JetStream state the other services share.
// It also registers the NATS micro service "api" with the same operations.
//
// Every route is in routes.go; openapi.yaml documents them and the tests hold
// every response to it.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/ratelimit"
	"github.com/pairpad/pairpad/shared/session"
)

// Service is the api service; it implements process.Service.
type Service struct {
	cfg   config.Config
	infra *broker.Infra
	log   *slog.Logger
	now   func() time.Time
	store *session.Store
	// participants is the per-session registry of roles and colours.
	participants participants
	catalog      catalog
	limiter      *ratelimit.Limiter
	metrics      *apiMetrics
	handler      http.Handler
	micro        micro.Service
	stopWork     context.CancelFunc // ends the context micro handlers run under
}

var _ process.Service = (*Service)(nil)

// New builds the api service over d.Infra and registers its micro service.
// ctx only bounds the start; the service runs until Shutdown.
func New(ctx context.Context, d process.Deps) (*Service, error) {
	if d.Infra == nil {
		return nil, errors.New("api: no NATS infrastructure given")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &Service{cfg: d.Config, infra: d.Infra, log: d.Log, now: d.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.store = session.NewStore(d.Infra.Sessions)
	s.participants = participants{kv: d.Infra.Participants, max: d.Config.SessionMaxUserIDs}
	s.catalog = catalog{in: d.Infra, store: s.store, now: s.now, log: s.log}
	s.limiter = ratelimit.New(d.Infra.Limits, s.now)
	m, err := newAPIMetrics(d.Metrics)
	if err != nil {
		return nil, err
	}
	s.metrics = m

	s.handler = cors(s.cfg.FrontendURLs)(newRouter(s.routes(), s.cfg.FrontendURLs))

	// Micro handlers outlive New's ctx: they stop with Shutdown.
	workCtx, stop := context.WithCancel(context.Background())
	svc, err := startMicro(workCtx, d.Infra.NC, s.catalog, s.log)
	if err != nil {
		stop()
		return nil, err
	}
	s.micro, s.stopWork = svc, stop
	return s, nil
}

// Handler serves the /api/... routes.
func (s *Service) Handler() http.Handler { return s.handler }

// Shutdown stops the micro service; HTTP requests are drained by the
// process's server, and the NATS connection belongs to the process.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopWork()
	done := make(chan error, 1)
	go func() { done <- s.micro.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("stop micro service: %w", err)
		}
		// Unsubscribing is asynchronous; the flush makes sure the server has
		// stopped routing requests here before Shutdown returns. Best effort:
		// with NATS gone there is nothing left to route.
		if s.infra.NC.IsConnected() {
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second) // FlushWithContext needs a deadline
			defer cancel()
			_ = s.infra.NC.FlushWithContext(fctx)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop micro service: %w", ctx.Err())
	}
}

// apiMetrics are the service's own counters, beside the HTTP metrics of httpx.Middleware.
type apiMetrics struct {
	rateLimited   *prometheus.CounterVec
	limiterErrors prometheus.Counter
}

func newAPIMetrics(reg *prometheus.Registry) (*apiMetrics, error) {
	m := &apiMetrics{
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pairpad_api_rate_limited_total", Help: "REST requests refused with 429, by route class.",
		}, []string{"class"}),
		limiterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_api_rate_limiter_errors_total", Help: "Rate-limit checks that failed (the request was let through).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	r := httpx.ExclusiveRegistrar(reg)
	httpx.Register(r, m.rateLimited)
	httpx.Register(r, m.limiterErrors)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("api: register metrics: %w", err)
	}
	return m, nil
}
