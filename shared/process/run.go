package process

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/buildinfo"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Options says what a process runs.
type Options struct {
	// Process names the process for config defaults, logs and the NATS connection.
	Process string
	// Build makes the process's service once JetStream is provisioned.
	Build func(ctx context.Context, d Deps) (Service, error)
	// BeforeConnect may start what NATS needs (the all-in-one's embedded
	// server) and rewrite cfg.NATSURL; the returned stop runs last at
	// shutdown. A non-nil inProcess is that server: every connection of the
	// process then talks to it in memory rather than over loopback TCP.
	BeforeConnect func(cfg *config.Config, log *slog.Logger) (stop func(), inProcess nats.InProcessConnProvider, err error)
	// Ready, when set, receives the bound address once the process serves
	// HTTP: tests use it to find a process started on port 0.
	Ready func(addr net.Addr)
	// HealthPaths are served like /healthz from the start, before NATS
	// answers: liveness routes a service documents under its own prefix.
	HealthPaths []string
	// Middleware wraps the whole process handler (request ids, access logs, HTTP metrics).
	Middleware func(log *slog.Logger, reg *prometheus.Registry) func(http.Handler) http.Handler
}

// applyMemoryLimit gives the Go runtime its soft memory limit from
// MEMORY_LIMIT (GO_MEMORY_PERCENT of it), unless GOMEMLIMIT, which the
// runtime read at start, says otherwise. Without a soft limit the heap may
// grow to twice what is live before a collection; with one equal to the
// container's limit, the memory the runtime does not manage (and a burst
// the collector has not caught up with) ends in an OOM kill.
func applyMemoryLimit(cfg config.Config, getenv func(string) string, log *slog.Logger) {
	if cfg.MemoryLimit == 0 {
		return
	}
	if getenv("GOMEMLIMIT") != "" {
		log.Info("GOMEMLIMIT is set: MEMORY_LIMIT does not change the Go soft limit", "go_memory_limit", debug.SetMemoryLimit(-1))
		return
	}
	debug.SetMemoryLimit(cfg.GoMemoryLimit())
	log.Info("Go soft memory limit set", "memory_limit", cfg.MemoryLimit, "go_memory_limit", cfg.GoMemoryLimit())
}

