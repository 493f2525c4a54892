package api_test

import (
	"net/http"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

func TestUnknownRoutesAndMethods(t *testing.T) {
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	s := a.createSession(t, "python")

	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/api/nope", 404, ""},
		{http.MethodGet, "/", 404, ""},
		{http.MethodGet, "/api/sessions/", 404, ""},
		{http.MethodGet, "/api//sessions", 404, ""},
		{http.MethodGet, "/api/sessions/" + s.ID + "/join/extra", 404, ""},
		{http.MethodPost, "/api/nope", 404, ""},
		{http.MethodGet, "/api/sessions/a%2Fb", 404, ""}, // an escaped slash separates segments
		{http.MethodGet, "/api/./sessions", 404, ""},     // never a redirect to the clean path
		{http.MethodPut, "/api/sessions", 405, "GET, OPTIONS, POST"},
		{http.MethodDelete, "/api/sessions", 405, "GET, OPTIONS, POST"},
		{http.MethodPost, "/api/sessions/" + s.ID, 405, "DELETE, GET, OPTIONS"},
		{http.MethodGet, "/api/sessions/" + s.ID + "/join", 405, "OPTIONS, POST"},
		{http.MethodPost, "/api/sessions/" + s.ID + "/history", 405, "GET, OPTIONS"},
		{http.MethodPost, "/api/health", 405, "GET, OPTIONS"},
		{http.MethodPatch, "/api/ready", 405, "GET, OPTIONS"},
		{http.MethodDelete, "/api/openapi.yaml", 405, "GET, OPTIONS"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := a.do(t, req{method: tc.method, path: tc.path})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			b := r.errorBody(t)
			want := protocol.CodeNotFound
			if tc.status == 405 {
				want = protocol.CodeMethodNotAllowed
			}
			if b.Error != want || r.header.Get("Allow") != tc.allow {
				t.Errorf("code %s Allow %q, want %s %q", b.Error, r.header.Get("Allow"), want, tc.allow)
			}
		})
	}
}

// TestRouteMetrics: the process middleware labels requests with the api's
// route templates, never raw paths.
func TestRouteMetrics(t *testing.T) {
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	s := a.createSession(t, "python")
	a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID})
	a.do(t, req{method: http.MethodGet, path: "/api/sessions/0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11"})
	a.do(t, req{method: http.MethodGet, path: "/api/whatever"})
	a.do(t, req{method: http.MethodPut, path: "/api/sessions/" + s.ID})

	tests := []struct {
		labels string
		want   float64
	}{
		{"route=/api/sessions,method=POST,status=201", 1},
		{"route=/api/sessions/{sessionId},method=GET,status=200", 1},
		{"route=/api/sessions/{sessionId},method=GET,status=404", 1},
		{"route=/api/sessions/{sessionId},method=PUT,status=405", 1},
		{"route=unmatched,method=GET,status=404", 1},
		{"route=/api/sessions/" + s.ID, 0},
	}
	for _, tc := range tests {
		if got := counter(t, a.reg, "pairpad_http_requests_total", tc.labels); got != tc.want {
			t.Errorf("requests_total{%s} = %v, want %v", tc.labels, got, tc.want)
		}
	}
}
