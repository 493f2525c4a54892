package httpx_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/process/processtest"
	"github.com/pairpad/pairpad/shared/protocol"
)

// logLines decodes the JSON log lines written to logs.
func logLines(t *testing.T, logs *processtest.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func newServer(t *testing.T) (*httptest.Server, *processtest.Buffer, *prometheus.Registry) {
	t.Helper()
	logs := &processtest.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	label := httpx.LabelRoute(func(r *http.Request) string { return r.Pattern })
	mux.Handle("GET /items/{id}", label(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "rid": httpx.RequestID(r.Context())})
	})))
	mux.Handle("GET /panic", label(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom: secret detail")
	})))
	mux.Handle("GET /hijack", label(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer c.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhello")
		_ = rw.Flush()
	})))
	// Building the chain twice on one registry must not panic.
	_ = httpx.Middleware(log, reg)
	srv := httptest.NewServer(httpx.Middleware(log, reg)(mux))
	t.Cleanup(srv.Close)
	return srv, logs, reg
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestMiddlewareRequestID(t *testing.T) {
	srv, _, _ := newServer(t)
	tests := []struct {
		name, in string
		keep     bool
	}{
		{"sane id kept", "abc-123_x.y:z", true},
		{"none generated", "", false},
		{"spaces replaced", "has space", false},
		{"too long replaced", strings.Repeat("a", 129), false},
		{"newline-ish replaced", "a\tb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.in != "" {
				hdr[httpx.HeaderRequestID] = tc.in
			}
			resp, body := get(t, srv.URL+"/items/7", hdr)
			got := resp.Header.Get(httpx.HeaderRequestID)
			if tc.keep && got != tc.in {
				t.Errorf("request id = %q, want %q", got, tc.in)
			}
			if !tc.keep && (got == "" || got == tc.in) {
				t.Errorf("request id = %q, want a generated one", got)
			}
			var m map[string]string
			if err := json.Unmarshal(body, &m); err != nil || m["rid"] != got {
				t.Errorf("handler saw request id %q (%v), header %q", m["rid"], err, got)
			}
		})
	}
}

func TestMiddlewarePanic(t *testing.T) {
	srv, logs, _ := newServer(t)
	resp, body := get(t, srv.URL+"/panic", nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	var b protocol.ErrorBody
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if b.Error != protocol.CodeInternal || b.StatusCode != 500 || b.Message == "" {
		t.Errorf("body %+v", b)
	}
	if strings.Contains(string(body), "boom") || strings.Contains(string(body), "goroutine") {
		t.Errorf("body leaks the panic: %s", body)
	}
	var sawStack bool
	for _, l := range logLines(t, logs) {
		if l["msg"] == "handler panicked" && strings.Contains(l["stack"].(string), "goroutine") {
			sawStack = true
		}
	}
	if !sawStack {
		t.Error("the panic and its stack were not logged")
	}
	// The server still serves.
	if resp, _ := get(t, srv.URL+"/items/1", nil); resp.StatusCode != 200 {
		t.Errorf("after panic: status %d", resp.StatusCode)
	}
}

func TestMiddlewareHijack(t *testing.T) {
	srv, logs, _ := newServer(t)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /hijack HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// A hijacked connection is no longer the server's: Close does not wait
	// for its handler, so wait for the log line the handler's return writes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		found := false
		for _, l := range logLines(t, logs) {
			if l["route"] == "GET /hijack" && l["status"] == float64(101) {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line with status 101: %v", logLines(t, logs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMiddlewareLogAndMetrics(t *testing.T) {
	srv, logs, reg := newServer(t)
	get(t, srv.URL+"/items/1", map[string]string{httpx.HeaderRequestID: "rid-1"})
	get(t, srv.URL+"/items/2", nil)
	get(t, srv.URL+"/nowhere/3", nil)
	get(t, srv.URL+"/panic", nil)
	srv.Close()

	var line map[string]any
	for _, l := range logLines(t, logs) {
		if l["request_id"] == "rid-1" {
			line = l
		}
	}
	want := map[string]any{"msg": "http request", "method": "GET", "route": "GET /items/{id}", "path": "/items/1", "status": float64(200)}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("log has no duration_ms: %v", line)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	var histograms int
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetName() {
			case "pairpad_http_requests_total":
				counts[labels["route"]+" "+labels["method"]+" "+labels["status"]] = m.GetCounter().GetValue()
			case "pairpad_http_request_duration_seconds":
				histograms += int(m.GetHistogram().GetSampleCount())
			}
		}
	}
	wantCounts := map[string]float64{
		"GET /items/{id} GET 200": 2,
		"unmatched GET 404":       1,
		"GET /panic GET 500":      1,
	}
	for k, v := range wantCounts {
		if counts[k] != v {
			t.Errorf("requests_total{%s} = %v, want %v (all: %v)", k, counts[k], v, counts)
		}
	}
	if len(counts) != len(wantCounts) {
		t.Errorf("unexpected series: %v", counts)
	}
	if histograms != 4 {
		t.Errorf("duration samples = %d, want 4", histograms)
	}
}
