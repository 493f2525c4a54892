package process_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/process/processtest"
)

// A server that BeforeConnect hands over is reached in memory by the
// process's connection and by every one Deps.Dial opens, whatever
// NATS_URL says (here a port nothing listens on); a NoEcho connection
// gets what others publish and not its own.
func TestRunConnectsInProcess(t *testing.T) {
	srv := natstest.Start(t)
	deps := make(chan process.Deps, 1)
	svc := &echoService{shut: make(chan struct{})}
	base := processtest.Start(t, map[string]string{"NATS_URL": fmt.Sprintf("nats://127.0.0.1:%d", natstest.FreePort(t))}, process.Options{
		Process: "api",
		BeforeConnect: func(*config.Config, *slog.Logger) (func(), nats.InProcessConnProvider, error) {
			return func() {}, srv, nil
		},
		Build: func(_ context.Context, d process.Deps) (process.Service, error) {
			deps <- d
			return svc, nil
		},
	}).Base()
	waitStatus(t, base+"/readyz", http.StatusOK)
	d := <-deps
	if d.Dial == nil {
		t.Fatal("Deps.Dial is nil")
	}
	quiet, err := d.Dial(broker.ConnOptions{Name: "test-noecho", NoEcho: true})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer quiet.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := broker.WaitConnected(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	sub, err := quiet.SubscribeSync("peer.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := quiet.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		nc   *nats.Conn
		data string
	}{{quiet, "own"}, {d.Infra.NC, "other"}} {
		if err := p.nc.Publish("peer.test", []byte(p.data)); err != nil {
			t.Fatal(err)
		}
		if err := p.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no message from the other connection: %v", err)
	}
	if string(m.Data) != "other" {
		t.Errorf("NoEcho connection got %q first, want only the other connection's message", m.Data)
	}
	// The server saw both connections; NATS_URL points nowhere, so they
	// came in memory.
	cz, err := srv.Connz(nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range cz.Conns {
		names[c.Name] = true
	}
	if !names["pairpad-api"] || !names["test-noecho"] {
		t.Errorf("server's connections %v, want pairpad-api and test-noecho", names)
	}
}
