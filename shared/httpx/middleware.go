package httpx

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HeaderRequestID carries a request's id, in both directions.
const HeaderRequestID = "X-Request-Id"

// RouteUnmatched is the route label of a request no service route matched.
const RouteUnmatched = "unmatched"

// maxRequestIDLen bounds an incoming request id we are willing to echo and log.
const maxRequestIDLen = 128

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyRoute
)

// routeHolder is filled by the service that routes the request, so the
// middleware that wraps the whole process can label it after the fact.
type routeHolder struct{ route atomic.Pointer[string] }

// Middleware returns the chain that process.Run wraps a whole process's
// handler in, outermost first:
//
//   - request id: an incoming X-Request-Id is kept when it is sane (1..128
//     characters of [A-Za-z0-9._:-]), otherwise one is generated; it is echoed
//     in the response and available to handlers through RequestID;
//   - panic recovery: a panicking handler answers 500 INTERNAL_SERVER_ERROR in
//     the protocol's body (no stack trace; the stack goes to the log);
//   - one access log line per request with request_id, method, route, path,
//     status, duration_ms and bytes;
//   - Prometheus metrics on reg (nil: none): pairpad_http_requests_total
//     {route,method,status} and pairpad_http_request_duration_seconds{route,method}.
//
// The route label is the route TEMPLATE (/api/sessions/{sessionId}), never
// the raw path, so metrics stay bounded. A service reports its template with
// SetRoute, or with LabelRoute installed as router middleware; with gorilla/mux:
//
//	r.Use(httpx.LabelRoute(func(r *http.Request) string {
//		t, _ := mux.CurrentRoute(r).GetPathTemplate()
//		return t
//	}))
//
// A request no service labels is reported as "unmatched".
func Middleware(log *slog.Logger, reg *prometheus.Registry) func(http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newHTTPMetrics(reg)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get(HeaderRequestID)
			if !saneRequestID(id) {
				id = newRequestID()
			}
			holder := &routeHolder{}
			ctx := context.WithValue(context.WithValue(r.Context(), keyRequestID, id), keyRoute, holder)
			r = r.WithContext(ctx)
			w.Header().Set(HeaderRequestID, id)
			sw := &statusWriter{ResponseWriter: w}

			panicked := serveRecovering(sw, r, next, log, id)

			route := RouteUnmatched
			if p := holder.route.Load(); p != nil {
				route = *p
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK // a handler that wrote nothing answered 200
			}
			d := time.Since(start)
			method := metricMethod(r.Method)
			if m != nil {
				m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
				m.duration.WithLabelValues(route, method).Observe(d.Seconds())
			}
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(ctx, level, "http request",
				slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", route),
				slog.String("path", r.URL.Path), slog.Int("status", status),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.Int64("bytes", sw.bytes))
			if panicked == http.ErrAbortHandler {
				// net/http's own signal to abort the response; let it do so.
				panic(panicked)
			}
		})
	}
}

// serveRecovering runs next and turns a panic into the protocol's 500; it
// returns what was recovered, if anything.
func serveRecovering(sw *statusWriter, r *http.Request, next http.Handler, log *slog.Logger, id string) (recovered any) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		recovered = v
		if v == http.ErrAbortHandler {
			return
		}
		log.Error("handler panicked", "request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		if sw.status == 0 {
			WriteError(sw, errors.New("panic"))
		} else {
			// Headers are gone: the client sees a cut response; count it as a failure.
			sw.status = http.StatusInternalServerError
		}
	}()
	next.ServeHTTP(sw, r)
	return nil
}

// SetRoute records the route template that matched r, for the access log and
// metrics of Middleware; outside Middleware it does nothing.
func SetRoute(r *http.Request, route string) {
	if h, ok := r.Context().Value(keyRoute).(*routeHolder); ok {
		h.route.Store(&route)
	}
}

// LabelRoute returns router middleware that records template(r) with
// SetRoute before calling the matched handler; gorilla/mux runs router
// middleware only on a match, so unmatched requests keep the "unmatched" label.
func LabelRoute(template func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if t := template(r); t != "" {
				SetRoute(r, t)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RequestID returns the id Middleware gave the request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// metricMethod keeps the method label bounded: clients may send any token.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	if reg == nil {
		return nil
	}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pairpad_http_requests_total", Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pairpad_http_request_duration_seconds", Help: "HTTP request duration, by route template and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	r := SharedRegistrar(reg) // building the middleware twice on one registry is harmless
	m.requests = Register(r, m.requests)
	m.duration = Register(r, m.duration)
	if err := r.Err(); err != nil {
		panic(fmt.Sprintf("httpx: register metrics: %v", err)) // a programming error: conflicting metric names
	}
	return m
}

// statusWriter remembers the status and size of a response. It keeps
// Hijack and Flush working, because WebSocket upgrades pass through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	// Informational answers (100 Continue) may precede the real one.
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker for WebSocket upgrades.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// interface checks: upgrades and streaming must keep working through the chain.
var (
	_ http.Hijacker = (*statusWriter)(nil)
	_ http.Flusher  = (*statusWriter)(nil)
)
