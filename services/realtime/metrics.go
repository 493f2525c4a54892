package realtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
)

// metrics are the gateway's Prometheus series. Label values come from closed
// sets (event types, error codes, framings), so cardinality stays bounded
// whatever clients send.
type metrics struct {
	connections   *prometheus.GaugeVec
	sessions      prometheus.Gauge
	eventsIn      *prometheus.CounterVec
	eventsOut     *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	fanout        *prometheus.HistogramVec
	slowConsumers prometheus.Counter
	catchUps      prometheus.Counter
	floodCuts     prometheus.Counter
	droppedEvents prometheus.Counter
	presenceErrs  prometheus.Counter
}

// knownTypes bounds the type label: anything else a client sends is "unknown".
var knownTypes = map[string]bool{
	protocol.TypeCodeUpdate: true, protocol.TypeCursorUpdate: true, protocol.TypeLanguageChanged: true,
	protocol.TypeSync: true, protocol.TypeConnected: true, protocol.TypeUserJoined: true,
	protocol.TypeUserLeft: true, protocol.TypePresenceUpdate: true, protocol.TypeCodeAck: true,
	protocol.TypeSessionEnded: true, protocol.TypeError: true,
	protocol.TypeNotesUpdate: true, protocol.TypeNotesAck: true, protocol.TypeRunOutput: true,
}

func typeLabel(t string) string {
	if knownTypes[t] {
		return t
	}
	return "unknown"
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pairpad_realtime_connections", Help: "Open WebSocket connections on this instance, by framing.",
		}, []string{"framing"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pairpad_realtime_sessions", Help: "Sessions this instance holds (at least one local connection).",
		}),
		eventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pairpad_realtime_events_in_total", Help: "Events received from clients, by type.",
		}, []string{"type"}),
		eventsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pairpad_realtime_events_out_total", Help: "Events queued to clients (one per receiver), by type.",
		}, []string{"type"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pairpad_realtime_refusals_total",
			Help: "Refused handshakes (stage=handshake) and refused events (stage=event), by error code.",
		}, []string{"stage", "code"}),
		fanout: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pairpad_realtime_fanout_seconds",
			Help:    "Time from an event's publication to its delivery into local send queues, by type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"type"}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_realtime_slow_consumers_total",
			Help: "Connections cut off because their send queue was full (the client stopped reading).",
		}),
		catchUps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_realtime_catchups_total",
			Help: "Runs of queued code-updates replaced by one sync because a connection's send queue was full (a reader lagging behind, caught up instead of cut off).",
		}),
		floodCuts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_realtime_flood_disconnects_total",
			Help: "Connections cut off for sending far beyond WS_EVENTS_PER_SECOND.",
		}),
		droppedEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_realtime_dropped_events_total",
			Help: "Events still waiting when their connection closed, dropped unhandled (never acknowledged).",
		}),
		presenceErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pairpad_realtime_presence_write_errors_total", Help: "Failed writes to the presence bucket.",
		}),
	}
	r := httpx.ExclusiveRegistrar(reg)
	for _, c := range []prometheus.Collector{m.connections, m.sessions, m.eventsIn, m.eventsOut, m.refusals,
		m.fanout, m.slowConsumers, m.catchUps, m.floodCuts, m.droppedEvents, m.presenceErrs} {
		httpx.Register(r, c)
	}
	if err := r.Err(); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return nil, fmt.Errorf("realtime metrics: registry already has them (one realtime.Service per registry): %w", err)
		}
		return nil, fmt.Errorf("realtime metrics: %w", err)
	}
	return m, nil
}

// registerWindowGauge exposes the bytes the document engine holds, what
// DOC_MEMORY_BUDGET bounds, and the part of it in windows of recent
// updates; its appends sent again for a late acknowledgement, and those
// lost to another instance's.
func registerWindowGauge(reg prometheus.Registerer, e *document.Engine) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pairpad_realtime_doc_window_bytes",
		Help: "Bytes held by the windows of recent updates of the documents on this instance (part of pairpad_realtime_doc_memory_bytes).",
	}, func() float64 { return float64(e.WindowBytes()) })
	all := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pairpad_realtime_doc_memory_bytes",
		Help: "Bytes held by the documents on this instance: texts, opId indexes and windows of recent updates (bounded by DOC_MEMORY_BUDGET).",
	}, func() float64 { return float64(e.MemoryBytes()) })
	resends := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "pairpad_realtime_append_resends_total",
		Help: "Op-log appends sent again because JetStream's acknowledgement did not come within 2 s (each is stored once).",
	}, func() float64 { return float64(e.AppendResends()) })
	conflicts := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "pairpad_realtime_append_conflicts_total",
		Help: "Op-log appends lost to another instance's (the update is transformed over it and appended again).",
	}, func() float64 { lost, _ := e.AppendConflicts(); return float64(lost) })
	conflictReads := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "pairpad_realtime_append_conflict_reads_total",
		Help: "Lost appends after which the op log was read to catch up, the winning entry not having come through the applied subscription yet.",
	}, func() float64 { _, read := e.AppendConflicts(); return float64(read) })
	noStorage := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "pairpad_realtime_append_storage_full_total",
		Help: "Op-log appends the NATS server refused because its JetStream storage is full (the update is refused with SERVICE_UNAVAILABLE; free or add storage).",
	}, func() float64 { return float64(e.StorageRefusals()) })
	r := httpx.ExclusiveRegistrar(reg)
	httpx.Register(r, g)
	httpx.Register(r, noStorage)
	httpx.Register(r, all)
	httpx.Register(r, resends)
	httpx.Register(r, conflicts)
	httpx.Register(r, conflictReads)
	if err := r.Err(); err != nil {
		return fmt.Errorf("realtime metrics: %w", err)
	}
	return nil
}

func (m *metrics) refused(stage string, err error) {
	m.refusals.WithLabelValues(stage, string(protocol.ErrorCode(err))).Inc()
}

func (m *metrics) out(typ string, n int) {
	if n > 0 {
		m.eventsOut.WithLabelValues(typeLabel(typ)).Add(float64(n))
	}
}

// observeFanout records publish→deliver latency from a timestamp in unix ms.
func (m *metrics) observeFanout(typ string, publishedMs int64, now time.Time) {
	if publishedMs <= 0 {
		return
	}
	d := now.Sub(time.UnixMilli(publishedMs))
	if d < 0 {
		d = 0
	}
	m.fanout.WithLabelValues(typeLabel(typ)).Observe(d.Seconds())
}
