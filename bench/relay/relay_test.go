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

// TestInterviewLight drives the relay with the load generator's own
// Socket.IO clients: every update and cursor move reaches every other
// member, every update is acknowledged.
func TestInterviewLight(t *testing.T) {
	base := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := loadgen.InterviewLight(ctx, loadgen.Options{APIURL: base, WSURLs: []string{"ws" + strings.TrimPrefix(base, "http")},
		Framing: loadgen.FramingSocketIO, DeltaFormat: "fullCode", Concurrency: 4},
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

func TestRefusals(t *testing.T) {
	base := start(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{http.MethodPost, "/api/sessions", "not json", http.StatusBadRequest},
		{http.MethodPost, "/api/sessions/nope/join", `{"userId":"a","userName":"A"}`, http.StatusNotFound},
		{http.MethodGet, "/socket.io/?EIO=3&transport=polling", "", http.StatusBadRequest},
		{http.MethodGet, "/socket.io/?EIO=4&transport=websocket&sessionId=nope", "", http.StatusNotFound},
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
