// Command benchrun is `make bench`: it builds the servers, starts them in
// the all-in-one and the split layout (api + two or three realtime
// instances + janitor on one NATS server), runs every load scenario against
// them, with the floor (bench/relay, a bare Socket.IO room relay) measured
// beside each latency figure in the same run, profiles the servers while
// they are loaded, states met / not met for each of issue 16's targets,
// and writes bench/results/<stamp>.json and .md and the plots in
// docs/benchmarks/.
//
//	go run ./bench/cmd/benchrun [-quick] [-only idle,crowd] [-out bench/results] [-plots docs/benchmarks]
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
	"path/filepath"
	"slices"
	"strconv"
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

// scenarioNames are the scenarios, in the order they run; -only picks some.
// Each issue-16 target comes from one (docs/benchmarks.md): 1 interview-light,
// 2 idle, 3 memory, 4 interview-local and interview-split, 5 idle50k,
// 6 crowd.
// idle50k runs last: it takes the most memory and file descriptors. An
// interrupted run (Ctrl-C) still writes the results of the runs it finished.
var scenarioNames = []string{"rest", "idle", "interview-local", "interview-split", "interview-light", "memory", "crowd", "idle50k", "ramp", "interview-ab"}

// optIn are the scenarios a run without -only leaves out: the ramp is no
// target of its own (the crowd steps find the crowd's ceiling), and the
// A/B compares two settings of the all-in-one, not pairpad with a target.
var optIn = map[string]bool{"ramp": true, "interview-ab": true}

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
	plots := fs.String("plots", "docs/benchmarks", "where the PNG plots go (empty: none, e.g. for an A/B that should not replace the full run's plots)")
	quick := fs.Bool("quick", false, "tiny sizes: check the runner, not the servers")
	only := fs.String("only", "", "comma-separated subset of "+strings.Join(scenarioNames, ","))
	profiles := fs.String("profiles", "", "keep the raw pprof profiles here (default: a temporary directory)")
	replot := fs.String("replot", "", "only redraw the plots of this results JSON into -plots")
	quietWait := fs.Duration("quiet-wait", 90*time.Second, "before each server run, wait up to this long for the machine to be quiet (under half a core busy)")
	quietBudget := fs.Duration("quiet-budget", 3*time.Minute, "the most the whole run waits for a quiet machine; then it measures anyway and says how busy it was")
	duration := fs.Duration("duration", 0, "interview-light's measured window (default 60s, -quick 5s)")
	lightPairs := fs.Int("light-pairs", 0, "interview-light's pairs of windows, floor then pairpad, alternating: target 1 is the median of their p99 ratios (default 3, -quick 1)")
	heavyPairs := fs.Int("heavy-pairs", 0, "the heavy interview's pairs of windows, all-in-one then split, alternating, after the floor's: target 4 is the median of their p99 ratios (default 3, -quick 1)")
	memDuration := fs.Duration("memory-duration", 0, "memory's measured window: interview-light for target 3 (default 10m, -quick 10s)")
	lightSessions := fs.Int("light-sessions", 0, "sessions of 3 users of interview-light and memory (default 1,000, -quick 20)")
	heavySessions := fs.Int("heavy-sessions", 0, "sessions of 3 users of the heavy interview: interview-local and interview-split (default 1,000, -quick 20)")
	manyEvery := fs.Duration("many-cursor-every", 0, "idle50k: how often each user moves its cursor (default 10s, -quick 1s): with fewer -many-conns, a shorter period keeps the full run's 5,000 moves a second")
	manyConns := fs.Int("many-conns", 0, "idle50k's connections (default 50,000 or what the file limit allows over three instances, -quick 300)")
	idleConns := fs.Int("idle-conns", 0, "idle's connections (default 10,000, -quick 200)")
	steady := fs.Duration("steady-wait", -1, "idle: the most to wait after the hold for each server's own GC cycle and its RSS to settle (default 3m, -quick 15s; 0: read at the end of the hold)")
	crowdSizes := fs.String("crowd-sizes", "", "comma-separated crowd steps (default 100,150,200,250,300; -quick 5,10)")
	repeat := fs.Int("repeat", 0, "interview-ab: runs of each side, alternating A and B (default 3, -quick 2)")
	abEnv := fs.String("ab-env", abEnvDefault, "interview-ab: comma-separated KEY=VALUE settings side B's all-in-one gets on top of side A's (the defaults and -server-env)")
	abDuration := fs.Duration("ab-duration", 0, "interview-ab: each run's measured window (default 30s, -quick 5s)")
	serverEnv := fs.String("server-env", "", "comma-separated KEY=VALUE settings every server process gets on top of the defaults, e.g. NATS_IN_PROCESS=false for an A/B (the results say which)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	wanted, err := pick(*only)
	if err != nil {
		return err
	}
	extraEnv, err := parseServerEnv(*serverEnv)
	if err != nil {
		return err
	}
	benchEnv = append(benchEnv, extraEnv...)
	root, err := workspace.Root()
	if err != nil {
		return err
	}
	if *replot != "" {
		if *plots == "" {
			return errors.New("-replot needs -plots")
		}
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
	dirs := []string{abs(root, *out), profDir}
	if *plots != "" {
		dirs = append(dirs, abs(root, *plots))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}

	started := time.Now()
	rep := &Report{Started: started.UTC(), Machine: describeMachine(ctx, root), Quick: *quick,
		Command: strings.Join(append([]string{"go run ./bench/cmd/benchrun"}, args[1:]...), " ")}
	if len(extraEnv) > 0 {
		rep.Notes = append(rep.Notes, "servers ran with "+strings.Join(extraEnv, " ")+" on top of the defaults")
	}
	for _, kv := range benchEnv {
		if !strings.HasPrefix(kv, "TOKEN_SECRET=") {
			rep.ServerEnv = append(rep.ServerEnv, kv)
		}
	}
	p := fullPlan(rep.Machine.FileLimit)
	if *quick {
		p = quickPlan()
	}
	if *duration > 0 {
		p.light.Duration = loadgen.Duration(*duration)
	}
	if *lightPairs < 0 {
		return errors.New("-light-pairs: want 1 or more")
	}
	if *lightPairs > 0 {
		p.lightPairs = *lightPairs
	}
	if wanted["interview-light"] {
		rep.LightPairsRun = p.lightPairs
	}
	if *heavyPairs < 0 {
		return errors.New("-heavy-pairs: want 1 or more")
	}
	if *heavyPairs > 0 {
		p.heavyPairs = *heavyPairs
	}
	if wanted["interview-local"] || wanted["interview-split"] {
		rep.HeavyPairsRun = p.heavyPairs
	}
	if *memDuration > 0 {
		p.memory.Duration = loadgen.Duration(*memDuration)
	}
	if *lightSessions > 0 {
		p.light.Sessions, p.memory.Sessions, p.ab.Sessions = *lightSessions, *lightSessions, *lightSessions
	}
	if *heavySessions > 0 {
		p.interview.Sessions = *heavySessions
	}
	if *repeat > 0 {
		p.abRepeat = *repeat
	}
	if p.abEnv, err = parseServerEnv(*abEnv); err != nil {
		return err
	}
	if len(p.abEnv) == 0 && wanted["interview-ab"] {
		return errors.New("-ab-env: side B needs at least one setting")
	}
	if *abDuration > 0 {
		p.ab.Duration = loadgen.Duration(*abDuration)
	}
	if *idleConns > 0 {
		p.idle.Conns = min(*idleConns, perProcess(rep.Machine.FileLimit))
	}
	if *steady >= 0 {
		p.idle.SteadyWait = loadgen.Duration(*steady)
	}
	if *manyConns > 0 {
		p.many = manyPlan(*manyConns, rep.Machine.FileLimit, p.many)
	}
	if *manyEvery > 0 {
		p.many.CursorEvery = *manyEvery
	}
	if *crowdSizes != "" {
		if p.crowdSizes, err = parseSizes(*crowdSizes); err != nil {
			return err
		}
	}
	jobs := jobsFor(wanted, p)
	fmt.Fprintf(stderr, "%d server runs, about %s on a quiet machine (builds and waits for quiet not counted)\n",
		len(jobs), estimate(jobs, p).Round(time.Minute))
	bin := filepath.Join(work, "bin")
	if err := buildBinaries(ctx, root, bin, stderr); err != nil {
		return err
	}
	prof := newProfiler(profDir, stderr)
	r := &runner{ctx: ctx, bin: bin, work: work, log: stderr, prof: prof}
	quiet := *quietBudget
	for _, j := range jobs {
		waited := time.Now()
		busy := waitQuiet(ctx, min(*quietWait, quiet), stderr)
		quiet = max(0, quiet-time.Since(waited))
		res, err := r.scenario(j, p)
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s did not run: %v", j, err))
			fmt.Fprintf(stderr, "%s: %v\n", j, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		res.Notes = append(res.Notes, fmt.Sprintf("the machine was %.0f%% busy (100%% = one core) just before the servers started", busy))
		rep.Results = append(rep.Results, res)
	}
	var notes []string
	// The profiles are summarized even when the run was interrupted.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	rep.Profiles, notes = prof.finish(sctx)
	cancel()
	rep.Notes = append(rep.Notes, notes...)
	if len(rep.Profiles) > 0 {
		rep.Notes = append(rep.Notes, "raw profiles: "+profDir)
	} else {
		_ = os.Remove(profDir) // only when empty
	}
	rep.Seconds = time.Since(started).Seconds()
	if *plots != "" {
		if err := rep.plot(abs(root, *plots)); err != nil {
			rep.Notes = append(rep.Notes, "plots: "+err.Error())
		}
	}
	jsonPath, mdPath, err := rep.write(abs(root, *out))
	if err != nil {
		return err
	}
	for _, t := range rep.Targets {
		fmt.Fprintf(stdout, "%-14s %s: %s\n", t.Status, t.Goal, t.Measured)
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
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

// parseSizes reads -crowd-sizes.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 || n > maxCrowd {
			return nil, fmt.Errorf("-crowd-sizes %q: want comma-separated sizes from 2 to %d", s, maxCrowd)
		}
		out = append(out, n)
	}
	return out, nil
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

func (r *runner) scenario(j job, p plan) (*loadgen.Result, error) {
	r.n++
	data := filepath.Join(r.work, fmt.Sprintf("data-%d", r.n))
	var l *layout
	var err error
	switch {
	case j.floor && j.scenario == "idle50k":
		l, err = startRelays(r.ctx, manyInstances)
	case j.floor:
		l, err = startRelay(r.ctx)
	case j.scenario == "idle50k":
		l, err = startSplit(r.ctx, r.bin, data, manyInstances)
	case j.scenario == "interview-split" || j.scenario == "ramp":
		l, err = startSplit(r.ctx, r.bin, data, 2)
	default:
		l, err = startAllInOne(r.ctx, r.bin, data, j.env)
	}
	if err != nil {
		return nil, err
	}
	defer l.stop()
	defer r.prof.wg.Wait() // profiles in flight finish before the servers stop
	fmt.Fprintf(r.log, "== %s on %s\n", j, l.name)
	opts := l.opts
	opts.Sources, opts.Concurrency, opts.DialRetries, opts.Progress = 16, 64, 5, r.log
	// Every run that has a floor beside it speaks Socket.IO with fullCode
	// deltas, as the relay does (the crowd: ops, which it transforms).
	opts.Framing, opts.DeltaFormat = loadgen.FramingSocketIO, "fullCode"
	// The floor serves no profiles. The split layout's heap is also taken
	// at the window's start: an instance once held 467 MiB there.
	opts.OnWindow = r.prof.hook(r.ctx, l, j.profileTag(), j.scenario != "idle", j.scenario == "interview-split")
	if j.unprofiled {
		opts.OnWindow = nil
	}
	switch j.scenario {
	case "rest":
		opts.OnWindow = nil
		return tag(loadgen.REST(r.ctx, opts, p.rest))(l)
	case "idle":
		return tag(loadgen.Idle(r.ctx, opts, p.idle))(l)
	case "interview-local", "interview-split":
		res, err := loadgen.Interview(r.ctx, opts, p.interview)
		if err == nil {
			res.Run = j.run
			note := "the floor of target 4, once, before its pairs"
			if !j.floor {
				side := "the all-in-one's window"
				if j.scenario == "interview-split" {
					side = "the split layout's window"
				}
				note = fmt.Sprintf("pair %d of %d of target 4 (all-in-one, then split): %s", j.run, j.pairs, side)
				if !j.unprofiled {
					note += ", profiled"
				}
			}
			res.Notes = append(res.Notes, note)
		}
		return tag(res, err)(l)
	case "interview-light":
		opts.WatchRSS, opts.RSSEvery = l.watched(), rssEvery(time.Duration(p.light.Duration))
		res, err := loadgen.InterviewLight(r.ctx, opts, p.light)
		if err == nil {
			res.Run = j.run
			side := "pairpad's window"
			if j.floor {
				side = "the floor's window"
			}
			if !j.floor && !j.unprofiled {
				side += ", the one profiled"
			}
			res.Notes = append(res.Notes, fmt.Sprintf("pair %d of %d of target 1 (floor, then pairpad): %s", j.run, j.pairs, side))
		}
		return tag(res, err)(l)
	case "interview-ab":
		// No profiles: the two sides are compared on what they cost alone.
		opts.OnWindow = nil
		res, err := loadgen.InterviewLight(r.ctx, opts, p.ab)
		if err == nil {
			res.Scenario, res.Variant, res.Run = "interview-ab", "A: the defaults", j.run
			if j.variant == "B" {
				res.Variant = "B: " + strings.Join(j.env, " ")
			}
		}
		return tag(res, err)(l)
	case "memory":
		opts.WatchRSS, opts.RSSEvery = l.watched(), rssEvery(time.Duration(p.memory.Duration))
		res, err := loadgen.InterviewLight(r.ctx, opts, p.memory)
		if err == nil {
			res.Scenario = "memory"
			res.Notes = append(res.Notes, "interview-light's load, for the memory target: RSS sampled over the window")
		}
		return tag(res, err)(l)
	case "crowd":
		opts.DeltaFormat = "ops"
		cp := p.crowd
		cp.Users = j.users
		return tag(loadgen.Crowd(r.ctx, opts, cp))(l)
	case "ramp":
		opts.OnWindow = nil
		return tag(loadgen.Ramp(r.ctx, opts, p.ramp))(l)
	case "idle50k":
		// The generator runs as processes of its own, which say when
		// their window starts: the realtime instances are profiled then.
		var onWindow func(string, time.Duration)
		if !j.floor {
			onWindow = opts.OnWindow
		}
		return tag(r.many(l, p.many, j.floor, onWindow))(l)
	}
	return nil, fmt.Errorf("unknown scenario %q", j.scenario)
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

// parseServerEnv reads -server-env: comma-separated KEY=VALUE pairs.
func parseServerEnv(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var env []string
	for _, kv := range strings.Split(s, ",") {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("-server-env: %q is not KEY=VALUE", kv)
		}
		env = append(env, kv)
	}
	return env, nil
}
