package janitor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/natstest"
)

// request asks subject through a plain NATS client, as `nats req` would.
func request(t *testing.T, nc *nats.Conn, subject string) *nats.Msg {
	t.Helper()
	m, err := nc.Request(subject, nil, 10*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	return m
}

func TestMicroEndpoints(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	reg := prometheus.NewRegistry()
	newJanitor(t, e, jopts{now: clk.Now, reg: reg, ready: true})
	nc := natstest.Connect(t, e.srv)

	idle := seed(t, e.in, clk.Now(), false)
	seenEmpty(t, e.in, idle.ID, clk.Now())
	clk.Advance(time.Hour)

	m := request(t, nc, "pairpad.janitor.sweep")
	if h := m.Header.Get(micro.ErrorHeader); h != "" {
		t.Fatalf("sweep answered error %q", h)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &raw); err != nil {
		t.Fatalf("sweep answer %s: %v", m.Data, err)
	}
	for _, k := range []string{"expired", "purged", "orphans", "durationMs", "at"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("sweep answer %s lacks %q", m.Data, k)
		}
	}
	var rep struct {
		Expired    []string       `json:"expired"`
		Purged     []string       `json:"purged"`
		Orphans    map[string]int `json:"orphans"`
		DurationMs *int64         `json:"durationMs"`
		At         string         `json:"at"`
	}
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Expired, []string{idle.ID}) || rep.Purged == nil || len(rep.Purged) != 0 {
		t.Errorf("sweep answer %s: want expired [%s] and purged []", m.Data, idle.ID)
	}
	for _, k := range []string{"documents", "opLogs", "presence"} {
		if n, ok := rep.Orphans[k]; !ok || n != 0 {
			t.Errorf("orphans.%s: got %d (present %v), want 0", k, n, ok)
		}
	}
	if at, err := time.Parse(time.RFC3339, rep.At); err != nil || !at.Equal(clk.Now()) {
		t.Errorf("at: got %q (%v), want %s", rep.At, err, clk.Now().Format(time.RFC3339Nano))
	}
	if rep.DurationMs == nil || *rep.DurationMs < 0 {
		t.Errorf("durationMs: got %v", rep.DurationMs)
	}

	// status answers the same report.
	if s := request(t, nc, "pairpad.janitor.status"); string(s.Data) != string(m.Data) {
		t.Errorf("status: got %s, want the last sweep %s", s.Data, m.Data)
	}

	// nats micro info / stats see the service, its endpoints and our stats.
	var info micro.Info
	if err := json.Unmarshal(request(t, nc, "$SRV.INFO.janitor").Data, &info); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, ep := range info.Endpoints {
		subjects = append(subjects, ep.Subject)
	}
	slices.Sort(subjects)
	if info.Name != "janitor" || !slices.Equal(subjects, []string{"pairpad.janitor.status", "pairpad.janitor.sweep"}) {
		t.Errorf("info: got %s with %v", info.Name, subjects)
	}
	var stats micro.Stats
	if err := json.Unmarshal(request(t, nc, "$SRV.STATS.janitor").Data, &stats); err != nil {
		t.Fatal(err)
	}
	if len(stats.Endpoints) == 0 {
		t.Fatal("stats: no endpoints")
	}
	var data Stats
	if err := json.Unmarshal(stats.Endpoints[0].Data, &data); err != nil {
		t.Fatalf("stats data %s: %v", stats.Endpoints[0].Data, err)
	}
	if data.SessionsExpired != 1 || data.Sweeps != 2 || data.LastSweepAt == nil || !data.LastSweepAt.Equal(clk.Now()) {
		t.Errorf("stats data: got %s", stats.Endpoints[0].Data)
	}

	metrics := []struct {
		name   string
		labels map[string]string
		want   float64 // -2: any value present
	}{
		{"pairpad_janitor_sessions_expired_total", nil, 1},
		{"pairpad_janitor_sessions_purged_total", nil, 0},
		{"pairpad_janitor_orphans_removed_total", map[string]string{"kind": "document"}, 0},
		{"pairpad_janitor_orphans_removed_total", map[string]string{"kind": "op_log"}, 0},
		{"pairpad_janitor_orphans_removed_total", map[string]string{"kind": "presence"}, 0},
		{"pairpad_janitor_sweep_duration_seconds", nil, 2}, // the start-up sweep and ours
		{"pairpad_janitor_last_sweep_timestamp_seconds", nil, float64(clk.Now().UnixNano()) / 1e9},
		{"pairpad_janitor_sweep_errors_total", nil, 0},
	}
	for _, c := range metrics {
		if got := metricValue(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v: got %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t)
	j := newJanitor(t, e, jopts{ready: true})
	nc := natstest.Connect(t, e.srv)
	request(t, nc, "pairpad.janitor.status")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	select {
	case <-j.loopDone:
	default:
		t.Error("the sweep loop is still running after Shutdown")
	}
	if !j.micro.Stopped() {
		t.Error("the micro service is still running after Shutdown")
	}
	if _, err := nc.Request("pairpad.janitor.status", nil, 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("status after shutdown: got %v, want no responders", err)
	}
	if err := j.Shutdown(ctx); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestHandlerServesNothing(t *testing.T) {
	e := newEnv(t)
	j := newJanitor(t, e, jopts{})
	rec := httptest.NewRecorder()
	j.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/anything", nil))
	var body struct {
		Error      string `json:"error"`
		StatusCode int    `json:"statusCode"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusNotFound ||
		body.Error != "NOT_FOUND" || body.StatusCode != http.StatusNotFound {
		t.Errorf("got %d %s, want 404 NOT_FOUND", rec.Code, rec.Body)
	}
}

// TestFailedSweepIsReported breaks a step for real (the documents bucket is
// gone) and checks the sweep still does the rest and says what failed.
func TestFailedSweepIsReported(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	reg := prometheus.NewRegistry()
	newJanitor(t, e, jopts{now: clk.Now, reg: reg, ready: true})
	nc := natstest.Connect(t, e.srv)
	ctx := context.Background()

	idle := seed(t, e.in, clk.Now(), false)
	seenEmpty(t, e.in, idle.ID, clk.Now())
	if err := e.in.JS.DeleteKeyValue(ctx, "documents"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)

	m := request(t, nc, "pairpad.janitor.sweep")
	if code, desc := m.Header.Get(micro.ErrorCodeHeader), m.Header.Get(micro.ErrorHeader); code != "500" || desc != "INTERNAL_SERVER_ERROR" {
		t.Errorf("error headers: got %q %q, want 500 INTERNAL_SERVER_ERROR", code, desc)
	}
	var rep Report
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		t.Fatalf("answer %s: %v", m.Data, err)
	}
	if len(rep.Errors) == 0 {
		t.Errorf("report %s: want errors", m.Data)
	}
	// The session's end was decided; only its document clean-up failed.
	if !slices.Equal(rep.Expired, []string{idle.ID}) {
		t.Errorf("expired: got %v, want [%s]", rep.Expired, idle.ID)
	}
	if got := metricValue(t, reg, "pairpad_janitor_sweep_errors_total", nil); got != 1 {
		t.Errorf("sweep_errors_total: got %v, want 1", got)
	}
}
