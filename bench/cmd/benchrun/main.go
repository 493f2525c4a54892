// Command benchrun is `make bench`: it builds the servers, starts them in
// the all-in-one and the split layout (api + two realtime instances +
// janitor on one NATS server), runs every load scenario against them,
// profiles the servers while they are loaded, and writes
// bench/results/<stamp>.json and .md and the plots in docs/benchmarks/.
//
//	go run ./bench/cmd/benchrun [-quick] [-only idle,crowd] [-out bench/results] [-plots docs/benchmarks]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
	"github.com/pairpad/pairpad/shared/workspace"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// scenarioNames are the runs, in order; -only picks some.
var scenarioNames = []string{"rest", "idle", "interview-split", "interview-local", "interview-light", "crowd", "ramp", "idle50k"}

// optIn are the scenarios a run without -only leaves out: idle50k needs
// minutes and most of the machine's memory.
var optIn = map[string]bool{"idle50k": true}

// runsOf are the server runs of a scenario: interview-light runs against
// the floor (the bare relay) and against the all-in-one, in that order.
func runsOf(name string) []string {
	if name == "interview-light" {
		return []string{"interview-light-floor", "interview-light"}
	}
	return []string{name}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[1] == "nats" {
		return runNATS(ctx, args[2:], stderr)
	}
	if len(args) > 1 && args[1] == "relay" {
		return runRelay(ctx, args[2:], getenv, stderr)
	}
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "bench/results", "where the JSON and Markdown results go")
	plots := fs.String("plots", "docs/benchmarks", "where the PNG plots go")
	quick := fs.Bool("quick", false, "tiny sizes: check the runner, not the servers")
	only := fs.String("only", "", "comma-separated subset of "+strings.Join(scenarioNames, ","))
	profiles := fs.String("profiles", "", "keep the raw pprof profiles here (default: a temporary directory)")
	replot := fs.String("replot", "", "only redraw the plots of this results JSON into -plots")
	quietWait := fs.Duration("quiet-wait", 90*time.Second, "before each scenario, wait up to this long for the machine to be quiet (under half a core busy)")
	duration := fs.Duration("duration", 0, "interview-light's measured window (default 60s, -quick 5s; 10m for the memory target)")
	lightSessions := fs.Int("light-sessions", 0, "interview-light's sessions of 3 users (default 1,000, -quick 20)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	wanted, err := pick(*only)
	if err != nil {
		return err
	}
	root, err := workspace.Root()
	if err != nil {
		return err
	}
	if *replot != "" {
		return redraw(abs(root, *replot), abs(root, *plots))
	}
	if limit, err := loadgen.RaiseFileLimit(); err == nil {
		fmt.Fprintf(stderr, "open file limit: %d\n", limit)
	}
	work, err := os.MkdirTemp("", "pairpad-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	profDir := *profiles
	if profDir == "" {
		profDir = filepath.Join(os.TempDir(), "pairpad-bench-profiles-"+time.Now().UTC().Format("20060102-150405"))
	}
	for _, dir := range []string{abs(root, *out), abs(root, *plots), profDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}

	started := time.Now()
	rep := &Report{Started: started.UTC(), Machine: describeMachine(ctx, root), Quick: *quick}
	p := fullPlan(rep.Machine.FileLimit)
	if *quick {
		p = quickPlan()
	}
	if *duration > 0 {
		p.light.Duration = loadgen.Duration(*duration)
	}
	if *lightSessions > 0 {
		p.light.Sessions = *lightSessions
	}
	bin := filepath.Join(work, "bin")
	if err := buildBinaries(ctx, root, bin, stderr); err != nil {
		return err
	}
	prof := newProfiler(profDir, stderr)
	r := &runner{ctx: ctx, bin: bin, work: work, log: stderr, prof: prof}
	for _, name := range scenarioNames {
		if !wanted[name] {
			continue
		}
		for _, run := range runsOf(name) {
			busy := waitQuiet(ctx, *quietWait, stderr)
			res, err := r.scenario(run, p)
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s did not run: %v", run, err))
				fmt.Fprintf(stderr, "%s: %v\n", run, err)
				if ctx.Err() != nil {
					break
				}
				continue
			}
			res.Notes = append(res.Notes, fmt.Sprintf("the machine was %.0f%% busy (100%% = one core) just before the servers started", busy))
			rep.Results = append(rep.Results, res)
		}
		if ctx.Err() != nil {
			break
		}
	}
	var notes []string
	rep.Profiles, notes = prof.finish(ctx)
	rep.Notes = append(rep.Notes, notes...)
	if len(rep.Profiles) > 0 {
		rep.Notes = append(rep.Notes, "raw profiles: "+profDir)
	} else {
		_ = os.Remove(profDir) // only when empty
	}
	rep.Seconds = time.Since(started).Seconds()
	if err := rep.plot(abs(root, *plots)); err != nil {
		rep.Notes = append(rep.Notes, "plots: "+err.Error())
	}
	jsonPath, mdPath, err := rep.write(abs(root, *out))
	if err != nil {
		return err
	}
	for _, t := range rep.Targets {
		met := "MISSED"
		if t.Met {
			met = "met"
		}
		fmt.Fprintf(stdout, "%-6s %s: %s\n", met, t.Goal, t.Measured)
	}
	fmt.Fprintf(stdout, "wrote %s and %s in %.0fs\n", jsonPath, mdPath, rep.Seconds)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// redraw renders the plots of a saved report again.
func redraw(path, dir string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return rep.plot(dir)
}

// waitQuiet waits, up to limit, until the machine is under half a core busy
// (other work on a shared machine skews every latency), and returns the
// last reading.
func waitQuiet(ctx context.Context, limit time.Duration, log io.Writer) float64 {
	deadline := time.Now().Add(limit)
	for {
		busy := loadgen.MachineBusy(2 * time.Second)
		if busy < 50 || time.Now().After(deadline) || ctx.Err() != nil {
			return busy
		}
		fmt.Fprintf(log, "the machine is %.0f%% busy: waiting for it to quiet down\n", busy)
		time.Sleep(3 * time.Second)
	}
}

func pick(only string) (map[string]bool, error) {
	wanted := map[string]bool{}
	for _, n := range scenarioNames {
		wanted[n] = only == "" && !optIn[n]
	}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if !slices.Contains(scenarioNames, n) {
			return nil, fmt.Errorf("unknown scenario %q: choose from %s", n, strings.Join(scenarioNames, ", "))
		}
		wanted[n] = true
	}
	return wanted, nil
}

