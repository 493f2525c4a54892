package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
)

func TestHealthReadyOpenAPI(t *testing.T) {
	s, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))

	r := a.do(t, req{method: http.MethodGet, path: "/api/health"})
	var h map[string]any
	r.json(t, &h)
	if r.status != 200 || h["status"] != "ok" || h["version"] == "" {
		t.Errorf("health: %d %v", r.status, h)
	}
	if r := a.do(t, req{method: http.MethodGet, path: "/api/ready"}); r.status != 200 {
		t.Errorf("ready: %d %s", r.status, r.body)
	}
	r = a.do(t, req{method: http.MethodGet, path: "/api/openapi.yaml"})
	if r.status != 200 || r.header.Get("Content-Type") != "application/yaml" || !strings.HasPrefix(string(r.body), "openapi: 3.0.3") {
		t.Errorf("openapi: %d %q", r.status, r.header.Get("Content-Type"))
	}

	// Without NATS: not ready, still alive.
	s.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := a.do(t, req{method: http.MethodGet, path: "/api/ready"})
		if r.status == http.StatusServiceUnavailable {
			var body map[string]any
			r.json(t, &body)
			if body["status"] != "error" {
				t.Errorf("ready body %v", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ready still %d after NATS stopped", r.status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := a.do(t, req{method: http.MethodGet, path: "/api/health"}); r.status != 200 {
		t.Errorf("health without NATS: %d", r.status)
	}
}

// TestInternalError: a failure inside answers 500 with a generic message; a
// JetStream that does not serve the bucket (no responders: a restart, a lost
// stream) is an outage, 503 with Retry-After, never a 500.
func TestInternalError(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	s := a.createSession(t, "python")
	if _, err := in.Sessions.Put(ctx, s.ID, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	r := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID})
	b := r.errorBody(t)
	if r.status != 500 || b.Error != protocol.CodeInternal || strings.Contains(b.Message, "json") || strings.Contains(b.Message, "goroutine") {
		t.Errorf("corrupt record: got %d %+v", r.status, b)
	}

	if err := in.JS.DeleteKeyValue(ctx, broker.BucketSessions); err != nil {
		t.Fatal(err)
	}
	r = a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID})
	b = r.errorBody(t)
	if r.status != 503 || b.Error != protocol.CodeServiceUnavailable || r.header.Get("Retry-After") != "1" || strings.Contains(b.Message, "stream") {
		t.Errorf("bucket gone: got %d %+v", r.status, b)
	}
}
