package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestRateLimitSharedAcrossReplicas: two api replicas on one NATS share the
// create limit (10/min per IP), and see each other's sessions.
func TestRateLimitSharedAcrossReplicas(t *testing.T) {
	_, in := startNATS(t)
	clk := newClock(start) // 30 s left in the minute
	e := baseEnv().with("RATE_LIMIT_CREATE", "10/1m")
	replicas := []*testAPI{newAPI(t, in, e, clk), newAPI(t, in, e, clk)}

	var created []protocol.Session
	for i := range 10 {
		created = append(created, replicas[i%2].createSession(t, "python"))
	}
	r := replicas[0].do(t, req{method: http.MethodPost, path: "/api/sessions", body: `{"language":"python"}`})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("11th create: %d %s, want 429", r.status, r.body)
	}
	if b := r.errorBody(t); b.Error != protocol.CodeRateLimited || r.header.Get("Retry-After") != "30" {
		t.Errorf("429 body %+v Retry-After %q, want 30", b, r.header.Get("Retry-After"))
	}
	if r := replicas[1].do(t, req{method: http.MethodPost, path: "/api/sessions", body: `{"language":"python"}`}); r.status != 429 {
		t.Errorf("12th create on the other replica: %d, want 429", r.status)
	}
	if got := counter(t, replicas[0].reg, "pairpad_api_rate_limited_total", "class=create"); got != 1 {
		t.Errorf("rate_limited_total{create} = %v, want 1", got)
	}
	// A session created through one replica is visible through the other.
	for i, s := range created[:2] {
		r := replicas[1-i%2].do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID})
		if r.status != 200 {
			t.Errorf("session %s from replica %d not visible on the other: %d", s.ID, i%2, r.status)
		}
	}
	// The next window starts afresh.
	clk.Advance(30 * time.Second)
	replicas[1].createSession(t, "javascript")
}

func TestRateLimitClasses(t *testing.T) {
	_, in := startNATS(t)
	clk := newClock(start)
	a := newAPI(t, in, baseEnv().with("RATE_LIMIT_CREATE", "2/1m", "RATE_LIMIT_JOIN", "1/10s", "RATE_LIMIT_DEFAULT", "3/1m"), clk)
	s := a.createSession(t, "python")
	a.createSession(t, "python")
	join := req{method: http.MethodPost, path: "/api/sessions/" + s.ID + "/join", body: `{"userId":"u","userName":"n"}`}
	get := req{method: http.MethodGet, path: "/api/sessions/" + s.ID}

	steps := []struct {
		name       string
		rq         req
		status     int
		retryAfter string
	}{
		{"create over its limit", req{method: http.MethodPost, path: "/api/sessions", body: `{"language":"python"}`}, 429, "30"},
		{"join has its own count", join, 200, ""},
		{"join over its limit", join, 429, "10"}, // 10 s windows: 30 s into the minute is a window start
		{"default 1", get, 200, ""},
		{"default 2", req{method: http.MethodGet, path: "/api/sessions/nope"}, 404, ""},
		{"default 3", req{method: http.MethodGet, path: "/api/sessions", header: bearerHeader(adminToken)}, 200, ""},
		{"default over its limit", get, 429, "30"},
		{"admin routes count as default", req{method: http.MethodDelete, path: "/api/sessions/" + s.ID, header: bearerHeader(adminToken)}, 429, "30"},
		{"history counts as default", req{method: http.MethodGet, path: "/api/sessions/" + s.ID + "/history"}, 429, "30"},
		{"health is never limited", req{method: http.MethodGet, path: "/api/health"}, 200, ""},
		{"ready is never limited", req{method: http.MethodGet, path: "/api/ready"}, 200, ""},
		{"the document is never limited", req{method: http.MethodGet, path: "/api/openapi.yaml"}, 200, ""},
		{"preflights are never limited", req{method: http.MethodOptions, path: "/api/sessions", header: map[string]string{
			"Origin": frontend, "Access-Control-Request-Method": "POST"}}, 204, ""},
	}
	for _, st := range steps {
		r := a.do(t, st.rq)
		if r.status != st.status || r.header.Get("Retry-After") != st.retryAfter {
			t.Errorf("%s: %d Retry-After %q, want %d %q: %s", st.name, r.status, r.header.Get("Retry-After"), st.status, st.retryAfter, r.body)
		}
	}
}

func TestRateLimitForwardedFor(t *testing.T) {
	_, in := startNATS(t)
	clk := newClock(start)
	e := baseEnv().with("RATE_LIMIT_CREATE", "2/1m")
	tests := []struct {
		name  string
		trust string
		xffs  []string
		want  []int
	}{
		// Untrusted, X-Forwarded-For is ignored: every request is 127.0.0.1.
		{"untrusted", "false", []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}, []int{201, 201, 429}},
		// Trusted, each client has its own count, keyed on the first entry.
		{"trusted", "true", []string{"198.51.100.1", "198.51.100.2, 10.0.0.1", "198.51.100.1", "198.51.100.1"}, []int{201, 201, 201, 429}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, in, e.with("TRUST_PROXY", tc.trust), clk)
			for i, xff := range tc.xffs {
				r := a.do(t, req{method: http.MethodPost, path: "/api/sessions", body: `{"language":"python"}`,
					header: map[string]string{"X-Forwarded-For": xff}})
				if r.status != tc.want[i] {
					t.Errorf("request %d (X-Forwarded-For %s): %d, want %d", i+1, xff, r.status, tc.want[i])
				}
			}
		})
		clk.Advance(time.Minute) // a fresh window for the next case
	}
}

// TestRateLimitFailsOpen: when the counters cannot be read, requests are let
// through and counted as limiter errors.
func TestRateLimitFailsOpen(t *testing.T) {
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv().with("RATE_LIMIT_CREATE", "1/1m"), newClock(start))
	if err := in.JS.DeleteKeyValue(context.Background(), broker.BucketRateLimits); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if r := a.do(t, req{method: http.MethodPost, path: "/api/sessions", body: `{"language":"python"}`}); r.status != 201 {
			t.Fatalf("create %d without the limits bucket: %d %s", i+1, r.status, r.body)
		}
	}
	if got := counter(t, a.reg, "pairpad_api_rate_limiter_errors_total", ""); got != 3 {
		t.Errorf("limiter errors = %v, want 3", got)
	}
}
