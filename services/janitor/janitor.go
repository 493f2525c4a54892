// Package janitor expires idle sessions and cleans up what crashed clean-ups
// left behind. Any number of janitors may run at once: every decision is a
// compare-and-swap on a session record's revision and every removal is
// idempotent, so two replicas never double-act harmfully.
package janitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// Tombstone defaults: PurgeDeletes reads the whole bucket, so it runs far
// less often than a sweep, and markers younger than tombstoneAge stay so a
// lagging KV watcher still sees a session's removal.
const (
	defaultTombstoneEvery = 10 * time.Minute
	defaultTombstoneAge   = 30 * time.Minute
	minSweepTimeout       = time.Minute
)

var _ process.Service = (*Service)(nil)

// Service is a running janitor: a sweep loop plus the `janitor` NATS micro
// service that inspects and triggers it.
type Service struct {
	in    *broker.Infra
	store *session.Store
	log   *slog.Logger
	now   func() time.Time
	idle  time.Duration
	// retention is how long an ended interview stays before it is purged.
	retention time.Duration
	interval  time.Duration
	metrics   *metrics

	tombstoneEvery time.Duration
	tombstoneAge   time.Duration

	// sweepMu serialises sweeps: the loop's and those asked for over NATS.
	sweepMu       sync.Mutex
	suspects      map[string]time.Time // orphan key -> first seen orphaned (guarded by sweepMu)
	lastTombstone time.Time            // guarded by sweepMu

	mu      sync.Mutex // guards the fields below
	last    *Report
	totals  totals
	closing bool

	micro    micro.Service
	loopCtx  context.Context // ends at Shutdown; sweeps asked for over NATS run in it too
	cancel   context.CancelFunc
	loopDone chan struct{}
	inflight sync.WaitGroup // micro requests being answered
}

// totals are the running counts the micro stats endpoint reports.
type totals struct {
	Sweeps, SweepErrors, Expired, Purged, OrphansRemoved int64
}

// New starts a janitor: it registers the `janitor` micro service and a sweep
// loop that runs at once and then every JanitorInterval. ctx bounds the start
// only; the loop runs until Shutdown.
func New(ctx context.Context, d process.Deps) (*Service, error) {
	if d.Infra == nil || d.Infra.NC == nil {
		return nil, errors.New("janitor: no NATS infrastructure")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("janitor: %w", err)
	}
	s := &Service{
		in:             d.Infra,
		store:          session.NewStore(d.Infra.Sessions),
		log:            d.Log,
		now:            d.Now,
		idle:           d.Config.SessionIdleTimeout,
		retention:      d.Config.SessionRetention,
		interval:       d.Config.JanitorInterval,
		tombstoneEvery: defaultTombstoneEvery,
		tombstoneAge:   defaultTombstoneAge,
		suspects:       map[string]time.Time{},
		loopDone:       make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.idle <= 0 {
		s.idle = 30 * time.Minute
	}
	if s.retention <= 0 {
		s.retention = 168 * time.Hour
	}
	if s.interval <= 0 {
		// The protocol's default: a quarter of the idle timeout, at most a minute.
		s.interval = min(max(s.idle/4, 100*time.Millisecond), time.Minute)
	}
	reg := d.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.metrics = m

	// The service's lifetime is its own, not the caller's start context.
	s.loopCtx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	svc, err := s.startMicro()
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.micro = svc
	go s.loop(s.loopCtx)
	return s, nil
}

// Handler serves nothing of the janitor's own: its HTTP side is only the
// process's /healthz, /readyz and /metrics.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteError(w, protocol.Errorf(protocol.CodeNotFound, "Route not found"))
	})
}

// Shutdown stops the micro service, then the loop; a sweep cut short is
// harmless because the next sweep (of any janitor) finishes its work.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	s.mu.Unlock()
	if already {
		return nil
	}
	var errs []error
	if err := s.micro.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("stop janitor micro service: %w", err))
	} else if s.in.NC.IsConnected() {
		// A round trip after the unsubscribes: once it returns, the server
		// routes no more requests here. Best effort: a lost connection routes none anyway.
		_ = s.in.NC.FlushWithContext(ctx)
	}
	s.cancel()
	done := make(chan struct{})
	go func() {
		<-s.loopDone
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("janitor shutdown: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// loop sweeps at once (a janitor starting after downtime catches up without
// waiting an interval), then on every tick until ctx ends.
func (s *Service) loop(ctx context.Context) {
	defer close(s.loopDone)
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("janitor sweep failed", "err", err)
		}
		t := time.NewTimer(s.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// sweepTimeout bounds one sweep, so a NATS outage cannot wedge the loop.
func (s *Service) sweepTimeout() time.Duration {
	return max(2*s.interval, minSweepTimeout)
}
