// Command loadgen drives a running pairpad deployment with simulated
// interview participants and prints what it measured as JSON.
//
//	loadgen [flags] idle|interview|interview-light|crowd|ramp|rest
//
// For example, against `make run` started with RATE_LIMIT_*=0 and
// WS_MAX_CONNECTIONS_PER_IP=0:
//
//	go run ./bench/cmd/loadgen -api http://127.0.0.1:3001 interview -sessions 100
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// flags are every option; each scenario reads the ones it uses.
type flags struct {
	opts                       loadgen.Options
	ws, metrics, framing, out  string
	md                         string
	conns, ups, sessions, user int
	codeRate, cursorRate       float64
	hold, duration, warmup     time.Duration
	settle                     time.Duration
	startSessions, stepSess    int
	steps                      int
	rateFactor                 float64
	stepDuration, p99          time.Duration
	requests, restConc         int
	failOnError                bool
	typists                    int
	watch                      string
	procs                      int
	shard                      string
	cpuProfile                 string
	slowLog                    string
	slowOver                   time.Duration
	profiler                   windowProfile
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (*flags, string, error) {
	f := &flags{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadgen [flags] idle|interview|interview-light|crowd|ramp|rest")
		fs.PrintDefaults()
	}
	o := &f.opts
	fs.StringVar(&o.APIURL, "api", "http://127.0.0.1:3001", "base URL of the api (or the all-in-one)")
	fs.StringVar(&f.ws, "ws", "", "comma-separated ws:// base URLs of the realtime processes (default: the api's host)")
	fs.StringVar(&f.metrics, "metrics", "", "comma-separated name=http://host:port of processes whose /metrics to read, or name=pid:N of one without metrics whose CPU and RSS /proc tells (default: the api)")
	fs.StringVar(&f.framing, "framing", "plain", "plain (/ws) or socketio (/socket.io/)")
	fs.BoolVar(&o.Legacy, "legacy", false, "speak the older Socket.IO form: no token, fullCode, identity in the query (implies -framing socketio)")
	fs.StringVar(&o.DeltaFormat, "delta", "", "deltaFormat: fullCode or ops (default: fullCode, ops for crowd)")
	fs.IntVar(&o.Sources, "sources", 16, "loopback source addresses to dial from (127.0.0.2...)")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "parallel session set-ups")
	fs.IntVar(&o.DialRetries, "dial-retries", 3, "retries of a handshake that failed transiently (server error, timeout), counted in the result")
	fs.StringVar(&o.TokenSecret, "token-secret", getenv("TOKEN_SECRET"), "sign join tokens locally with the servers' TOKEN_SECRET instead of calling join (default $TOKEN_SECRET)")
	fs.StringVar(&f.out, "out", "", "write the JSON result here (default: stdout)")
	fs.StringVar(&f.md, "md", "", "also write a Markdown summary here")
	fs.BoolVar(&f.failOnError, "fail", false, "exit with status 2 when the run recorded failures")

	fs.IntVar(&f.conns, "conns", 20000, "idle: connections to hold")
	fs.IntVar(&f.ups, "users-per-session", 2, "idle: users per session")
	fs.DurationVar(&f.hold, "hold", 10*time.Second, "idle: how long to hold them")
	fs.IntVar(&f.sessions, "sessions", 1000, "interview: sessions")
	fs.IntVar(&f.user, "users", 3, "interview, ramp: users per session (crowd: default 100)")
	fs.Float64Var(&f.codeRate, "code-rate", 2, "code-updates per second per user")
	fs.Float64Var(&f.cursorRate, "cursor-rate", 2, "cursor-updates per second per user")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "interview, crowd: measured window")
	fs.DurationVar(&f.warmup, "warmup", 5*time.Second, "load before measuring")
	fs.DurationVar(&f.settle, "settle", 5*time.Second, "wait after the window for the last deliveries")
	fs.BoolVar(&o.Colocate, "colocate", false, "put every member of a session on the same -ws instance (servers without cross-instance fan-out, such as several bench relays)")
	fs.BoolVar(&o.NoReconnect, "no-reconnect", false, "do not reconnect a connection the server (or the network) ended; by default users reconnect with since and resend, like the reference client")
	fs.DurationVar(&o.CutEvery, "cut-every", 0, "interview, crowd: drop one random connection this often during the window, to exercise reconnection")
	fs.IntVar(&f.procs, "procs", 1, "idle, interview, interview-light: run in this many generator processes (each has its own RLIMIT_NOFILE) on disjoint sessions and merge their raw latency samples")
	fs.StringVar(&f.shard, "shard", "", "run part i/n of the sessions and keep the raw samples (what -procs gives each process)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the generator over its first measured window here (with -procs, one per process, numbered before the first dot of the name: cpu.pb.gz gives cpu-1.pb.gz, cpu-2.pb.gz, ...)")
	fs.StringVar(&f.slowLog, "slow-log", "", "interview, interview-light: write the code-updates' time structure here (one process, not with -procs): per 100 ms of send time the count and the slow count, and every slow one's send time (unix) and latency (see -slow-over)")
	fs.DurationVar(&f.slowOver, "slow-over", 3*time.Millisecond, "with -slow-log: a code-update slower than this is slow")
	fs.BoolVar(&o.KeepRaw, "keep-raw", false, "keep every raw latency sample in the JSON result")
	fs.IntVar(&f.typists, "typists", 1, "interview-light: users per session who type (the others move their cursors)")
	fs.StringVar(&f.watch, "watch-rss", "", "interview: comma-separated name=pid of server processes whose VmRSS to sample over the run")
	fs.DurationVar(&o.RSSEvery, "rss-every", 5*time.Second, "interview: how often to sample -watch-rss")
	fs.IntVar(&f.startSessions, "start-sessions", 250, "ramp: sessions of the first step")
	fs.IntVar(&f.stepSess, "step-sessions", 250, "ramp: sessions added per step")
	fs.Float64Var(&f.rateFactor, "rate-factor", 1, "ramp: per-user rates multiplied by this per step")
	fs.IntVar(&f.steps, "steps", 8, "ramp: most steps")
	fs.DurationVar(&f.stepDuration, "step-duration", 10*time.Second, "ramp: measured window per step")
	fs.DurationVar(&f.p99, "p99-limit", 50*time.Millisecond, "ramp: stop after the first step whose p99 exceeds this")
	fs.IntVar(&f.requests, "requests", 2000, "rest: create + join pairs")
	fs.IntVar(&f.restConc, "rest-concurrency", 32, "rest: requests in flight")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, "", err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, "", errors.New("name one scenario")
	}
	scenario := fs.Arg(0)
	o.Framing = loadgen.Framing(f.framing)
	if o.Legacy {
		o.Framing = loadgen.FramingSocketIO
	}
	if o.DeltaFormat == "" && scenario == "crowd" {
		o.DeltaFormat = "ops"
	}
	o.WSURLs = splitList(f.ws)
	if len(o.WSURLs) == 0 {
		o.WSURLs = []string{"ws" + strings.TrimPrefix(o.APIURL, "http")}
	}
	if f.metrics == "" {
		o.Targets = []loadgen.Target{{Name: "server", URL: o.APIURL}}
	}
	for _, m := range splitList(f.metrics) {
		name, url, ok := strings.Cut(m, "=")
		if !ok {
			name, url = m, m
		}
		t := loadgen.Target{Name: name, URL: url}
		if pid, ok := strings.CutPrefix(url, "pid:"); ok {
			n, err := strconv.Atoi(pid)
			if err != nil || n <= 0 {
				return nil, "", fmt.Errorf("-metrics %q: want name=pid:N", m)
			}
			t = loadgen.Target{Name: name, PID: n}
		}
		o.Targets = append(o.Targets, t)
	}
	for _, w := range splitList(f.watch) {
		name, pid, _ := strings.Cut(w, "=")
		n, err := strconv.Atoi(pid)
		if err != nil || n <= 0 {
			return nil, "", fmt.Errorf("-watch-rss %q: want name=pid", w)
		}
		o.WatchRSS = append(o.WatchRSS, loadgen.Target{Name: name, PID: n})
	}
	o.Progress = stderr
	// The window's start, on a line of its own: a parent that runs this
	// command (benchrun's idle50k) profiles the servers from it.
	o.OnWindow = func(scenario string, length time.Duration) {
		fmt.Fprintf(stderr, "%s %s %s\n", loadgen.WindowMarker, scenario, length)
		f.profiler.start(length, stderr)
	}
	f.profiler.path = f.cpuProfile
	if f.slowLog != "" {
		o.Slow = &loadgen.SlowLog{Over: f.slowOver}
	}
	return f, scenario, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, scenario, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	if err := f.applyShard(scenario); err != nil {
		return err
	}
	if limit, err := loadgen.RaiseFileLimit(); err == nil {
		fmt.Fprintf(stderr, "open file limit: %d\n", limit)
	}
	ip := loadgen.InterviewParams{Sessions: f.sessions, Users: f.user,
		Rates:    loadgen.Rates{Code: f.codeRate, Cursor: f.cursorRate},
		Duration: loadgen.Duration(f.duration), Warmup: loadgen.Duration(f.warmup), Settle: loadgen.Duration(f.settle)}
	var r *loadgen.Result
	switch {
	case f.procs > 1:
		f.profiler.path = "" // each process profiles itself
		var full any = loadgen.IdleParams{Conns: f.conns, UsersPerSession: f.ups, Hold: loadgen.Duration(f.hold)}
		if scenario != "idle" {
			ip.Typists = f.typists
			full = ip
		}
		r, err = runProcs(ctx, args, f, scenario, full, stderr)
	default:
		r, err = runOne(ctx, args, f, scenario, ip)
	}
	f.profiler.stop()
	if err != nil {
		return err
	}
	if err := write(f.out, stdout, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}); err != nil {
		return err
	}
	if f.slowLog != "" {
		if err := write(f.slowLog, nil, f.opts.Slow.Write); err != nil {
			return err
		}
	}
	if f.md != "" {
		if err := write(f.md, nil, func(w io.Writer) error { return loadgen.WriteMarkdown(w, []*loadgen.Result{r}) }); err != nil {
			return err
		}
	}
	if f.failOnError && len(r.Failures) > 0 {
		return fmt.Errorf("%s recorded failures: %s", scenario, strings.Join(r.Failures, "; "))
	}
	return nil
}

