// Package natstest starts real embedded NATS servers with JetStream for tests.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options tunes a test server; the zero value is a fresh single node on a free port.
type Options struct {
	StoreDir string // reuse a store (for restart tests); empty means t.TempDir()
	Port     int    // 0 picks a free port
	// MaxStore is the server's JetStream file storage (max_store) in
	// bytes; 0 leaves the server's default (most of the disk).
	MaxStore int64
}

// Start runs an embedded JetStream server until the test ends.
func Start(t testing.TB, o ...Options) *server.Server {
	t.Helper()
	var opt Options
	if len(o) > 0 {
		opt = o[0]
	}
	if opt.StoreDir == "" {
		opt.StoreDir = t.TempDir()
	}
	if opt.Port == 0 {
		opt.Port = -1
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: opt.Port, JetStream: true, StoreDir: opt.StoreDir, JetStreamMaxStore: opt.MaxStore,
		NoLog: true, NoSigs: true, ServerName: fmt.Sprintf("test-%d", time.Now().UnixNano()),
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Port returns the client port a running server listens on.
func Port(s *server.Server) int {
	return s.Addr().(*net.TCPAddr).Port
}

// Connect opens a plain client connection closed when the test ends.
func Connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// FreePort asks the OS for a free TCP port on loopback.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
