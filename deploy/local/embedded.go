// Package local is the all-in-one: an embedded NATS server with JetStream and
// the api, realtime and janitor services in one process on one port.
package local

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
)

// StartNATS starts the embedded JetStream server on cfg.NATSListen with its
// store in cfg.DataDir, unless NATS_URL was given, and points cfg.NATSURL at
// it. The server it returns (unless NATS_IN_PROCESS=false) is for the
// process's own connections, which talk to it in memory (no loopback
// socket, no syscall per flush); the listener stays for the nats CLI and
// other processes.
func StartNATS(cfg *config.Config, log *slog.Logger) (stop func(), inProcess nats.InProcessConnProvider, err error) {
	if cfg.NATSURLSet {
		log.Info("using external NATS", "nats_url", broker.RedactURLs(cfg.NATSURL))
		return func() {}, nil, nil
	}
	host, portStr, err := net.SplitHostPort(cfg.NATSListen)
	if err != nil {
		return nil, nil, fmt.Errorf("config: NATS_LISTEN=%q: %w", cfg.NATSListen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < -1 || port > 65535 {
		return nil, nil, fmt.Errorf("config: NATS_LISTEN=%q: bad port", cfg.NATSListen)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("config: DATA_DIR=%q: %w", cfg.DataDir, err)
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "pairpad-local", Host: host, Port: port,
		JetStream: true, StoreDir: filepath.Join(dir, "jetstream"),
		NoSigs: true, NoLog: true, MaxPayload: broker.MaxPayload,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, nil, fmt.Errorf("embedded nats did not start on %s (is the port taken? set NATS_LISTEN)", cfg.NATSListen)
	}
	cfg.NATSURL = s.ClientURL()
	log.Info("embedded nats started", "nats_url", cfg.NATSURL, "data_dir", dir, "in_process", cfg.NATSInProcess)
	stop = func() {
		s.Shutdown()
		s.WaitForShutdown()
	}
	if !cfg.NATSInProcess {
		return stop, nil, nil
	}
	return stop, s, nil
}
