package process_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/process/processtest"
)

// failingService is an echoService that reports a failure when told to
// and whose Shutdown waits until the test lets it end.
type failingService struct {
	echoService
	failed   chan error
	shutting chan struct{} // closed when Shutdown begins
	release  chan struct{} // Shutdown returns once it is closed
}

func (s *failingService) Failed() <-chan error { return s.failed }

func (s *failingService) Shutdown(ctx context.Context) error {
	close(s.shutting)
	<-s.release
	return s.echoService.Shutdown(ctx)
}

// TestRunEndsOnFailure: a service that reports a failure (process.Failer)
// makes the process not ready at once, is shut down in order, and Run
// returns its error (Main then exits 1), having logged it.
func TestRunEndsOnFailure(t *testing.T) {
	s := natstest.Start(t)
	svc := &failingService{echoService: echoService{shut: make(chan struct{})}, failed: make(chan error, 1),
		shutting: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := map[string]string{"PORT": "0", "NATS_URL": s.ClientURL()}
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	logs := &processtest.Buffer{}
	go func() {
		done <- process.Run(ctx, []string{"realtime"}, func(k string) string { return env[k] }, logs, logs, process.Options{
			Process: "realtime",
			Build:   func(context.Context, process.Deps) (process.Service, error) { return svc, nil },
			Ready:   func(a net.Addr) { addrc <- a },
		})
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("Run: %v\n%s", err, logs)
	}
	waitStatus(t, base+"/readyz", http.StatusOK)

	boom := errors.New("epoll_wait: bad file descriptor")
	svc.failed <- boom
	select {
	case <-svc.shutting:
	case err := <-done:
		t.Fatalf("Run returned before shutting the service down: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the failure did not shut the service down")
	}
	if code, _ := status(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz while the failed service shuts down: %d, want 503", code)
	}
	close(svc.release)
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("Run: %v, want the service's failure", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the failure")
	}
	select {
	case <-svc.shut:
	default:
		t.Error("the failed service was not shut down")
	}
	if out := logs.String(); !strings.Contains(out, `"level":"ERROR"`) || !strings.Contains(out, boom.Error()) {
		t.Errorf("the failure is not logged as an error:\n%s", out)
	}
}

// TestRunWaitsForStorage: a NATS server whose JetStream storage cannot
// hold OPS_MAX_BYTES refuses the op log's stream; the process is not ready
// and says why (an error naming the storage, not an outage's warning)
// while it waits.
func TestRunWaitsForStorage(t *testing.T) {
	s := natstest.Start(t, natstest.Options{MaxStore: 32 << 20})
	svc := &echoService{shut: make(chan struct{})}
	p := processtest.Start(t, map[string]string{"NATS_URL": s.ClientURL(), "OPS_MAX_BYTES": strconv.Itoa(64 << 20),
		"OPS_MAX_BYTES_PER_SESSION": strconv.Itoa(16 << 20)}, process.Options{
		Process: "realtime",
		Build:   func(context.Context, process.Deps) (process.Service, error) { return svc, nil },
	})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.Logs.String(), "its storage cannot hold the streams' limits") {
		if time.Now().After(deadline) {
			t.Fatalf("no line naming the storage:\n%s", p.Logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := status(t, p.Base()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz while JetStream refuses the streams: %d, want 503", code)
	}
}
