package janitor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/httpx"
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
	r := httpx.SharedRegistrar(reg)
	m := &metrics{
		expired: httpx.Register(r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_janitor_sessions_expired_total",
			Help: "Idle sessions this janitor expired (its compare-and-swap won).",
		})),
		purged: httpx.Register(r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_janitor_sessions_purged_total",
			Help: "Ended sessions whose interrupted clean-up this janitor finished.",
		})),
		orphans: httpx.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pairpad_janitor_orphans_removed_total",
			Help: "Documents, op logs, presence keys and participants registries removed because their session had no record.",
		}, []string{"kind"})),
		duration: httpx.Register(r, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pairpad_janitor_sweep_duration_seconds",
			Help:    "How long a sweep took.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		})),
		lastSweep: httpx.Register(r, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pairpad_janitor_last_sweep_timestamp_seconds",
			Help: "Unix time at which the latest finished sweep started.",
		})),
		errors: httpx.Register(r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_janitor_sweep_errors_total",
			Help: "Sweeps in which at least one step failed.",
		})),
	}
	// Zero series exist from the start, so dashboards and alerts see 0, not nothing.
	for _, k := range []string{kindDocument, kindOpLog, kindPresence, kindParticipants} {
		m.orphans.WithLabelValues(k)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("janitor metrics: %w", err)
	}
	return m, nil
}
