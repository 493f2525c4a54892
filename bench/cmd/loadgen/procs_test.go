package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/bench/loadgen"
	"github.com/pairpad/pairpad/bench/relay"
)

// childEnv makes the test binary, re-executed by -procs, act as loadgen.
const childEnv = "LOADGEN_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestShare(t *testing.T) {
	for _, tc := range []struct{ total, n int }{{10, 3}, {2, 3}, {25000, 3}, {7, 1}} {
		sum := 0
		for i := 1; i <= tc.n; i++ {
			s := share(tc.total, i, tc.n)
			if s < tc.total/tc.n || s > tc.total/tc.n+1 {
				t.Errorf("share(%d, %d, %d) = %d", tc.total, i, tc.n, s)
			}
			sum += s
		}
		if sum != tc.total {
			t.Errorf("shares of %d in %d sum to %d", tc.total, tc.n, sum)
		}
	}
	for _, bad := range []string{"0/2", "3/2", "1", "a/b", "1/0"} {
		if _, _, err := parseShard(bad); err == nil {
			t.Errorf("parseShard(%q) accepted", bad)
		}
	}
	f := &flags{shard: "1/2"}
	if err := f.applyShard("crowd"); err == nil {
		t.Error("crowd was split across processes")
	}
}

// TestProcs runs interview-light in two generator processes against the
// relay and checks that the merged result holds both processes' sessions
// and every sample.
func TestProcs(t *testing.T) {
	rs := relay.New()
	srv := httptest.NewServer(rs.Handler())
	defer func() {
		rs.Close()
		srv.Close()
	}()
	t.Setenv(childEnv, "1")
	out := filepath.Join(t.TempDir(), "merged.json")
	var stderr bytes.Buffer
	args := []string{"loadgen", "-api", srv.URL, "-framing", "socketio", "-metrics", "none=", "-procs", "2",
		"-sessions", "5", "-users", "3", "-duration", "1s", "-warmup", "200ms", "-settle", "10s", "-out", out, "interview-light"}
	if err := run(context.Background(), args, func(string) string { return "" }, io.Discard, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r loadgen.Result
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Failures) > 0 || r.Connect.Connected != 15 {
		t.Fatalf("failures %v, connect %+v", r.Failures, r.Connect)
	}
	tr := r.Traffic
	if tr.Raw != nil || tr.Latency["code-update"].Count != 2*tr.Sent["code-update"] || tr.Delivered != tr.Expected {
		t.Errorf("traffic = %+v", tr)
	}
	if !strings.Contains(stderr.String(), "[1/2] ") || !strings.Contains(stderr.String(), "[2/2] ") {
		t.Errorf("the processes' progress is not labelled:\n%s", stderr.String())
	}
	if p, ok := r.Params.(map[string]any); !ok || p["sessions"] != float64(5) {
		t.Errorf("params = %v, want the whole run's", r.Params)
	}
}

func TestNumbered(t *testing.T) {
	for _, tc := range []struct {
		path string
		i    int
		want string
	}{
		{"/tmp/prof/idle50k-loadgen-cpu.pb.gz", 2, "/tmp/prof/idle50k-loadgen-cpu-2.pb.gz"},
		{"cpu.prof", 1, "cpu-1.prof"},
		{"/tmp/a.b/cpu", 3, "/tmp/a.b/cpu-3"},
	} {
		if got := numbered(tc.path, tc.i); got != tc.want {
			t.Errorf("numbered(%q, %d) = %q, want %q", tc.path, tc.i, got, tc.want)
		}
	}
}
