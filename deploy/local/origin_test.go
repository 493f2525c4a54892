package local_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	local "github.com/pairpad/pairpad/deploy/local"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestOrigins runs one table of Origin headers against both entry points
// that check them, on the all-in-one (the api and realtime on one host, as
// the demo page uses them): real CORS requests to the api and real
// WebSocket handshakes to realtime. Both must agree on every row.
func TestOrigins(t *testing.T) {
	srv := startAllInOne(t, "http://Frontend.Example:8080, https://app.example:443/")
	self := strings.TrimPrefix(srv.URL, "http://") // 127.0.0.1:port

	tests := []struct {
		name, origin string
		allowed      bool
	}{
		{"listed", "http://frontend.example:8080", true},
		{"listed, other case", "HTTP://FRONTEND.EXAMPLE:8080", true},
		{"listed with its default port written out", "https://app.example:443", true},
		{"listed without its default port", "https://App.Example", true},
		{"same origin: the page this host serves", "http://" + self, true},
		{"listed host, other port", "http://frontend.example:8081", false},
		{"listed host, other scheme", "https://frontend.example:8080", false},
		{"same host, other scheme (TLS ends at a proxy)", "https://" + self, true},
		{"a subdomain of a listed host", "http://evil.frontend.example:8080", false},
		{"a listed origin as a prefix", "http://frontend.example:8080.evil.test", false},
		{"opaque origin", "null", false},
		{"with a path", "http://frontend.example:8080/app", false},
		{"not a URL", "frontend.example", false},
		{"unlisted", "http://evil.test", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("api CORS", func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/health", nil)
				req.Header.Set("Origin", tc.origin)
				resp := do(t, req)
				if got := resp.Header.Get("Access-Control-Allow-Origin"); (got != "") != tc.allowed || (tc.allowed && got != tc.origin) {
					t.Errorf("Access-Control-Allow-Origin %q, want allowed=%v", got, tc.allowed)
				}

				pre, _ := http.NewRequest(http.MethodOptions, srv.URL+"/api/sessions", nil)
				pre.Header.Set("Origin", tc.origin)
				pre.Header.Set("Access-Control-Request-Method", http.MethodPost)
				resp = do(t, pre)
				if want := map[bool]int{true: http.StatusNoContent, false: http.StatusForbidden}[tc.allowed]; resp.StatusCode != want {
					t.Errorf("preflight: %d, want %d", resp.StatusCode, want)
				}
			})
			t.Run("realtime handshake", func(t *testing.T) {
				// No session and no token: an allowed origin gets past the
				// origin check to the next refusal, a refused one stops there.
				u := "ws://" + self + "/ws?" + url.Values{"sessionId": {"00000000-0000-4000-8000-000000000000"}}.Encode()
				d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
				c, resp, err := d.Dial(u, http.Header{"Origin": {tc.origin}})
				if err == nil {
					c.Close()
					t.Fatal("the handshake without a token succeeded")
				}
				if resp == nil {
					t.Fatalf("handshake: %v", err)
				}
				defer resp.Body.Close()
				var body protocol.ErrorBody
				b, _ := io.ReadAll(resp.Body)
				if err := json.Unmarshal(b, &body); err != nil {
					t.Fatalf("refusal %d %q: %v", resp.StatusCode, b, err)
				}
				if refused := body.Error == protocol.CodeOriginNotAllowed; refused == tc.allowed {
					t.Errorf("refused with %d %s, want allowed=%v", resp.StatusCode, body.Error, tc.allowed)
				}
				if !tc.allowed && resp.StatusCode != http.StatusForbidden {
					t.Errorf("status %d, want 403", resp.StatusCode)
				}
			})
		})
	}
}

// TestOriginsRefuseAny: FRONTEND_URL "*" stops the process at start with a
// message that says what to write instead.
func TestOriginsRefuseAny(t *testing.T) {
	for _, v := range []string{"*", "http://a.example, *", "a.example"} {
		_, err := config.Load("local", func(k string) string { return map[string]string{"FRONTEND_URL": v}[k] })
		if err == nil || !strings.Contains(err.Error(), "FRONTEND_URL") || !strings.Contains(err.Error(), "scheme://host") {
			t.Errorf("FRONTEND_URL=%q: %v", v, err)
		}
	}
}

// startAllInOne serves the all-in-one on an embedded NATS server.
func startAllInOne(t *testing.T, frontend string) *httptest.Server {
	t.Helper()
	env := map[string]string{"FRONTEND_URL": frontend, "TOKEN_SECRET": "origin-test"}
	cfg, err := config.Load("local", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc := natstest.Connect(t, natstest.Start(t))
	in, err := broker.Provision(ctx, nc, broker.Layout{Replicas: 1, PresenceTTL: cfg.PresenceTimeout})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := local.New(ctx, process.Deps{Config: cfg, Infra: in, Log: slog.New(slog.DiscardHandler),
		Metrics: prometheus.NewRegistry(), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return srv
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