func abs(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

// runner starts fresh servers for each scenario and runs it.
type runner struct {
	ctx  context.Context
	bin  string
	work string
	log  io.Writer
	prof *profiler
	n    int
}

func (r *runner) scenario(name string, p plan) (*loadgen.Result, error) {
	r.n++
	data := filepath.Join(r.work, fmt.Sprintf("data-%d", r.n))
	var l *layout
	var err error
	switch {
	case strings.HasSuffix(name, "-floor"):
		l, err = startRelay(r.ctx)
	case name == "idle50k":
		l, err = startSplit(r.ctx, r.bin, data, 3)
	case strings.HasSuffix(name, "-split") || name == "ramp":
		l, err = startSplit(r.ctx, r.bin, data, 2)
	default:
		l, err = startAllInOne(r.ctx, r.bin, data)
	}
	if err != nil {
		return nil, err
	}
	defer l.stop()
	defer r.prof.wg.Wait() // profiles in flight finish before the servers stop
	fmt.Fprintf(r.log, "== %s on %s\n", name, l.name)
	opts := l.opts
	opts.Sources, opts.Concurrency, opts.DialRetries, opts.Progress = 16, 64, 5, r.log
	switch name {
	case "rest":
		return tag(loadgen.REST(r.ctx, opts, p.rest))(l)
	case "idle":
		opts.OnWindow = r.prof.hook(r.ctx, l, name, false)
		return tag(loadgen.Idle(r.ctx, opts, p.idle))(l)
	case "interview-light-floor":
		opts.Framing, opts.DeltaFormat = loadgen.FramingSocketIO, "fullCode" // the relay speaks Socket.IO only
		opts.WatchRSS, opts.RSSEvery = l.watched(), rssEvery(time.Duration(p.light.Duration))
		return tag(loadgen.InterviewLight(r.ctx, opts, p.light))(l)
	case "interview-light":
		opts.Framing, opts.DeltaFormat = loadgen.FramingSocketIO, "fullCode" // as against the floor
		opts.WatchRSS, opts.RSSEvery = l.watched(), rssEvery(time.Duration(p.light.Duration))
		opts.OnWindow = r.prof.hook(r.ctx, l, name, true)
		return tag(loadgen.InterviewLight(r.ctx, opts, p.light))(l)
	case "interview-split", "interview-local":
		opts.OnWindow = r.prof.hook(r.ctx, l, name, true)
		return tag(loadgen.Interview(r.ctx, opts, p.interview))(l)
	case "crowd":
		opts.DeltaFormat = "ops"
		opts.OnWindow = r.prof.hook(r.ctx, l, name, true)
		return tag(loadgen.Crowd(r.ctx, opts, p.crowd))(l)
	case "ramp":
		return tag(loadgen.Ramp(r.ctx, opts, p.ramp))(l)
	case "idle50k":
		return tag(r.many(l, p.many))(l)
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

// rssEvery samples RSS every 5 s, more often in short windows (at least
// ten readings per window, at most one a second).
func rssEvery(window time.Duration) time.Duration {
	return max(time.Second, min(5*time.Second, window/10))
}

// tag names the layout in a result once the scenario has run.
func tag(res *loadgen.Result, err error) func(*layout) (*loadgen.Result, error) {
	return func(l *layout) (*loadgen.Result, error) {
		if err != nil {
			return nil, err
		}
		res.Layout = l.name
		return res, nil
	}
}
