// Package httpx holds what every service's HTTP side shares: JSON and error
// responses in the protocol's format, health, readiness and metrics, and a
// server with timeouts and graceful shutdown.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/buildinfo"
	"github.com/pairpad/pairpad/shared/protocol"
)

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes err as the protocol's error body; its code alone decides
// the status. An error without a code of its own that says NATS does not
// answer (broker.Unavailable) is 503 SERVICE_UNAVAILABLE, not 500: the
// connection reconnects by itself, so the client is told to retry, with
// Retry-After: details.retryAfterMs in whole seconds, or 1, unless the
// caller set its own.
func WriteError(w http.ResponseWriter, err error) {
	b := protocol.BodyOf(broker.Classify(err))
	if b.StatusCode == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		secs := int64(1)
		if ms, ok := b.Details["retryAfterMs"].(int64); ok && ms > 1000 {
			secs = (ms + 999) / 1000
		}
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	WriteJSON(w, b.StatusCode, b)
}

// Health answers liveness; it never depends on NATS.
func Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{
			"status": "ok", "timestamp": time.Now().UTC().Format(time.RFC3339Nano), "version": buildinfo.Version,
		})
	})
}

// Ready answers 200 when check passes and 503 otherwise.
func Ready(check func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		if err := check(r.Context()); err != nil {
			WriteJSON(w, http.StatusServiceUnavailable, map[string]any{
				"status": "error", "timestamp": now, "error": protocol.CodeServiceUnavailable, "message": err.Error(),
				"statusCode": http.StatusServiceUnavailable,
			})
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "timestamp": now})
	})
}

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Metrics serves reg in the Prometheus text format.
func Metrics(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// ServerConfig bounds what a slow or hostile client can hold.
type ServerConfig struct {
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	ShutdownTimeout   time.Duration
}

// Serve serves h on ln until ctx ends, then shuts down gracefully within
// ShutdownTimeout. WebSocket connections are hijacked, so their owners drain
// them; Serve only stops accepting and waits for plain requests.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, c ServerConfig, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// NewLogger returns the JSON logger every process writes to stdout.
func NewLogger(w interface{ Write([]byte) (int, error) }, level slog.Level, process string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("process", process)
}
