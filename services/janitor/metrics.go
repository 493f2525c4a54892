package janitor

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the janitor's Prometheus series.
type metrics struct {
	expired   prometheus.Counter
	purged    prometheus.Counter
	orphans   *prometheus.CounterVec
	duration  prometheus.Histogram
	lastSweep prometheus.Gauge
	errors    prometheus.Counter
}

// newMetrics registers the janitor's series on reg. A second janitor on the
// same registry shares the first one's series instead of panicking.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	r := registrar{reg: reg}
	m := &metrics{
		expired: register(&r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_janitor_sessions_expired_total",
			Help: "Idle sessions this janitor expired (its compare-and-swap won).",
		})),
		purged: register(&r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_janitor_sessions_purged_total",
			Help: "Ended sessions whose interrupted clean-up this janitor finished.",
		})),
		orphans: register(&r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pairpad_janitor_orphans_removed_total",
			Help: "Documents, op logs, presence keys and participants registries removed because their session had no record.",
		}, []string{"kind"})),
		duration: register(&r, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pairpad_janitor_sweep_duration_seconds",
			Help:    "How long a sweep took.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		})),
		lastSweep: register(&r, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pairpad_janitor_last_sweep_timestamp_seconds",
			Help: "Unix time at which the latest finished sweep started.",
		})),
		errors: register(&r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_janitor_sweep_errors_total",
			Help: "Sweeps in which at least one step failed.",
		})),
	}
	// Zero series exist from the start, so dashboards and alerts see 0, not nothing.
	for _, k := range []string{kindDocument, kindOpLog, kindPresence, kindParticipants} {
		m.orphans.WithLabelValues(k)
	}
	if r.err != nil {
		return nil, fmt.Errorf("janitor metrics: %w", r.err)
	}
	return m, nil
}

// registrar registers collectors and keeps the first failure.
type registrar struct {
	reg prometheus.Registerer
	err error
}

// register registers c, or returns the collector already registered under its name.
func register[C prometheus.Collector](r *registrar, c C) C {
	if err := r.reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		if r.err == nil {
			r.err = err
		}
	}
	return c
}
