package realtime_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/services/realtime"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/process/processtest"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
	"github.com/pairpad/pairpad/shared/token"
)

const (
	testSecret  = "test-secret"
	testOrigin  = "http://frontend.example"
	waitTimeout = 10 * time.Second
)

// testEnv is what every test of this package runs on: settings short
// enough to see timeouts within a test.
func testEnv() map[string]string {
	return map[string]string{
		"TOKEN_SECRET":         testSecret,
		"PRESENCE_TIMEOUT":     "3s",
		"SESSION_IDLE_TIMEOUT": "1m",
		"WS_HANDSHAKE_TIMEOUT": "3s",
		"FRONTEND_URL":         testOrigin,
		"SESSION_MAX_USERS":    "3",
	}
}

// forReaders runs test once per WS_READER (in parallel): the epoll reader,
// the default, and the goroutine reader it falls back to, for the tests
// of what a connection's reader decides (leave reasons, keepalive, limits).
func forReaders(t *testing.T, test func(t *testing.T, reader string)) {
	for _, reader := range []string{config.ReaderEpoll, config.ReaderGoroutine} {
		t.Run(reader, func(t *testing.T) {
			t.Parallel()
			test(t, reader)
		})
	}
}

// cluster is one embedded NATS server that instances share.
type cluster struct {
	t   testing.TB
	srv *server.Server
	in  *broker.Infra // a connection of the test itself, for setup and checks
	// opsMaxBytes is the SESSION_OPS stream's MaxBytes its instances
	// provision; 0: the default.
	opsMaxBytes int64
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	srv := natstest.Start(t)
	return &cluster{t: t, srv: srv, in: provision(t, natstest.Connect(t, srv), 3*time.Second)}
}

func provision(t testing.TB, nc *nats.Conn, presenceTTL time.Duration, opsMaxBytes ...int64) *broker.Infra {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	l := broker.Layout{Replicas: 1, PresenceTTL: presenceTTL}
	if len(opsMaxBytes) > 0 {
		l.OpsMaxBytes = opsMaxBytes[0]
	}
	in, err := broker.Provision(ctx, nc, l)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return in
}

// instance is one realtime.Service behind its own httptest server, on its
// own NATS connection (so a test can cut it off).
type instance struct {
	svc  *realtime.Service
	srv  *httptest.Server
	nc   *nats.Conn
	reg  *prometheus.Registry
	url  string              // ws://host:port
	logs *processtest.Buffer // the instance's log, at debug level
}

type instanceOpts struct {
	env map[string]string // overrides of testEnv
	now func() time.Time
	// sharedPeers builds the instance without Deps.Dial: its peer events
	// share its one connection, which echoes them back.
	sharedPeers bool
	// natsURL is where the instance's connection goes (a natstest.Proxy);
	// empty: the cluster's server.
	natsURL string
}

func (c *cluster) start(o ...instanceOpts) *instance {
	t := c.t
	t.Helper()
	var opt instanceOpts
	if len(o) > 0 {
		opt = o[0]
	}
	env := testEnv()
	for k, v := range opt.env {
		env[k] = v
	}
	cfg, err := config.Load("realtime", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	url := c.srv.ClientURL()
	if opt.natsURL != "" {
		url = opt.natsURL
	}
	nopts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond), nats.IgnoreDiscoveredServers()}
	if cfg.NATSFlushDelay > 0 {
		// As process.Run dials the main connection (NATS_FLUSH_DELAY).
		nopts = append(nopts, broker.BatchedWrites(cfg.NATSFlushDelay))
	}
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	in := provision(t, nc, cfg.PresenceTimeout, c.opsMaxBytes)
	reg := prometheus.NewRegistry()
	now := opt.now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	logs := &processtest.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("instance log:\n%s", logs.String())
		}
	})
	// Dial as process.Run does: the instance's peer events get their own
	// NoEcho connection.
	dial := func(o broker.ConnOptions) (*nats.Conn, error) {
		o.Log = log
		return broker.Connect(c.srv.ClientURL(), o)
	}
	deps := process.Deps{Config: cfg, Infra: in, Log: log, Metrics: reg, Now: now, Dial: dial}
	if opt.sharedPeers {
		deps.Dial = nil
	}
	svc, err := realtime.New(ctx, deps)
	if err != nil {
		nc.Close()
		t.Fatalf("realtime.New: %v", err)
	}
	srv := httptest.NewServer(svc.Handler())
	inst := &instance{svc: svc, srv: srv, nc: nc, reg: reg, url: "ws" + strings.TrimPrefix(srv.URL, "http"), logs: logs}
	t.Cleanup(func() { inst.stop(t) })
	return inst
}

// stop shuts the instance down as the process would; it is idempotent.
func (i *instance) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := i.svc.Shutdown(ctx); err != nil && i.nc.IsConnected() {
		t.Errorf("shutdown: %v", err)
	}
	i.srv.Close()
	i.nc.Close()
}

// newSession creates a session record as the api does.
func (c *cluster) newSession(lang protocol.Language) session.Record {
	c.t.Helper()
	r, err := session.NewStore(c.in.Sessions).Create(context.Background(), lang, time.Now())
	if err != nil {
		c.t.Fatalf("create session: %v", err)
	}
	return r
}

func joinToken(sid, uid, name string) string { return roleToken(sid, uid, name, "") }

// roleToken is the join token of a user with a role (empty: a token from
// before roles, which is a candidate's).
func roleToken(sid, uid, name string, role protocol.Role) string {
	return token.Sign([]byte(testSecret), token.Claims{SessionID: sid, UserID: uid, UserName: name, Role: role,
		Expiry: time.Now().Add(time.Hour).Unix()})
}

// user is who a test client connects as.
type user struct {
	sid, id, name string
	role          protocol.Role
	query         url.Values // extra query parameters (since, deltaFormat, ...)
	header        http.Header
	noToken       bool
}

func (u user) values() url.Values {
	q := url.Values{}
	if u.sid != "" {
		q.Set("sessionId", u.sid)
	}
	if u.id != "" {
		q.Set("userId", u.id)
	}
	if u.name != "" {
		q.Set("userName", u.name)
	}
	if !u.noToken {
		q.Set("token", roleToken(u.sid, u.id, u.name, u.role))
	}
	for k, vs := range u.query {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	return q
}

// within polls cond until it holds or the deadline passes.
func within(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decode unmarshals a payload, failing the test on error.
func decode[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// clock is a settable clock for tests that must not depend on speed.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// dialRaw dials a WebSocket without any client logic.
func dialRaw(t testing.TB, rawURL string, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	return d.Dial(rawURL, h)
}
