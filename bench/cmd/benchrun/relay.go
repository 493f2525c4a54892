package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
	"github.com/pairpad/pairpad/bench/relay"
)

// runRelay is `benchrun relay`: the bare Socket.IO room relay
// (bench/relay), the floor interview-light is compared with, in its own
// process like the servers it is compared with.
func runRelay(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:$PORT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		port := getenv("PORT")
		if port == "" {
			return errors.New("relay: give -addr or PORT")
		}
		*addr = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	logListening(stderr, ln.Addr().String())
	rs := relay.New()
	srv := &http.Server{Handler: relayMux(rs.Handler()), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-served:
		rs.Close()
		return fmt.Errorf("relay: %w", err)
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shut)
	rs.Close()
	<-served
	return err
}

// relayMux serves the relay and, beside it, what the runner reads of every
// server: GET /metrics with the process and Go runtime figures pairpad's
// /metrics has under the same names (so the floor's heap, stacks and GC
// cycles are read as pairpad's are), and /debug/pprof/.
func relayMux(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /metrics", relayMetrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}

// relayMetrics writes the process's figures in the Prometheus text format.
func relayMetrics(w http.ResponseWriter, _ *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	gc := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(gc)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	p, err := loadgen.ReadProc(os.Getpid())
	if err == nil {
		fmt.Fprintf(w, "process_resident_memory_bytes %g\nprocess_cpu_seconds_total %g\n", p.RSS, p.CPUSeconds)
	}
	fmt.Fprintf(w, "go_goroutines %d\ngo_gc_duration_seconds_count %d\ngo_gc_gogc_percent %g\ngo_gc_gomemlimit_bytes %g\n",
		runtime.NumGoroutine(), m.NumGC, float64(gc[0].Value.Uint64()), float64(gc[1].Value.Uint64()))
	for _, v := range []struct {
		name  string
		value uint64
	}{
		{"go_memstats_heap_alloc_bytes", m.HeapAlloc}, {"go_memstats_heap_inuse_bytes", m.HeapInuse},
		{"go_memstats_heap_idle_bytes", m.HeapIdle}, {"go_memstats_heap_released_bytes", m.HeapReleased},
		{"go_memstats_next_gc_bytes", m.NextGC}, {"go_memstats_stack_inuse_bytes", m.StackInuse},
		{"go_memstats_sys_bytes", m.Sys},
	} {
		fmt.Fprintf(w, "%s %d\n", v.name, v.value)
	}
}
