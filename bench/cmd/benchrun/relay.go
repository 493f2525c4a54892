package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

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
	srv := &http.Server{Handler: rs.Handler(), ReadHeaderTimeout: 10 * time.Second}
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
