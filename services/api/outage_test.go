package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
)

// outageBound is how long any request may take while NATS is gone: the
// api's per-request deadline (5 s) plus slack for a loaded machine.
const outageBound = 9 * time.Second

// TestNATSOutage stops the NATS server under traffic and starts it again on
// the same port and store: meanwhile every route that needs NATS answers 503
// SERVICE_UNAVAILABLE with the protocol's body and Retry-After, promptly,
// never a 500 and never a hang; health stays 200 and readiness says 503;
// afterwards everything works again by itself, and the sessions created
// before the outage are still there.
func TestNATSOutage(t *testing.T) {
	port, dir := natstest.FreePort(t), t.TempDir()
	srv := natstest.Start(t, natstest.Options{Port: port, StoreDir: dir})
	// The production connection (reconnects forever), not the test helper's.
	nc, err := broker.Connect(srv.ClientURL(), broker.ConnOptions{Name: "outage-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, nc, broker.Layout{Replicas: 1, PresenceTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, in, baseEnv(), newClock(start))
	var before []protocol.Session
	for _, lang := range []string{"python", "typescript", "javascript"} {
		before = append(before, a.createSession(t, lang))
	}
	tr := startTraffic(t, a, before[0].ID)

	srv.Shutdown()
	srv.WaitForShutdown()
	waitFor(t, "ready to answer 503", func() bool {
		return a.do(t, req{method: http.MethodGet, path: "/api/ready"}).status == http.StatusServiceUnavailable
	})
	if r := a.do(t, req{method: http.MethodGet, path: "/api/health"}); r.status != http.StatusOK {
		t.Errorf("health during the outage: %d %s", r.status, r.body)
	}
	id := before[0].ID
	admin := bearerHeader(adminToken)
	for _, rq := range []req{
		{method: http.MethodPost, path: "/api/sessions", body: `{"language":"python"}`},
		{method: http.MethodGet, path: "/api/sessions/" + id},
		{method: http.MethodPost, path: "/api/sessions/" + id + "/join", body: `{"userId":"u1","userName":"Ann"}`},
		{method: http.MethodGet, path: "/api/sessions", header: admin},
		{method: http.MethodDelete, path: "/api/sessions/" + id, header: admin},
		{method: http.MethodGet, path: "/api/sessions/" + id + "/history", header: admin},
		{method: http.MethodGet, path: "/api/sessions/" + id + "/code", header: admin},
		{method: http.MethodGet, path: "/api/sessions/" + id + "/notes", header: admin},
		{method: http.MethodPost, path: "/api/sessions/" + id + "/end", header: admin},
	} {
		began := time.Now()
		r := a.do(t, rq)
		took := time.Since(began)
		b := r.errorBody(t)
		if r.status != http.StatusServiceUnavailable || b.Error != protocol.CodeServiceUnavailable || r.header.Get("Retry-After") != "1" {
			t.Errorf("%s %s during the outage: %d %s (Retry-After %q)", rq.method, rq.path, r.status, r.body, r.header.Get("Retry-After"))
		}
		if took > outageBound {
			t.Errorf("%s %s took %s during the outage", rq.method, rq.path, took)
		}
	}
	// Requests in flight when NATS died wait for their deadline; later ones fail fast.
	waitFor(t, "the traffic to see 503s", func() bool { return tr.count(http.StatusServiceUnavailable) > 0 })

	natstest.Start(t, natstest.Options{Port: port, StoreDir: dir})
	waitFor(t, "requests to succeed again", func() bool {
		return a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + id}).status == http.StatusOK
	})
	for _, s := range before {
		var got protocol.Session
		r := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID})
		r.json(t, &got)
		if r.status != http.StatusOK || got.ID != s.ID || got.Language != s.Language {
			t.Errorf("session %s after the outage: %d %s", s.ID, r.status, r.body)
		}
	}
	if r := a.do(t, req{method: http.MethodPost, path: "/api/sessions/" + id + "/join", body: `{"userId":"u1","userName":"Ann"}`}); r.status != http.StatusOK {
		t.Errorf("join after the outage: %d %s", r.status, r.body)
	}
	a.createSession(t, "python")
	var list protocol.SessionList
	r := a.do(t, req{method: http.MethodGet, path: "/api/sessions", header: admin})
	r.json(t, &list)
	if r.status != http.StatusOK || list.Total < len(before)+1 {
		t.Errorf("list after the outage: %d %s", r.status, r.body)
	}
	if r := a.do(t, req{method: http.MethodGet, path: "/api/ready"}); r.status != http.StatusOK {
		t.Errorf("ready after the outage: %d %s", r.status, r.body)
	}
	okBefore := tr.count(http.StatusOK)
	waitFor(t, "the traffic to succeed again", func() bool { return tr.count(http.StatusOK) > okBefore })
	tr.stop()
	t.Logf("traffic statuses: %v", tr.snapshot())
	for _, p := range tr.problems() {
		t.Error(p)
	}
}

