package loadgen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/process/spawn"
)

// The smoke tests run every scenario, tiny, against the real all-in-one
// built from this workspace.

// built is the all-in-one, built once per test run.
var built = spawn.Once{Pkgs: []string{"./deploy/local/cmd/pairpad"}}

func TestMain(m *testing.M) {
	code := m.Run()
	built.Remove()
	os.Exit(code)
}

// pairpadBinary returns the path of the all-in-one.
func pairpadBinary(t *testing.T) string {
	t.Helper()
	dir, err := built.Dir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "pairpad")
}

const testSecret = "loadgen-test-secret"

// startAllInOne runs the all-in-one with the bench settings (limits off,
// anonymous handshakes allowed for the legacy mode) until the test ends.
func startAllInOne(t *testing.T) string {
	t.Helper()
	s := newAllInOne(t)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s.base()
}

// allInOne is one all-in-one on one data directory, so it can be stopped
// and started again with its JetStream data. The first start listens on
// port 0 and learns the port from the "listening" log line; a restart
// binds the same port, so the clients reconnect to the same URL.
type allInOne struct {
	t    *testing.T
	data string
	// natsURL, when set, is a NATS server the all-in-one uses instead of
	// embedding its own (NATS_URL).
	natsURL string
	mu      sync.Mutex
	port    int
	runs    []*spawn.Proc // the newest last
}

func newAllInOne(t *testing.T) *allInOne {
	s := &allInOne{t: t, data: t.TempDir()}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for i, p := range s.runs {
				t.Logf("all-in-one output (run %d):\n%s", i+1, p.Out.String())
			}
		}
	})
	return s
}

func (s *allInOne) base() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("http://127.0.0.1:%d", s.port)
}

// start runs the server and waits until it is ready; safe to call from
// any goroutine (it reports instead of failing the test).
func (s *allInOne) start() error {
	env := []string{
		"NATS_LISTEN=127.0.0.1:-1", "DATA_DIR=" + s.data, "TOKEN_SECRET=" + testSecret, "LOG_LEVEL=info",
		"RATE_LIMIT_CREATE=0", "RATE_LIMIT_JOIN=0", "RATE_LIMIT_DEFAULT=0",
		"WS_MAX_CONNECTIONS_PER_IP=0", "SESSION_MAX_USERS=200", "WS_ALLOW_ANONYMOUS=true", "PPROF=true",
	}
	if s.natsURL != "" {
		env = append(env, "NATS_URL="+s.natsURL)
	}
	s.mu.Lock()
	if s.port != 0 {
		env = append(env, fmt.Sprintf("PORT=%d", s.port))
	}
	s.mu.Unlock()
	p, err := spawn.Start(context.Background(), spawn.Spec{Name: "all-in-one", Binary: pairpadBinary(s.t), Env: env}, 30*time.Second)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.port = p.Port
	s.runs = append(s.runs, p)
	s.mu.Unlock()
	return p.WaitReady(context.Background(), 30*time.Second)
}

// stop ends the newest run (SIGTERM, then SIGKILL after 15 s).
func (s *allInOne) stop() {
	s.mu.Lock()
	var p *spawn.Proc
	if len(s.runs) > 0 {
		p = s.runs[len(s.runs)-1]
	}
	s.mu.Unlock()
	if p == nil {
		return
	}
	if err := p.Stop(15 * time.Second); err != nil {
		s.t.Log(err)
	}
}