// Run is every process's main: it serves /healthz at once, /readyz once NATS
// and JetStream answer, the service's routes once it is built, and shuts down
// in order when ctx ends: not ready, service drained, HTTP stopped, NATS drained.
// A service that fails while it runs (Failer) is shut down the same way and
// Run returns its error.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, o Options) error {
	fs := flag.NewFlagSet(o.Process, flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.Bool("version", false, "print the version and exit")
	port := fs.Int("port", 0, "override PORT")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *version {
		fmt.Fprintf(stdout, "pairpad %s %s\n", o.Process, buildinfo.Version)
		return nil
	}
	cfg, err := config.Load(o.Process, getenv)
	if err != nil {
		return err
	}
	if *port != 0 {
		cfg.Port = *port
	}
	log := httpx.NewLogger(stdout, cfg.LogLevel, o.Process)
	applyMemoryLimit(cfg, getenv, log)
	if cfg.TokenSecretGenerated {
		log.Warn("TOKEN_SECRET is not set: using a random secret; join tokens will not work across processes or restarts")
	}
	var inProcess nats.InProcessConnProvider
	if o.BeforeConnect != nil {
		stop, ip, err := o.BeforeConnect(&cfg, log)
		if err != nil {
			return err
		}
		defer stop()
		inProcess = ip
	}
	reg := httpx.NewRegistry()
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{Name: "pairpad_nats_reconnects_total", Help: "NATS reconnects of this process."})
	reg.MustRegister(reconnects)
	dial := func(co broker.ConnOptions) (*nats.Conn, error) {
		co.Log, co.OnReconnect, co.InProcess = log, reconnects.Inc, inProcess
		return broker.Connect(cfg.NATSURL, co)
	}
	nc, err := dial(broker.ConnOptions{Name: "pairpad-" + o.Process, FlushDelay: cfg.NATSFlushDelay})
	if err != nil {
		return err
	}
	defer nc.Close()

	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on PORT %d: %w", cfg.Port, err)
	}
	var (
		infra   atomic.Pointer[broker.Infra]
		handler atomic.Pointer[http.Handler]
		ready   atomic.Bool
	)
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", httpx.Health())
	mux.Handle("GET /readyz", httpx.Ready(func(ctx context.Context) error {
		in := infra.Load()
		if in == nil || !ready.Load() {
			return errors.New("not ready")
		}
		return in.Ready(ctx)
	}))
	mux.Handle("GET /metrics", httpx.Metrics(reg))
	for _, p := range o.HealthPaths {
		mux.Handle("GET "+p, httpx.Health())
	}
	if cfg.Pprof {
		// Profiles show internals: only on request (PPROF=true), never by default.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, protocol.Errorf(protocol.CodeServiceUnavailable, "The service is starting: waiting for NATS"))
	}))
	var root http.Handler = mux
	if o.Middleware != nil {
		root = o.Middleware(log, reg)(mux)
	}
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	served := make(chan error, 1)
	go func() {
		served <- httpx.Serve(serveCtx, ln, root, httpx.ServerConfig{
			ReadHeaderTimeout: cfg.HTTPReadHeaderLimit, IdleTimeout: cfg.HTTPIdleTimeout,
			MaxHeaderBytes: cfg.MaxHeaderBytes, ShutdownTimeout: cfg.ShutdownTimeout,
		}, log)
	}()
	log.Info("listening", "addr", ln.Addr().String(), "nats_url", broker.RedactURLs(cfg.NATSURL), "version", buildinfo.Version)
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}

	svc, buildErr := build(ctx, nc, dial, cfg, log, reg, o, &infra)
	if buildErr == nil {
		h := svc.Handler()
		handler.Store(&h)
		ready.Store(true)
		log.Info("ready")
		var failed <-chan error
		if f, ok := svc.(Failer); ok {
			failed = f.Failed()
		}
		select {
		case <-ctx.Done():
		case err := <-served:
			buildErr = fmt.Errorf("http server: %w", err)
		case err := <-failed:
			ready.Store(false)
			if err == nil {
				err = errors.New("no reason given")
			}
			buildErr = fmt.Errorf("%s failed: %w", o.Process, err)
			log.Error("the service failed and cannot go on serving: stopping so that it is restarted", "err", err)
		}
	}
	ready.Store(false)
	log.Info("shutting down")
	var errs []error
	if buildErr != nil && !errors.Is(buildErr, context.Canceled) {
		errs = append(errs, buildErr)
	}
	if svc != nil {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		if err := svc.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		cancel()
	}
	stopServing()
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("http server: %w", err))
	}
	if err := drain(nc, 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	log.Info("stopped")
	return errors.Join(errs...)
}

func build(ctx context.Context, nc *nats.Conn, dial func(broker.ConnOptions) (*nats.Conn, error), cfg config.Config, log *slog.Logger, reg *prometheus.Registry, o Options, infra *atomic.Pointer[broker.Infra]) (Service, error) {
	in, err := broker.ProvisionRetry(ctx, nc, broker.Layout{
		Replicas: cfg.JSReplicas, PresenceTTL: cfg.PresenceTimeout, OpsMaxAge: cfg.OpsMaxAge, OpsMaxPerSession: cfg.OpsMaxPerSession,
		OpsMaxBytes: cfg.OpsMaxBytes,
	}, func(err error) {
		if broker.NoStorage(err) {
			// Not an outage: waiting does not help until an operator acts.
			log.Error("waiting for NATS JetStream: its storage cannot hold the streams' limits (give the NATS server more storage, max_file_store, or lower OPS_MAX_BYTES)", "err", err)
			return
		}
		log.Warn("waiting for NATS JetStream", "err", err)
	})
	if err != nil {
		return nil, err
	}
	infra.Store(in)
	svc, err := o.Build(ctx, Deps{Config: cfg, Infra: in, Log: log, Metrics: reg, Now: time.Now, Dial: dial})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Process, err)
	}
	return svc, nil
}
