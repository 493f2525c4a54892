package local_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	local "github.com/pairpad/pairpad/deploy/local"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/natstest"
)

// StartNATS hands the embedded server to the process's connections unless
// NATS_IN_PROCESS=false or NATS_URL names another server; either way the
// connection reaches JetStream.
func TestStartNATS(t *testing.T) {
	external := natstest.Start(t)
	tests := []struct {
		name      string
		env       map[string]string
		inProcess bool
	}{
		{"default: in memory", nil, true},
		{"NATS_IN_PROCESS=false: loopback TCP", map[string]string{"NATS_IN_PROCESS": "false"}, false},
		{"NATS_URL: no embedded server", map[string]string{"NATS_URL": external.ClientURL()}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"NATS_LISTEN": "127.0.0.1:-1", "DATA_DIR": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := config.Load("local", func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			stop, ip, err := local.StartNATS(&cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if (ip != nil) != tc.inProcess {
				t.Fatalf("in-process server handed over: %v, want %v", ip != nil, tc.inProcess)
			}
			nc, err := broker.Connect(cfg.NATSURL, broker.ConnOptions{Name: "test", InProcess: ip})
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := broker.WaitConnected(ctx, nc); err != nil {
				t.Fatal(err)
			}
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.AccountInfo(ctx); err != nil {
				t.Fatalf("jetstream: %v", err)
			}
		})
	}
}
