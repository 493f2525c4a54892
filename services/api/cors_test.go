package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

func TestCORS(t *testing.T) {
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	s := a.createSession(t, "python")

	t.Run("actual requests", func(t *testing.T) {
		tests := []struct {
			name, method, path, origin string
			allowed                    bool
		}{
			{"allowed origin", http.MethodGet, "/api/sessions/" + s.ID, frontend, true},
			{"second allowed origin", http.MethodGet, "/api/sessions/" + s.ID, "https://app.example.com", true},
			{"allowed origin on an error", http.MethodGet, "/api/sessions/nope", frontend, true},
			{"allowed origin on an unknown route", http.MethodGet, "/api/nope", frontend, true},
			{"other origin", http.MethodGet, "/api/sessions/" + s.ID, "https://evil.example.com", false},
			{"origin with a path is not an origin we know", http.MethodGet, "/api/sessions/" + s.ID, frontend + "/", false},
			{"scheme matters", http.MethodGet, "/api/sessions/" + s.ID, "https://localhost:3000", false},
			{"no origin", http.MethodGet, "/api/sessions/" + s.ID, "", false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := map[string]string{}
				if tc.origin != "" {
					h["Origin"] = tc.origin
				}
				r := a.do(t, req{method: tc.method, path: tc.path, header: h})
				got := r.header.Get("Access-Control-Allow-Origin")
				if tc.allowed && got != tc.origin || !tc.allowed && got != "" {
					t.Errorf("Access-Control-Allow-Origin %q for origin %q", got, tc.origin)
				}
				if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
					t.Errorf("Vary %v lacks Origin", r.header.Values("Vary"))
				}
				if tc.allowed && !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Retry-After") {
					t.Errorf("Retry-After not exposed: %q", r.header.Get("Access-Control-Expose-Headers"))
				}
			})
		}
	})

	t.Run("preflight", func(t *testing.T) {
		tests := []struct {
			name, path, origin string
			status             int
			methods            string
		}{
			{"allowed create", "/api/sessions", frontend, 204, "GET, OPTIONS, POST"},
			{"allowed join", "/api/sessions/" + s.ID + "/join", frontend, 204, "OPTIONS, POST"},
			{"allowed history", "/api/sessions/" + s.ID + "/history", "https://app.example.com", 204, "GET, OPTIONS"},
			{"denied origin", "/api/sessions", "https://evil.example.com", 403, ""},
			{"unknown path", "/api/nope", frontend, 404, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := a.do(t, req{method: http.MethodOptions, path: tc.path, header: map[string]string{
					"Origin": tc.origin, "Access-Control-Request-Method": "POST",
					"Access-Control-Request-Headers": "content-type,authorization",
				}})
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				switch tc.status {
				case 204:
					want := map[string]string{
						"Access-Control-Allow-Origin":  tc.origin,
						"Access-Control-Allow-Methods": tc.methods,
						"Access-Control-Allow-Headers": "Content-Type, Authorization",
						"Allow":                        tc.methods,
					}
					for k, v := range want {
						if got := r.header.Get(k); got != v {
							t.Errorf("%s = %q, want %q", k, got, v)
						}
					}
				case 403:
					if b := r.errorBody(t); b.Error != protocol.CodeOriginNotAllowed || r.header.Get("Access-Control-Allow-Origin") != "" {
						t.Errorf("body %+v, ACAO %q", b, r.header.Get("Access-Control-Allow-Origin"))
					}
				case 404:
					if b := r.errorBody(t); b.Error != protocol.CodeNotFound {
						t.Errorf("body %+v", b)
					}
				}
			})
		}
	})

	t.Run("plain OPTIONS lists the methods", func(t *testing.T) {
		r := a.do(t, req{method: http.MethodOptions, path: "/api/sessions/" + s.ID})
		if r.status != 204 || r.header.Get("Allow") != "DELETE, GET, OPTIONS" || r.header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("got %d Allow %q headers %v", r.status, r.header.Get("Allow"), r.header)
		}
	})
}
