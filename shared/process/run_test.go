package process_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/process/processtest"
)

type echoService struct{ shut chan struct{} }

func (s *echoService) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "service:"+r.URL.Path) })
}

func (s *echoService) Shutdown(context.Context) error { close(s.shut); return nil }

// start runs process.Run in the background and returns its base URL.
func start(t *testing.T, env map[string]string, svc *echoService) string {
	t.Helper()
	return processtest.Start(t, env, process.Options{
		Process:     "api",
		HealthPaths: []string{"/api/health"},
		Build:       func(context.Context, process.Deps) (process.Service, error) { return svc, nil },
	}).Base()
}

func status(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, _ := status(t, url)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %d, want %d", url, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	s := natstest.Start(t)
	svc := &echoService{shut: make(chan struct{})}
	base := start(t, map[string]string{"PORT": "0", "NATS_URL": s.ClientURL()}, svc)
	if code, _ := status(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz: got %d", code)
	}
	waitStatus(t, base+"/readyz", http.StatusOK)
	if code, body := status(t, base+"/api/x"); code != http.StatusOK || body != "service:/api/x" {
		t.Errorf("service route: got %d %q", code, body)
	}
	if code, body := status(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics: got %d", code)
	}
}

// A process started before NATS is reachable waits and reports not ready,
// then becomes ready by itself when NATS appears.
func TestRunWaitsForNATS(t *testing.T) {
	port := natstest.FreePort(t)
	svc := &echoService{shut: make(chan struct{})}
	base := start(t, map[string]string{"PORT": "0", "NATS_URL": fmt.Sprintf("nats://127.0.0.1:%d", port)}, svc)
	for _, p := range []string{"/healthz", "/api/health"} {
		if code, _ := status(t, base+p); code != http.StatusOK {
			t.Errorf("%s before NATS: got %d, want 200 (liveness never depends on NATS)", p, code)
		}
	}
	if code, body := status(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"status":"error"`) {
		t.Errorf("readyz before NATS: got %d %s", code, body)
	}
	if code, body := status(t, base+"/api/sessions"); code != http.StatusServiceUnavailable || !strings.Contains(body, "SERVICE_UNAVAILABLE") {
		t.Errorf("route before NATS: got %d %s", code, body)
	}
	natstest.Start(t, natstest.Options{Port: port})
	waitStatus(t, base+"/readyz", http.StatusOK)
}

func TestRunServesPprofOnlyWhenAsked(t *testing.T) {
	s := natstest.Start(t)
	off := start(t, map[string]string{"PORT": "0", "NATS_URL": s.ClientURL()}, &echoService{shut: make(chan struct{})})
	waitStatus(t, off+"/readyz", http.StatusOK)
	if _, body := status(t, off+"/debug/pprof/"); strings.Contains(body, "goroutine") {
		t.Errorf("pprof served without PPROF=true: %s", body)
	}
	on := start(t, map[string]string{"PORT": "0", "NATS_URL": s.ClientURL(), "PPROF": "true"}, &echoService{shut: make(chan struct{})})
	if code, body := status(t, on+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("PPROF=true: got %d", code)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := process.Run(context.Background(), []string{"test"}, func(k string) string {
		if k == "SESSION_IDLE_TIMEOUT" {
			return "abc"
		}
		return ""
	}, io.Discard, io.Discard, process.Options{Process: "janitor"})
	if err == nil || !strings.Contains(err.Error(), "SESSION_IDLE_TIMEOUT") {
		t.Errorf("got %v, want an error naming SESSION_IDLE_TIMEOUT", err)
	}
}

// MEMORY_LIMIT sets the Go soft limit to GO_MEMORY_PERCENT of it, unless
// GOMEMLIMIT (which the runtime reads itself) is set.
func TestRunSetsGoMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	s := natstest.Start(t)

	base := start(t, map[string]string{"PORT": "0", "NATS_URL": s.ClientURL(), "MEMORY_LIMIT": "1Gi", "GO_MEMORY_PERCENT": "50"}, &echoService{shut: make(chan struct{})})
	waitStatus(t, base+"/readyz", http.StatusOK)
	if got := debug.SetMemoryLimit(-1); got != 512<<20 {
		t.Errorf("Go memory limit %d, want %d (50 %% of 1Gi)", got, 512<<20)
	}

	debug.SetMemoryLimit(before)
	base = start(t, map[string]string{"PORT": "0", "NATS_URL": s.ClientURL(), "MEMORY_LIMIT": "1Gi", "GOMEMLIMIT": "300MiB"}, &echoService{shut: make(chan struct{})})
	waitStatus(t, base+"/readyz", http.StatusOK)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("GOMEMLIMIT set: Go memory limit changed to %d, want it left at %d", got, before)
	}
}