// runOne runs the scenario in this process.
func runOne(ctx context.Context, args []string, f *flags, scenario string, ip loadgen.InterviewParams) (*loadgen.Result, error) {
	switch scenario {
	case "idle":
		return loadgen.Idle(ctx, f.opts, loadgen.IdleParams{Conns: f.conns, UsersPerSession: f.ups, Hold: loadgen.Duration(f.hold)})
	case "interview":
		return loadgen.Interview(ctx, f.opts, ip)
	case "interview-light":
		ip.Typists = f.typists
		return loadgen.InterviewLight(ctx, f.opts, ip)
	case "crowd":
		if !flagSet(args, "users") {
			ip.Users = 100
		}
		return loadgen.Crowd(ctx, f.opts, ip)
	case "ramp":
		return loadgen.Ramp(ctx, f.opts, loadgen.RampParams{StartSessions: f.startSessions, StepSessions: f.stepSess,
			Users: f.user, Rates: ip.Rates, RateFactor: f.rateFactor, Steps: f.steps,
			StepDuration: loadgen.Duration(f.stepDuration), Warmup: loadgen.Duration(f.warmup),
			Settle: loadgen.Duration(f.settle), P99Limit: loadgen.Duration(f.p99)})
	case "rest":
		return loadgen.REST(ctx, f.opts, loadgen.RESTParams{Sessions: f.requests, Concurrency: f.restConc})
	default:
		return nil, fmt.Errorf("unknown scenario %q (idle, interview, interview-light, crowd, ramp, rest)", scenario)
	}
}

// flagSet reports whether -name was given on the command line.
func flagSet(args []string, name string) bool {
	for _, a := range args[1:] {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

// write writes to path, or to fallback when path is empty.
func write(path string, fallback io.Writer, fn func(io.Writer) error) error {
	if path == "" {
		return fn(fallback)
	}
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(file); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}