// traffic keeps requests flowing while NATS goes away and comes back, and
// records what they got: the statuses, and anything that breaks the protocol.
type traffic struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	counts map[int]int
	bad    []string
}

// startTraffic runs two clients until stop: one reads and joins a session,
// one creates sessions.
func startTraffic(t *testing.T, a *testAPI, id string) *traffic {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{cancel: cancel, counts: map[int]int{}}
	t.Cleanup(tr.stop)
	loops := [][]req{
		{
			{method: http.MethodGet, path: "/api/sessions/" + id},
			{method: http.MethodPost, path: "/api/sessions/" + id + "/join", body: `{"userId":"t1","userName":"Traffic"}`},
		},
		{{method: http.MethodPost, path: "/api/sessions", body: `{"language":"javascript"}`}},
	}
	for _, loop := range loops {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				tr.send(ctx, a, loop[i%len(loop)])
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	return tr
}

// send is one request; it must answer 2xx or 503 SERVICE_UNAVAILABLE with
// the protocol's body and Retry-After, as openapi.yaml says, within outageBound.
func (tr *traffic) send(ctx context.Context, a *testAPI, rq req) {
	hr, err := http.NewRequestWithContext(ctx, rq.method, a.srv.URL+rq.path, strings.NewReader(rq.body))
	if err != nil {
		tr.problem("%v", err)
		return
	}
	hr.Header.Set("Content-Type", "application/json")
	began := time.Now()
	resp, err := a.srv.Client().Do(hr)
	if err != nil {
		if ctx.Err() == nil {
			tr.problem("%s %s: %v", rq.method, rq.path, err)
		}
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(began)
	tr.mu.Lock()
	tr.counts[resp.StatusCode]++
	tr.mu.Unlock()
	switch {
	case took > outageBound:
		tr.problem("%s %s took %s", rq.method, rq.path, took)
	case resp.StatusCode >= 300 && resp.StatusCode != http.StatusServiceUnavailable:
		tr.problem("%s %s: %d %s", rq.method, rq.path, resp.StatusCode, body)
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
		tr.problem("%s %s: 503 without Retry-After", rq.method, rq.path)
	}
	if err := a.spec.verify(hr, response{status: resp.StatusCode, header: resp.Header, body: body}); err != nil {
		tr.problem("%s %s -> %d does not match openapi.yaml: %v", rq.method, rq.path, resp.StatusCode, err)
	}
}

func (tr *traffic) problem(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.bad) < 20 {
		tr.bad = append(tr.bad, fmt.Sprintf(format, args...))
	}
}

func (tr *traffic) count(status int) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.counts[status]
}

func (tr *traffic) snapshot() map[int]int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[int]int{}
	for k, v := range tr.counts {
		out[k] = v
	}
	return out
}

func (tr *traffic) problems() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.bad...)
}

// stop ends the clients and waits for them; it is safe to call twice.
func (tr *traffic) stop() {
	tr.cancel()
	tr.wg.Wait()
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
