package relay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
	"github.com/pairpad/pairpad/bench/relay"
)

func start(t *testing.T) string {
	t.Helper()
	rs := relay.New()
	srv := httptest.NewServer(rs.Handler())
	t.Cleanup(func() {
		rs.Close()
		srv.Close()
	})
	return srv.URL
}

// clients are the generator's options for the relay at base: Socket.IO,
// in deltaFormat delta.
func clients(base, delta string) loadgen.Options {
	return loadgen.Options{APIURL: base, WSURLs: []string{"ws" + strings.TrimPrefix(base, "http")},
		Framing: loadgen.FramingSocketIO, DeltaFormat: delta, Concurrency: 8}
}

// TestInterviewLight drives the relay with the load generator's own
// Socket.IO clients: every update and cursor move reaches every other
// member, every update is acknowledged.
func TestInterviewLight(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := loadgen.InterviewLight(ctx, clients(start(t), "fullCode"),
		loadgen.InterviewParams{Sessions: 3, Users: 3, Rates: loadgen.Rates{Code: 5, Cursor: 5},
			Duration: loadgen.Duration(time.Second), Warmup: loadgen.Duration(200 * time.Millisecond), Settle: loadgen.Duration(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Failures) > 0 {
		t.Fatalf("failures: %v", r.Failures)
	}
	tr := r.Traffic
	if tr.Sent["code-update"] == 0 || tr.Sent["cursor-update"] == 0 || tr.Delivered != tr.Expected {
		t.Fatalf("traffic = %+v", tr)
	}
	// Each code-update reaches the two cursor movers; each cursor move the
	// typist and the other mover.
	if got, want := tr.Latency["code-update"].Count, 2*tr.Sent["code-update"]; got != want {
		t.Errorf("code-update receipts = %d, want %d", got, want)
	}
	if got := tr.Latency["code-ack"].Count; got != tr.Sent["code-update"] {
		t.Errorf("code-acks = %d, want %d", got, tr.Sent["code-update"])
	}
}

// TestCrowdOps: many users typing at once in deltaFormat=ops, so their
// updates are concurrent; the relay transforms each over what it applied
// since its base, and every client ends with the relay's text.
func TestCrowdOps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := loadgen.Crowd(ctx, clients(start(t), "ops"),
		loadgen.InterviewParams{Users: 12, Rates: loadgen.Rates{Code: 10, Cursor: 2},
			Duration: loadgen.Duration(2 * time.Second), Warmup: loadgen.Duration(200 * time.Millisecond), Settle: loadgen.Duration(20 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Failures) > 0 {
		t.Fatalf("failures: %v", r.Failures)
	}
	c := r.Convergence
	if c == nil || !c.Converged || c.FinalVersion == 0 || c.DocBytes == 0 {
		t.Fatalf("convergence = %+v", c)
	}
	if got := r.Traffic.Latency["code-ack"].Count; got != r.Traffic.Sent["code-update"] {
		t.Errorf("code-acks = %d, want %d", got, r.Traffic.Sent["code-update"])
	}
}

// TestRelaysSideBySide: with several relays (idle50k's floor) a session is
// created on one and each session's members dial one relay together
// (loadgen's Colocate); the relay opens the room of a session it did not
// create, and every update and cursor move arrives.
func TestRelaysSideBySide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := start(t), start(t)
	opts := clients(a, "fullCode")
	opts.WSURLs = append(opts.WSURLs, "ws"+strings.TrimPrefix(b, "http"))
	opts.Colocate = true
	r, err := loadgen.InterviewLight(ctx, opts,
		loadgen.InterviewParams{Sessions: 4, Users: 2, Rates: loadgen.Rates{Code: 5, Cursor: 5},
			Duration: loadgen.Duration(time.Second), Warmup: loadgen.Duration(200 * time.Millisecond), Settle: loadgen.Duration(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Failures) > 0 || r.Traffic.Delivered != r.Traffic.Expected || r.Traffic.Latency["cursor-update"].Count == 0 {
		t.Fatalf("failures %v, traffic %+v", r.Failures, r.Traffic)
	}
}

func TestRefusals(t *testing.T) {
	base := start(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{http.MethodPost, "/api/sessions", "not json", http.StatusBadRequest},
		{http.MethodPost, "/api/sessions/nope/join", `{"userId":"a","userName":"A"}`, http.StatusNotFound},
		{http.MethodGet, "/socket.io/?EIO=3&transport=polling", "", http.StatusBadRequest},
		{http.MethodGet, "/socket.io/?EIO=4&transport=websocket", "", http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s = %d %s, want %d JSON", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status)
		}
	}
}

// TestResume: a connection resuming from a version the relay cannot replay
// gets connected, then sync.
func TestResume(t *testing.T) {
	base := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api := loadgen.NewAPI(base, 1, nil)
	defer api.Close()
	s, err := api.CreateSession(ctx, "javascript")
	if err != nil {
		t.Fatal(err)
	}
	c, ev, err := loadgen.Dial(ctx, loadgen.NewDialer(nil, 5*time.Second), loadgen.NewClock(), loadgen.ConnConfig{
		URL: "ws" + strings.TrimPrefix(base, "http"), Framing: loadgen.FramingSocketIO, SessionID: s.ID,
		UserID: "u1", UserName: "U", Resume: true, Since: 3})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "connected" {
		t.Fatalf("first event = %+v", ev)
	}
	got := make(chan loadgen.Event, 4)
	c.Run(func(e loadgen.Event) {
		select {
		case got <- e:
		default: // never block the reader: Close waits for it
		}
	})
	defer c.Close()
	select {
	case e := <-got:
		if e.Type != "sync" || !strings.Contains(string(e.Payload), `"version":0`) {
			t.Errorf("after connected = %s %s, want sync at version 0", e.Type, e.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no sync after a resume from a version the relay does not have")
	}
}
