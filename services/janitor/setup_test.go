package janitor

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// presenceTTL is the instances' heartbeat TTL in tests: the entries a test
// writes stand for users connected for the whole test, however slow the
// machine, so their instance's heartbeat must not expire under it. The test of expiry itself
// (TestDeadInstancePresenceExpires) sets a short one.
const presenceTTL = 10 * time.Minute

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one embedded NATS server with the provisioned layout.
type env struct {
	srv         *server.Server
	in          *broker.Infra
	presenceTTL time.Duration
}

func newEnv(t *testing.T) *env { return newEnvTTL(t, presenceTTL) }

// newEnvTTL is newEnv with another presence bucket TTL: entries that must
// stay for the whole of a test must not depend on how fast it runs.
func newEnvTTL(t *testing.T, ttl time.Duration) *env {
	t.Helper()
	e := &env{srv: natstest.Start(t), presenceTTL: ttl}
	e.in = e.provision(t)
	return e
}

// provision opens a connection of its own, as every process has.
func (e *env) provision(t *testing.T) *broker.Infra {
	t.Helper()
	nc := natstest.Connect(t, e.srv)
	in, err := broker.Provision(context.Background(), nc, broker.Layout{Replicas: 1, PresenceTTL: e.presenceTTL})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return in
}

// jopts tunes a test janitor.
type jopts struct {
	env   map[string]string // environment for config.Load
	now   func() time.Time  // nil: the real clock
	reg   *prometheus.Registry
	ready bool // wait for the first (start-up) sweep to finish
}

// newJanitor starts a janitor on its own connection. By default the loop
// sweeps once at start and then only every hour, so tests drive sweeps.
func newJanitor(t *testing.T, e *env, o jopts) *Service {
	t.Helper()
	vars := map[string]string{"SESSION_IDLE_TIMEOUT": "30m", "JANITOR_INTERVAL": "1h"}
	for k, v := range o.env {
		vars[k] = v
	}
	cfg, err := config.Load("janitor", func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if o.reg == nil {
		o.reg = prometheus.NewRegistry()
	}
	s, err := New(context.Background(), process.Deps{Config: cfg, Infra: e.provision(t), Metrics: o.reg, Now: o.now})
	if err != nil {
		t.Fatalf("new janitor: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if o.ready {
		waitFor(t, "first sweep", func() bool { _, ok := s.Last(); return ok })
	}
	return s
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seed creates a session whose last activity is at, with a document
// snapshot, an op log, and (when connected) one presence entry.
func seed(t *testing.T, in *broker.Infra, at time.Time, connected bool) session.Record {
	t.Helper()
	ctx := context.Background()
	r, err := session.NewStore(in.Sessions).Create(ctx, protocol.LangPython, at)
	if err != nil {
		t.Fatal(err)
	}
	putData(t, in, r.ID)
	if connected {
		putPresence(t, in, r.ID, "user-"+r.ID[:8], "conn-1")
	}
	return r
}

// seenEmpty records, as an earlier sweep would have, that the janitor saw
// nobody connected to session id at at.
func seenEmpty(t *testing.T, in *broker.Infra, id string, at time.Time) {
	t.Helper()
	st := session.NewStore(in.Sessions)
	r, rev, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MarkEmpty(context.Background(), r, rev, at); err != nil {
		t.Fatal(err)
	}
}

// putData writes a document snapshot and one op log message for id.
func putData(t *testing.T, in *broker.Infra, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := in.Documents.Put(ctx, id, []byte(`{"code":"x","version":1,"seq":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := in.JS.Publish(ctx, broker.OpsSubject(id), []byte(`["x"]`)); err != nil {
		t.Fatal(err)
	}
}

// putPresence writes one connection's presence entry, vouched for by the
// heartbeat of instance "test", which it renews; neither is renewed after.
func putPresence(t *testing.T, in *broker.Infra, sid, uid, conn string) string {
	t.Helper()
	return putEntry(t, in, sid, uid, conn, true)
}

// putEntry writes one connection's presence entry: vouched (with the
// heartbeat of its instance "test" renewed), or as an older instance
// writes it, without a heartbeat.
func putEntry(t *testing.T, in *broker.Infra, sid, uid, conn string, vouched bool) string {
	t.Helper()
	now := time.Now().UnixMilli()
	if vouched {
		if err := presence.PutBeat(context.Background(), in.PresenceInstances, presence.Beat{Instance: "test", At: now}); err != nil {
			t.Fatal(err)
		}
	}
	e := presence.Entry{SessionID: sid, UserID: uid, Name: "Ada", Color: protocol.UserColor(uid), ConnID: conn,
		Instance: "test", ConnectedAt: now, LastSeen: now, Vouched: vouched}
	b, _ := json.Marshal(e)
	if _, err := in.Presence.Put(context.Background(), e.Key(), b); err != nil {
		t.Fatal(err)
	}
	return e.Key()
}

// holdings reports, straight from JetStream, what is left of a session.
type holdings struct {
	record, document, opLog bool
	presence                int
}

func holdingsOf(t *testing.T, in *broker.Infra, id string) holdings {
	t.Helper()
	ctx := context.Background()
	var h holdings
	h.record = exists(t, in.Sessions, id)
	h.document = exists(t, in.Documents, id)
	info, err := in.Ops.Info(ctx, jetstream.WithSubjectFilter(broker.OpsSubject(id)))
	if err != nil {
		t.Fatal(err)
	}
	h.opLog = info.State.Subjects[broker.OpsSubject(id)] > 0
	keys, err := in.Presence.ListKeysFiltered(ctx, presence.Prefix(id)+">")
	if err != nil {
		t.Fatal(err)
	}
	for range keys.Keys() {
		h.presence++
	}
	return h
}

func exists(t *testing.T, kv jetstream.KeyValue, key string) bool {
	t.Helper()
	_, err := kv.Get(context.Background(), key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("get %s/%s: %v", kv.Bucket(), key, err)
	}
	return true
}

// metricValue returns the value of a counter or gauge (the sample count of a
// histogram) with the given labels, or -1 when the series does not exist.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}
