package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/pairpad/pairpad/shared/broker"
)

// runNATS is `benchrun nats`: a single JetStream-enabled NATS server, the
// shared bus of the split layout, in its own process so its CPU and memory
// are neither the generator's nor a service's.
func runNATS(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("nats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 4222, "client port (-1: any free port)")
	store := fs.String("store", "", "JetStream store directory")
	prof := fs.Int("prof-port", 0, "serve /debug/pprof on this loopback port (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *store == "" {
		return errors.New("nats: -store is required")
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "pairpad-bench", Host: "127.0.0.1", Port: *port, JetStream: true, StoreDir: *store,
		NoSigs: true, NoLog: true,
		MaxPayload: broker.MaxPayload, // as every pairpad NATS server
		// The server's own profiler (net/http/pprof), which the runner
		// fetches like a service's: where the split layout's bus spends.
		ProfPort: *prof,
	})
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return errors.New("nats: not ready after 30s")
	}
	logListening(stderr, s.Addr().String())
	<-ctx.Done()
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// logListening writes the JSON "listening" line the services write, from
// which the parent reads the port a server mode bound.
func logListening(w io.Writer, addr string) {
	slog.New(slog.NewJSONHandler(w, nil)).Info("listening", "addr", addr)
}