// TestReconnectAcrossRestart restarts the server in the middle of a crowd:
// it closes every connection (1012 service restart), the users reconnect
// with since, resend what was pending, and every client's text still
// equals the server's.
func TestReconnectAcrossRestart(t *testing.T) {
	s := newAllInOne(t)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	ws := "ws" + strings.TrimPrefix(s.base(), "http")
	restarted := make(chan error, 1)
	o := Options{APIURL: s.base(), WSURLs: []string{ws}, Framing: FramingSocketIO, DeltaFormat: "ops", Sources: 4, Concurrency: 8,
		OnWindow: func(string, time.Duration) {
			go func() {
				s.stop()
				restarted <- s.start()
			}()
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := Crowd(ctx, o, InterviewParams{Users: 4, Rates: Rates{Code: 3, Cursor: 3},
		Duration: Duration(time.Second), Warmup: Duration(300 * time.Millisecond), Settle: Duration(45 * time.Second)})
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Failures) > 0 || r.Convergence == nil || !r.Convergence.Converged {
		t.Fatalf("failures %v; convergence %+v; traffic %+v", r.Failures, r.Convergence, r.Traffic)
	}
	if r.Traffic.Reconnects < 4 {
		t.Errorf("%d reconnections, want one per user at least", r.Traffic.Reconnects)
	}
}

func TestScenariosSmoke(t *testing.T) {
	base := startAllInOne(t)
	ws := "ws" + strings.TrimPrefix(base, "http")
	opts := func(framing Framing, delta string, legacy bool) Options {
		return Options{APIURL: base, WSURLs: []string{ws, ws}, Targets: []Target{{Name: "all-in-one", URL: base}},
			Framing: framing, DeltaFormat: delta, Legacy: legacy, Sources: 4, Concurrency: 8}
	}
	short := InterviewParams{Sessions: 3, Users: 2, Rates: Rates{Code: 5, Cursor: 5},
		Duration: Duration(2 * time.Second), Warmup: Duration(300 * time.Millisecond), Settle: Duration(10 * time.Second)}
	crowd := short
	crowd.Users = 5

	for _, tc := range []struct {
		name    string
		run     func(ctx context.Context) (*Result, error)
		timings func(r *Result) []Summary
		conns   int
	}{
		{"idle plain", func(ctx context.Context) (*Result, error) {
			return Idle(ctx, opts(FramingPlain, "", false), IdleParams{Conns: 20, UsersPerSession: 2, Hold: Duration(time.Second)})
		}, handshakes, 20},
		{"idle socket.io", func(ctx context.Context) (*Result, error) {
			// A short bound: the steady state may or may not come (the
			// server's own GC cycle decides), the result says which.
			return Idle(ctx, opts(FramingSocketIO, "", false), IdleParams{Conns: 20, UsersPerSession: 4, Hold: Duration(time.Second),
				SteadyWait: Duration(2 * time.Second)})
		}, handshakes, 20},
		{"interview plain fullCode", func(ctx context.Context) (*Result, error) {
			return Interview(ctx, opts(FramingPlain, "fullCode", false), short)
		}, latencies, 6},
		{"interview socket.io ops", func(ctx context.Context) (*Result, error) {
			return Interview(ctx, opts(FramingSocketIO, "ops", false), short)
		}, latencies, 6},
		{"interview legacy", func(ctx context.Context) (*Result, error) {
			return Interview(ctx, opts(FramingSocketIO, "", true), short)
		}, latencies, 6},
		{"interview-light", func(ctx context.Context) (*Result, error) {
			o := opts(FramingSocketIO, "fullCode", false)
			o.WatchRSS, o.RSSEvery = []Target{{Name: "generator", PID: os.Getpid()}}, 200*time.Millisecond
			light := short
			light.Users = 3
			return InterviewLight(ctx, o, light)
		}, lightChecks, 9},
		{"crowd ops", func(ctx context.Context) (*Result, error) {
			return Crowd(ctx, opts(FramingPlain, "ops", false), crowd)
		}, latencies, 5},
		{"crowd ops, connections cut", func(ctx context.Context) (*Result, error) {
			o := opts(FramingSocketIO, "ops", false)
			o.CutEvery = 150 * time.Millisecond
			return Crowd(ctx, o, crowd)
		}, reconnected, 5},
		{"crowd fullCode, connections cut", func(ctx context.Context) (*Result, error) {
			o := opts(FramingPlain, "fullCode", false)
			o.CutEvery = 150 * time.Millisecond
			return Crowd(ctx, o, crowd)
		}, reconnected, 5},
		{"crowd fullCode", func(ctx context.Context) (*Result, error) {
			return Crowd(ctx, opts(FramingSocketIO, "fullCode", false), crowd)
		}, latencies, 5},
		{"ramp", func(ctx context.Context) (*Result, error) {
			return Ramp(ctx, opts(FramingPlain, "", false), RampParams{StartSessions: 1, StepSessions: 1, Users: 2,
				Rates: Rates{Code: 4, Cursor: 4}, RateFactor: 1.5, Steps: 2, StepDuration: Duration(time.Second),
				Warmup: Duration(200 * time.Millisecond), Settle: Duration(10 * time.Second), P99Limit: Duration(10 * time.Second)})
		}, stepLatencies, 4},
		{"rest", func(ctx context.Context) (*Result, error) {
			return REST(ctx, opts(FramingPlain, "", false), RESTParams{Sessions: 10, Concurrency: 4})
		}, restTimings, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			r, err := tc.run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Failures) > 0 {
				t.Fatalf("failures: %v; convergence %+v; traffic %+v", r.Failures, r.Convergence, r.Traffic)
			}
			if tc.conns > 0 && (r.Connect == nil || r.Connect.Connected != tc.conns) {
				t.Fatalf("connect = %+v, want %d connections", r.Connect, tc.conns)
			}
			if r.Scenario != "ramp" && r.Scenario != "rest" && r.Instances != 2 {
				t.Errorf("instances = %d, want the 2 URLs given", r.Instances)
			}
			for i, s := range tc.timings(r) {
				if s.Count == 0 || s.Max <= 0 || s.P50 > s.P99 || s.P99 > s.Max {
					t.Errorf("timing %d is empty or inconsistent: %+v", i, s)
				}
			}
			if r.Convergence != nil && !r.Convergence.Converged {
				t.Errorf("convergence = %+v", r.Convergence)
			}
			if r.Scenario == "crowd" && r.Convergence == nil {
				t.Error("crowd ran no convergence check")
			}
			if m := r.Memory; m != nil && m.Transient == nil {
				t.Error("idle read no transient")
			}
			if p, ok := r.Params.(IdleParams); ok && p.SteadyWait > 0 {
				m := r.Memory
				if m.Steady == nil || m.AfterHold == nil || (!m.Steady.Reached && m.Steady.Why == "") || (m.Steady.Reached && m.Steady.GCSeconds < 0) {
					t.Errorf("steady state = %+v, after the hold %+v", m.Steady, m.AfterHold)
				}
			}
			var md strings.Builder
			if err := WriteMarkdown(&md, []*Result{r}); err != nil || !strings.Contains(md.String(), r.Scenario) {
				t.Errorf("markdown = %q, %v", md.String(), err)
			}
		})
	}
}

// reconnected wants every cut connection back, and the usual timings.
func reconnected(r *Result) []Summary {
	if r.Traffic.Cuts == 0 || r.Traffic.Reconnects != r.Traffic.Cuts {
		return []Summary{{}}
	}
	return latencies(r)
}

// lightChecks also wants the RSS series the run was asked for.
func lightChecks(r *Result) []Summary {
	if len(r.RSS) != 1 || r.RSS[0].FinalBytes <= 0 || r.RSS[0].MidBytes <= 0 || len(r.RSS[0].Samples) < 5 {
		return []Summary{{}}
	}
	return latencies(r)
}

func handshakes(r *Result) []Summary { return []Summary{r.Connect.Handshake} }

func latencies(r *Result) []Summary {
	return []Summary{r.Traffic.Latency["code-update"], r.Traffic.Latency["cursor-update"], r.Traffic.Latency["code-ack"]}
}

func stepLatencies(r *Result) []Summary {
	if len(r.Steps) != 2 {
		return []Summary{{}}
	}
	return []Summary{r.Steps[0].Traffic.Latency["all"], r.Steps[1].Traffic.Latency["all"]}
}

func restTimings(r *Result) []Summary { return []Summary{r.REST.Create, r.REST.Join} }
