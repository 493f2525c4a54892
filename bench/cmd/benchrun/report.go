package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// Report is everything one `make bench` run produced.
type Report struct {
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Quick   bool      `json:"quick,omitempty"`
	// Command is how the run was started: benchrun's arguments.
	Command string `json:"command,omitempty"`
	// ServerEnv is what every server process got on top of its defaults
	// (the shared token secret left out).
	ServerEnv []string          `json:"serverEnv,omitempty"`
	Machine   Machine           `json:"machine"`
	Targets   []Target          `json:"targets"`
	Results   []*loadgen.Result `json:"results"`
	Profiles  []Profile         `json:"profiles,omitempty"`
	Notes     []string          `json:"notes,omitempty"`
	// LightPairsRun is how many pairs of interview-light windows the run
	// planned (0: interview-light was not asked for); Light is target 1's
	// figure from them, each window's and the medians.
	LightPairsRun int    `json:"lightPairsRun,omitempty"`
	Light         *Pairs `json:"lightPairs,omitempty"`
	// HeavyPairsRun and Heavy are the same for target 4: the heavy
	// interview's pairs of windows, the all-in-one's and the split's.
	HeavyPairsRun int    `json:"heavyPairsRun,omitempty"`
	Heavy         *Pairs `json:"heavyPairs,omitempty"`
}

// Target is one of issue 16's targets and what the run measured for it.
type Target struct {
	// ID is the number for the target, "1" to "6"; empty for a
	// figure that is no target of its own (the ramp).
	ID       string `json:"id,omitempty"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
	// Status is statusMet, statusMissed, statusInconclusive or
	// statusUnmeasured.
	Status string `json:"status"`
}

// A target's status.
const (
	statusMet          = "met"
	statusMissed       = "not met"
	statusInconclusive = "not conclusive" // other work spoilt a comparison
	statusUnmeasured   = "not measured"   // not run, or not at the target's size
)

func (r *Report) stamp() string { return r.Started.Format("2006-01-02-1504") }

// isFloor reports whether res ran against the bare relay.
func isFloor(res *loadgen.Result) bool { return strings.HasPrefix(res.Layout, "relay") }

// find returns the result of scenario on the layout whose name starts with
// prefix ("relay" is the floor).
func (r *Report) find(scenario, prefix string) *loadgen.Result {
	for _, res := range r.Results {
		if res.Scenario == scenario && strings.HasPrefix(res.Layout, prefix) {
			return res
		}
	}
	return nil
}

// crowdSteps returns the crowd results against pairpad and against the
// floor, each by crowd size (its users), in the order they ran.
func (r *Report) crowdSteps() (pairpad, floor map[int]*loadgen.Result, sizes []int) {
	pairpad, floor = map[int]*loadgen.Result{}, map[int]*loadgen.Result{}
	for _, res := range r.Results {
		if res.Scenario != "crowd" || res.Traffic == nil || res.Connect == nil {
			continue
		}
		n := res.Connect.Attempted // one user per connection: the crowd's size
		if isFloor(res) {
			floor[n] = res
		} else {
			pairpad[n] = res
		}
		if !slices.Contains(sizes, n) {
			sizes = append(sizes, n)
		}
	}
	slices.Sort(sizes)
	return pairpad, floor, sizes
}

// Issue 16's targets.
const (
	lightRatioGoal  = 3.0       // 1: pairpad's p99 over the floor's
	lightP99Goal    = 10.0      // 1: ms
	idleRSSGoal     = 16 * 1024 // 2: bytes per connection
	idleRSSMoonshot = 10 * 1024
	memRSSGoal      = 250e6            // 3: bytes (250 MB) after 10 minutes
	memGrowGoal     = 5.0              // 3: percent over the last 5 minutes
	memWindow       = 10 * time.Minute // 3: the window the memory target is stated for
	heavyP99Goal    = 50.0             // 4: ms, all-in-one
	splitRatioGoal  = 2.0              // 4: split p99 over the all-in-one's
	manyP99Goal     = 100.0            // 5: ms, below
	crowdP99Limit   = 50.0             // 6: ms: the crowd's ceiling
)

// busyOthers is how much CPU (100 = one core) other work on the machine may
// take during a window before a ratio of two runs' p99s means nothing.
const busyOthers = 50.0

// othersCPU is the machine's CPU during res's window that was neither the
// servers' nor the generator's.
func othersCPU(res *loadgen.Result) float64 {
	if res == nil || res.Traffic == nil {
		return 0
	}
	return max(0, res.Traffic.MachineCPUPercent-res.Loadgen.CPUPercent-serverCPU(res))
}

// inconclusive says, when other work took more than busyOthers during any
// of the windows compared, that the comparison is not conclusive.
func inconclusive(runs ...*loadgen.Result) string {
	var parts []string
	busy := false
	for _, res := range runs {
		o := othersCPU(res)
		busy = busy || o > busyOthers
		if res != nil {
			parts = append(parts, fmt.Sprintf("%.0f%% (%s)", o, res.Layout))
		}
	}
	if !busy {
		return ""
	}
	return "; not conclusive: other work took " + strings.Join(parts, ", ") + " CPU (100% = one core) during the windows compared"
}

// refusals counts the error events a window's clients received, and what
// the set-up refused.
func refusals(res *loadgen.Result) int64 {
	var n int64
	if res.Traffic != nil {
		for k, v := range res.Traffic.Errors {
			if !strings.HasPrefix(k, "info:") {
				n += v
			}
		}
	}
	if res.Connect != nil {
		for _, v := range res.Connect.Errors {
			n += v
		}
	}
	return n
}

func interviewParams(res *loadgen.Result) (loadgen.InterviewParams, bool) {
	p, ok := res.Params.(loadgen.InterviewParams)
	return p, ok
}

// lat renders a latency summary's p50 and p99.
func lat(s loadgen.Summary) string { return fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", s.P50, s.P99) }

// targets states every target of issue 16, measured or not, and the ramp
// when it ran.
func (r *Report) targets() []Target {
	out := []Target{r.target1(), r.target2(), r.target3(), r.target4(), r.target5(), r.target6()}
	if res := r.find("ramp", ""); res != nil {
		t := Target{Goal: "ramp: highest interview load with p99 ≤ 50 ms", Measured: "no step held", Status: statusMissed}
		if h := res.HighestHeld; h != nil {
			t.Measured = fmt.Sprintf("%d sessions (%d connections): %.0f events sent/s, %.0f delivered/s at p99 %.2f ms",
				h.Sessions, h.Connections, h.Traffic.SentPerSec, h.Traffic.DeliveredPerSec, h.Traffic.Latency["all"].P99)
			t.Met, t.Status = true, statusMet
		}
		out = append(out, t)
	}
	return out
}

// unmeasured says why the target has no figure in this run.
func (t Target) unmeasured(why string) Target {
	t.Measured, t.Status = why, statusUnmeasured
	return t
}

// settle fills Status from the checks: unmeasured wins, then a missed
// check, then a comparison spoilt by other work.
func (t *Target) settle(unmeasured bool, met bool, spoilt string) {
	switch {
	case unmeasured:
		t.Status = statusUnmeasured
	case !met:
		t.Status = statusMissed
	case spoilt != "":
		t.Status = statusInconclusive
	default:
		t.Met, t.Status = true, statusMet
	}
	t.Measured += spoilt
}

// target2: idle memory per Socket.IO connection at 10,000.
func (r *Report) target2() Target {
	t := Target{ID: "2", Goal: fmt.Sprintf("idle: ≤ 16 KiB RSS per open Socket.IO connection at %s connections (moonshot ≤ 10 KiB)", "10,000")}
	res := r.find("idle", "all-in-one")
	if res == nil || res.Memory == nil {
		return t.unmeasured("idle did not run against the all-in-one")
	}
	m := res.Memory
	t.Measured = idleText(m)
	if m.RSSPerConn <= idleRSSMoonshot {
		t.Measured += "; the moonshot is met too"
	}
	if f := r.find("idle", "relay"); f != nil && f.Memory != nil {
		t.Measured += "; floor (bare relay): " + idleText(f.Memory)
	}
	// Without a GC cycle of the server's own the figure is no steady
	// state; after one, RSS only falls further as the scavenger returns
	// memory, so a reading while it still fell is an upper bound.
	cycled := m.Steady == nil || m.Steady.Reached || m.Steady.GCSeconds >= 0
	if m.Steady != nil && !m.Steady.Reached {
		t.Measured += " (no steady state: " + m.Steady.Why
		if cycled {
			t.Measured += "; the figure is an upper bound"
		}
		t.Measured += ")"
	}
	small := m.Connections < idleConnsGoal
	if small {
		t.Measured += fmt.Sprintf(" (%d connections: the target is stated for %d)", m.Connections, idleConnsGoal)
	}
	t.settle(small || !cycled, m.RSSPerConn <= idleRSSGoal && len(res.Failures) == 0, "")
	return t
}

// idleText renders idle memory per connection: the steady state the target
// is judged on (or the reading at the end of the hold when none was waited
// for), and the transient right after the connections were up.
func idleText(m *loadgen.Memory) string {
	when := fmt.Sprintf("after %.0f s", m.HoldSeconds)
	if m.Steady != nil && m.Steady.Reached {
		when = fmt.Sprintf("steady state, %.0f s after the connections were up, after the server's own GC cycle", m.HoldSeconds)
	}
	out := fmt.Sprintf("**%.1f KiB RSS** (%.1f KiB Go heap in use, %.1f KiB goroutine stacks) per connection (%s), %d of %d alive",
		m.RSSPerConn/1024, m.HeapPerConn/1024, m.StackPerConn/1024, when, m.Alive, m.Connections)
	if tr := m.Transient; tr != nil {
		out += fmt.Sprintf("; right after the connections were up: %.1f KiB RSS (%.1f KiB heap, %.1f KiB stacks)", tr.RSS/1024, tr.Heap/1024, tr.Stack/1024)
	}
	return out
}

// target3: RSS after 10 minutes of interview-light, and its growth over
// the last 5.
func (r *Report) target3() Target {
	t := Target{ID: "3", Goal: fmt.Sprintf("memory under edits: after %g minutes of interview-light 1,000×3, all-in-one RSS ≤ 250 MB and growing < %g%% over the last %g",
		memWindow.Minutes(), memGrowGoal, memWindow.Minutes()/2)}
	res := r.find("memory", "all-in-one")
	if res == nil {
		res = r.lastLight() // a shorter window says something
	}
	var series *loadgen.RSSSeries
	if res != nil {
		for i := range res.RSS {
			if res.RSS[i].Name == "all-in-one" {
				series = &res.RSS[i]
			}
		}
	}
	if series == nil || series.FinalBytes == 0 {
		return t.unmeasured("no RSS readings of the all-in-one under interview-light (run `benchrun -only memory`)")
	}
	p, _ := interviewParams(res)
	window := time.Duration(series.WindowSeconds * float64(time.Second))
	t.Measured = fmt.Sprintf("%d×%d for %s: **%.0f MB** (%.0f MiB) at the end, %.0f MB at the middle: **%+.1f%%** over the last %s; %d failures",
		p.Sessions, p.Users, window, float64(series.FinalBytes)/1e6, float64(series.FinalBytes)/(1<<20),
		float64(series.MidBytes)/1e6, series.GrowthLastHalfPercent, window/2, len(res.Failures))
	t.Measured += r.memorySplit(res)
	short := window < memWindow || p.Sessions < lightSessions
	if short {
		t.Measured += fmt.Sprintf(" (the target is stated for %g minutes at %d sessions: `benchrun -only memory`)", memWindow.Minutes(), lightSessions)
	}
	t.settle(short, series.FinalBytes <= memRSSGoal && series.GrowthLastHalfPercent < memGrowGoal && len(res.Failures) == 0, "")
	return t
}

// memorySplit says what the all-in-one's RSS at the end of res's window
// held: the heap live at the last GC (the heap profile taken a second
// before the window's end), the heap in use, the free heap the runtime
// kept, the stacks, and the heap goal: what is live and what is headroom.
func (r *Report) memorySplit(res *loadgen.Result) string {
	var rt *loadgen.RuntimeMemory
	for _, s := range res.Servers {
		if s.Name == "all-in-one" {
			rt = s.Runtime
		}
	}
	if rt == nil {
		return ""
	}
	mb := func(v float64) string { return fmt.Sprintf("%.0f MB", v/1e6) }
	out := fmt.Sprintf(". At the end, RSS %s: Go heap in use %s", mb(float64(rt.RSS)), mb(float64(rt.HeapInuse)))
	tag := res.Scenario
	if live := r.liveHeap(tag, "all-in-one"); live > 0 {
		out += fmt.Sprintf(" (**%s live** at the last GC, from the heap profile; the rest of the heap in use is garbage not yet collected and partly filled spans)", mb(live))
	}
	limit := "no GOMEMLIMIT"
	if rt.MemoryLimit > 0 {
		limit = "GOMEMLIMIT " + mb(float64(rt.MemoryLimit))
	}
	out += fmt.Sprintf(", free heap kept %s, goroutine stacks %s, the rest (runtime, binary) %s; heap goal %s (GOGC=%.0f, %s)",
		mb(float64(rt.HeapKept)), mb(float64(rt.Stacks)), mb(float64(max(0, rt.RSS-rt.HeapInuse-rt.HeapKept-rt.Stacks))),
		mb(float64(rt.HeapGoal)), rt.GOGC, limit)
	return out
}

// liveHeap is the heap live at the last GC before the heap profile of
// process taken during the scenario tagged tag: the profile's inuse_space
// total (sampled), as `go tool pprof -top` prints it; 0 without one.
func (r *Report) liveHeap(tag, process string) float64 {
	for _, p := range r.Profiles {
		if p.Scenario == tag && p.Process == process && p.Kind == "heap" {
			return pprofTotal(p.Top)
		}
	}
	return 0
}

// pprofTotal reads "of 127.36MB total" from `go tool pprof -top` (binary
// units, as pprof prints them).
func pprofTotal(top string) float64 {
	head, _, ok := strings.Cut(top, " total")
	f := strings.Fields(head)
	if !ok || len(f) < 2 || f[len(f)-2] != "of" {
		return 0
	}
	tok := f[len(f)-1]
	num := strings.TrimRight(tok, "kMGTB")
	v, err := strconv.ParseFloat(num, 64)
	scale := map[string]float64{"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[tok[len(num):]]
	if err != nil || scale == 0 {
		return 0
	}
	return v * scale
}

// target5: 50,000 connections over three realtime instances, each
// receiving a periodic cursor fan-out.
func (r *Report) target5() Target {
	t := Target{ID: "5", Goal: fmt.Sprintf("%s connections over %d realtime instances (several generator processes), every connection receiving a periodic cursor fan-out: p99 < %g ms",
		"50,000", manyInstances, manyP99Goal)}
	res := r.find("idle50k", "split")
	if res == nil || res.Connect == nil || res.Traffic == nil {
		return t.unmeasured("idle50k did not run")
	}
	instances := res.Instances
	l := res.Traffic.Latency["cursor-update"]
	t.Measured = fmt.Sprintf("%d of %d connected over %d realtime instances; cursor fan-out %s over %d receipts, %d of %d deliveries lost; %d failures",
		res.Connect.Connected, res.Connect.Attempted, instances, lat(l), l.Count, res.Traffic.Lost, res.Traffic.Expected, len(res.Failures))
	if f := r.find("idle50k", "relay"); f != nil && f.Traffic != nil && f.Connect != nil {
		fl := f.Traffic.Latency["cursor-update"]
		t.Measured += fmt.Sprintf("; floor (%d bare relays, the same connections and generator processes, each session on one relay: no hop between instances) %s, %d of %d connected, %d of %d lost",
			f.Instances, lat(fl), f.Connect.Connected, f.Connect.Attempted, f.Traffic.Lost, f.Traffic.Expected)
	}
	t.Measured += "; " + tailText(res)
	small := res.Connect.Attempted < manyConnsGoal || instances < manyInstances
	if small {
		t.Measured += fmt.Sprintf(" (the target is stated for %d connections over %d instances)", manyConnsGoal, manyInstances)
	}
	t.settle(small, res.Connect.Connected >= res.Connect.Attempted && l.Count > 0 && l.P99 < manyP99Goal &&
		res.Traffic.Lost == 0 && len(res.Failures) == 0, "")
	return t
}

// tailText says what explains idle50k's tail: how late the generator's
// timers fired (the latency is measured on its clock), where the machine's
// CPU went, and the instances' own share of the fan-out (from the
// publication on one instance to the send queues of another).
func tailText(res *loadgen.Result) string {
	var cpu []string
	var share string
	var worst *loadgen.BucketQuantiles // the instance whose share has the longest tail
	for _, s := range res.Servers {
		if s.Name == "api" || s.Name == "janitor" {
			continue
		}
		cpu = append(cpu, fmt.Sprintf("%s %.0f %%", s.Name, s.CPUPercent))
		if f := s.Fanout; f != nil && (worst == nil || f.P99Ms > worst.P99Ms || f.Beyond && !worst.Beyond) {
			worst = f
			share = fmt.Sprintf("the instances' share of the fan-out (NATS and dispatch), at worst %s's: %s", s.Name, f.Text())
		}
	}
	out := fmt.Sprintf("the tail beside what explains it: generator timer lag p99 %.2f ms; machine %.0f %% (%s; generator %.0f %%; other work %.0f %%)",
		res.Traffic.TimerLag.P99, res.Traffic.MachineCPUPercent, strings.Join(cpu, ", "), res.Loadgen.CPUPercent, othersCPU(res))
	if share != "" {
		out += "; " + share
	}
	return out
}

// crowdCeiling is the largest crowd size whose p99 stayed within
// crowdP99Limit, 0 when none did, and the first size beyond it.
func crowdCeiling(steps map[int]*loadgen.Result, sizes []int) (held, over int) {
	for _, n := range sizes {
		res := steps[n]
		if res == nil {
			continue
		}
		if res.Traffic.Latency["all"].P99 > crowdP99Limit {
			return held, n
		}
		held = n
	}
	return held, 0
}

// ceilingText says where the crowd's ceiling is among the steps run.
func ceilingText(steps map[int]*loadgen.Result, sizes []int) string {
	p99 := func(n int) float64 { return steps[n].Traffic.Latency["all"].P99 }
	held, over := crowdCeiling(steps, sizes)
	switch {
	case held == 0 && over == 0:
		return "no step ran"
	case held == 0:
		return fmt.Sprintf("below %d users (p99 %.2f ms there)", over, p99(over))
	case over == 0:
		return fmt.Sprintf("%d users or more, the largest step (p99 %.2f ms)", held, p99(held))
	}
	return fmt.Sprintf("%d users (p99 %.2f ms; %d users: %.2f ms)", held, p99(held), over, p99(over))
}

// serverCPU is the servers' CPU during res's window (100 = one core).
func serverCPU(res *loadgen.Result) float64 {
	var c float64
	for _, s := range res.Servers {
		c += s.CPUPercent
	}
	return c
}

// cpuSplit is where the CPU went during a window: the servers, the
// generator and everything else, of the machine's cores.
func cpuSplit(res *loadgen.Result) string {
	return fmt.Sprintf("server %.0f%%, generator %.0f%%, everything else %.0f%% of the machine's %.0f%% (100%% = one core)",
		serverCPU(res), res.Loadgen.CPUPercent, othersCPU(res), res.Traffic.MachineCPUPercent)
}

// target6: the crowd of 300 converges with the generator reconnecting;
// the crowd's ceiling and what bounds it.
func (r *Report) target6() Target {
	t := Target{ID: "6", Goal: fmt.Sprintf("overload degrades latency, never correctness: a crowd of %d (one session, every user typing 2 ops updates + 2 cursor moves/s) converges, the generator reconnecting like a real client; the crowd's ceiling (largest size with p99 ≤ %g ms) and the CPU split that bounds it",
		crowdUsersGoal, crowdP99Limit)}
	pairpad, floor, sizes := r.crowdSteps()
	if len(pairpad) == 0 {
		return t.unmeasured("the crowd did not run against the all-in-one")
	}
	top := 0
	for n := range pairpad {
		top = max(top, n)
	}
	res := pairpad[top]
	tr := res.Traffic
	conv := res.Convergence
	converged := conv != nil && conv.Converged
	lostCode := tr.LostCode
	agree := "no convergence check"
	if conv != nil {
		agree = fmt.Sprintf("%d of %d clients hold the server's text", conv.Agreeing, conv.Clients)
	}
	t.Measured = fmt.Sprintf("%d users: converged=%v (%s), %d reconnections, %d code-update deliveries lost, %d updates never acknowledged, %d refusals; %s",
		top, converged, agree, tr.Reconnects, lostCode, tr.PendingAcks, refusals(res), lat(tr.Latency["all"]))
	held, over := crowdCeiling(pairpad, sizes)
	t.Measured += ". **Ceiling: " + ceilingText(pairpad, sizes) + "**"
	if len(floor) > 0 {
		t.Measured += "; the floor's: " + ceilingText(floor, sizes)
	}
	// What bounds the ceiling shows at the first step beyond it.
	bound := over
	if bound == 0 {
		bound = held
	}
	if res := pairpad[bound]; res != nil {
		t.Measured += fmt.Sprintf(". CPU at %d users: %s", bound, cpuSplit(res))
	}
	small := top < crowdUsersGoal
	if small {
		t.Measured += fmt.Sprintf(" (the target is stated for %d users)", crowdUsersGoal)
	}
	t.settle(small, converged && lostCode == 0 && tr.PendingAcks == 0, "")
	return t
}

// plot renders the PNGs into dir; the names are stable so the docs can
// link them.
func (r *Report) plot(dir string) error {
	sub := fmt.Sprintf("%s, %d × %s, %s", r.Started.Format("2006-01-02"), r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion)
	var errs []string
	if ramp := r.find("ramp", ""); ramp != nil && len(ramp.Steps) > 0 {
		limit := 50.0
		if p, ok := ramp.Params.(loadgen.RampParams); ok {
			limit = float64(time.Duration(p.P99Limit).Microseconds()) / 1e3
		}
		if err := plotRamp(filepath.Join(dir, "ramp-latency.png"), sub+", "+ramp.Layout, ramp.Steps, limit); err != nil {
			errs = append(errs, err.Error())
		}
	}
	// The crowd has its own plots: the scenario plot keeps its first step
	// against pairpad. The pairs of targets 1 and 4 have theirs too: it
	// keeps the pair whose ratio is the median (and the heavy floor).
	var scenarios []*loadgen.Result
	firstCrowd := true
	light, heavy := r.lightPairs(), r.heavyPairs()
	for _, res := range r.Results {
		if lp := map[string]*Pairs{"interview-light": light, "interview": heavy}[res.Scenario]; lp != nil && lp.MedianPair != 0 && res.Run > 0 && res.Run != lp.MedianPair {
			continue
		}
		if res.Scenario == "crowd" {
			if isFloor(res) || !firstCrowd {
				continue
			}
			firstCrowd = false
		}
		scenarios = append(scenarios, res)
	}
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	keep(plotScenarios(filepath.Join(dir, "latency-by-scenario.png"), sub, scenarios))
	if light != nil && len(light.Pairs) > 0 {
		keep(plotPairs(filepath.Join(dir, "interview-light-pairs.png"),
			"Target 1: interview-light, code-update latency, every window (floor, then pairpad, alternating)\n"+sub, light,
			pairsLimit{fmt.Sprintf("target: pairpad p99 ≤ %g ms", lightP99Goal), lightP99Goal}))
	}
	if heavy != nil && len(heavy.Pairs) > 0 {
		keep(plotPairs(filepath.Join(dir, "interview-heavy-pairs.png"),
			"Target 4: the heavy interview, latency of every event, every window (all-in-one, then split, alternating)\n"+sub, heavy,
			pairsLimit{fmt.Sprintf("target: all-in-one p99 ≤ %g ms", heavyP99Goal), heavyP99Goal},
			pairsLimit{fmt.Sprintf("target: split p99 ≤ %g× the all-in-one's median", splitRatioGoal), splitRatioGoal * heavy.MedianP99[0]}))
	}
	if rows := r.floorRows(); len(rows) > 0 {
		keep(plotFloor(filepath.Join(dir, "floor-vs-pairpad.png"), sub, rows))
	}
	if pairpad, floor, sizes := r.crowdSteps(); len(sizes) > 0 {
		keep(plotCrowd(filepath.Join(dir, "crowd-ceiling.png"), sub, pairpad, floor, sizes))
		keep(plotCrowdCPU(filepath.Join(dir, "crowd-cpu.png"), sub, pairpad, floor, sizes))
	}
	mem := r.find("memory", "all-in-one")
	if mem == nil {
		mem = r.lastLight()
	}
	if mem != nil && len(mem.RSS) > 0 {
		keep(plotRSS(filepath.Join(dir, "memory-rss.png"), fmt.Sprintf("%s, %s", sub, mem.Scenario), mem.RSS))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// write saves <stamp>.json and <stamp>.md into dir.
func (r *Report) write(dir string) (string, string, error) {
	r.Targets, r.Light, r.Heavy = r.targets(), r.lightPairs(), r.heavyPairs()
	base := filepath.Join(dir, r.stamp())
	if r.Quick {
		base += "-quick"
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".json", append(raw, '\n'), 0o644); err != nil {
		return "", "", err
	}
	var b strings.Builder
	r.markdown(&b)
	if err := os.WriteFile(base+".md", []byte(b.String()), 0o644); err != nil {
		return "", "", err
	}
	return base + ".json", base + ".md", nil
}

// crowdTable writes the crowd's steps, the floor beside pairpad.
func (r *Report) crowdTable(b *strings.Builder) {
	pairpad, floor, sizes := r.crowdSteps()
	if len(sizes) == 0 {
		return
	}
	b.WriteString("## Crowd steps (target 6)\n\nOne session, every user typing 2 ops updates and moving its cursor twice a second; latency of every event from send to each receiver; CPU over the window, 100 % = one core.\n\n")
	b.WriteString("| users | floor p50 | floor p99 | floor CPU | pairpad p50 | pairpad p99 | delivered/s | pairpad server CPU | generator CPU | machine CPU | reconnections | converged |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, n := range sizes {
		row := []string{fmt.Sprint(n)}
		if f := floor[n]; f != nil {
			l := f.Traffic.Latency["all"]
			row = append(row, fmt.Sprintf("%.2f ms", l.P50), fmt.Sprintf("%.2f ms", l.P99), fmt.Sprintf("%.0f %%", serverCPU(f)))
		} else {
			row = append(row, "", "", "")
		}
		if p := pairpad[n]; p != nil {
			l := p.Traffic.Latency["all"]
			conv := p.Convergence != nil && p.Convergence.Converged
			row = append(row, fmt.Sprintf("%.2f ms", l.P50), fmt.Sprintf("%.2f ms", l.P99), fmt.Sprintf("%.0f", p.Traffic.DeliveredPerSec),
				fmt.Sprintf("%.0f %%", serverCPU(p)), fmt.Sprintf("%.0f %%", p.Loadgen.CPUPercent), fmt.Sprintf("%.0f %%", p.Traffic.MachineCPUPercent),
				fmt.Sprint(p.Traffic.Reconnects), fmt.Sprint(conv))
		} else {
			row = append(row, "", "", "", "", "", "", "", "")
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
	}
	b.WriteString("\n")
}

// abSide is one side of the A/B: its runs in the order they ran.
type abSide struct {
	name string
	runs []*loadgen.Result
}

// abSides returns the A/B's runs by side, A first.
func (r *Report) abSides() []abSide {
	var sides []abSide
	for _, res := range r.Results {
		if res.Scenario != "interview-ab" || res.Traffic == nil {
			continue
		}
		i := slices.IndexFunc(sides, func(s abSide) bool { return s.name == res.Variant })
		if i < 0 {
			sides = append(sides, abSide{name: res.Variant})
			i = len(sides) - 1
		}
		sides[i].runs = append(sides[i].runs, res)
	}
	return sides
}

// median is the middle value (the mean of the two middle ones for an even
// count) of what f reads from each run.
func median(runs []*loadgen.Result, f func(*loadgen.Result) float64) float64 {
	v := make([]float64, len(runs))
	for i, res := range runs {
		v[i] = f(res)
	}
	return medianOf(v)
}

// abTable writes the A/B: every run, then each side's medians.
func (r *Report) abTable(b *strings.Builder) {
	sides := r.abSides()
	if len(sides) == 0 {
		return
	}
	first := sides[0].runs[0]
	p, _ := interviewParams(first)
	fmt.Fprintf(b, "## A/B of the all-in-one's settings (interview-ab)\n\ninterview-light's load, %d×%d (one typist at 2 fullCode updates/s, two users moving their cursors at 2/s), a %s window after %s of warmup per run, fresh servers for each run, A and B alternating; no profiles taken. Code-update latency from send to each receiver; CPU over the window, 100 %% = one core.\n\n",
		p.Sessions, p.Users, time.Duration(p.Duration), time.Duration(p.Warmup))
	b.WriteString("| side | run | code-update p50 | code-update p99 | all events p99 | server CPU | generator CPU | everything else | failures |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	p50 := func(res *loadgen.Result) float64 { return res.Traffic.Latency["code-update"].P50 }
	p99 := func(res *loadgen.Result) float64 { return res.Traffic.Latency["code-update"].P99 }
	for _, res := range r.Results {
		if res.Scenario != "interview-ab" || res.Traffic == nil {
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %.2f ms | %.2f ms | %.2f ms | %.0f %% | %.0f %% | %.0f %% | %d |\n", res.Variant, res.Run, p50(res), p99(res),
			res.Traffic.Latency["all"].P99, serverCPU(res), res.Loadgen.CPUPercent, othersCPU(res), len(res.Failures))
	}
	b.WriteString("\n| side | runs | median code-update p50 | median code-update p99 | median server CPU |\n|---|---:|---:|---:|---:|\n")
	for _, s := range sides {
		fmt.Fprintf(b, "| %s | %d | %.2f ms | %.2f ms | %.0f %% |\n", s.name, len(s.runs), median(s.runs, p50), median(s.runs, p99), median(s.runs, serverCPU))
	}
	if len(sides) == 2 {
		a, bb := sides[0].runs, sides[1].runs
		fmt.Fprintf(b, "\nB over A, medians: p50 %.2f×, p99 %.2f×, server CPU %.2f×.",
			median(bb, p50)/max(median(a, p50), 0.001), median(bb, p99)/max(median(a, p99), 0.001), median(bb, serverCPU)/max(median(a, serverCPU), 0.001))
		if spoilt := inconclusive(append(slices.Clone(a), bb...)...); spoilt != "" {
			b.WriteString(" Not conclusive: other work took more than half a core during a window.")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func (r *Report) markdown(b *strings.Builder) {
	m := r.Machine
	fmt.Fprintf(b, "# Benchmark run %s\n\n", r.Started.Format("2006-01-02 15:04 UTC"))
	end := r.Started.Add(time.Duration(r.Seconds * float64(time.Second)))
	fmt.Fprintf(b, "- **When**: %s to %s UTC, %.1f minutes in all (builds, server starts and waits for a quiet machine included).\n",
		r.Started.Format("2006-01-02 15:04"), end.Format("15:04"), r.Seconds/60)
	if r.Command != "" {
		fmt.Fprintf(b, "- **Command**: `%s`", r.Command)
		if r.Quick {
			b.WriteString(" (`-quick`: tiny sizes that check the runner, not the servers)")
		}
		b.WriteString(".\n")
	}
	if m.Commit != "" {
		fmt.Fprintf(b, "- **Code**: the servers were built from commit %s", m.Commit)
		if m.Dirty {
			b.WriteString(" **plus uncommitted changes** to tracked files")
		}
		b.WriteString(" of this repository.\n")
	}
	fmt.Fprintf(b, "- **Machine**: %d × %s, %.1f GiB RAM, Linux %s, %s, RLIMIT_NOFILE hard limit %d, load average %.2f at the start. The load generator runs on the same machine as the servers, so the CPU figures say what each side took.\n",
		m.CPUs, m.CPUModel, float64(m.MemoryBytes)/(1<<30), m.Kernel, m.GoVersion, m.FileLimit, m.LoadAverage)
	if len(r.ServerEnv) > 0 {
		fmt.Fprintf(b, "- **Server settings** on top of the defaults, for every server process: `%s`.\n", strings.Join(r.ServerEnv, " "))
	}
	b.WriteString("- **How to read it**: every scenario ran on freshly started servers with the settings above. " +
		"**The floor** is `bench/relay`, a bare Go Socket.IO room relay (no NATS, no OT, no checks), run in the same run before pairpad on the same load. " +
		"Latencies are from a client's send to each other member's receipt, on the generator's clock; CPU is over the measured window, 100 % = one core; " +
		"\"everything else\" is CPU neither the servers nor the generator used. Memory comes from each server's /metrics (RSS, and the Go runtime's accounts). " +
		"Scenario names: `interview` is the heavy interview (`-only interview-local` and `interview-split`), `memory` is interview-light's load for the memory target, `interview-ab` an A/B of the all-in-one's settings; see docs/benchmarks.md, \"What make bench measures\".\n\n")
	if len(r.Targets) > 0 {
		b.WriteString("| issue 16 target | goal | measured | status |\n|---|---|---|---|\n")
		for _, t := range r.Targets {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", t.ID, t.Goal, t.Measured, t.Status)
		}
		b.WriteString("\n")
	}
	r.pairsTables(b)
	r.crowdTable(b)
	r.abTable(b)
	b.WriteString("## Scenarios\n\n")
	_ = loadgen.WriteMarkdown(b, r.Results)
	if len(r.Profiles) > 0 {
		b.WriteString("## Profiles\n\n`go tool pprof -top` of each profile taken while the servers were loaded.\n\n")
		for _, p := range r.Profiles {
			fmt.Fprintf(b, "<details><summary>%s, %s, %s</summary>\n\n```\n%s\n```\n\n</details>\n\n", p.Scenario, p.Process, p.Kind, p.Top)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "- note: %s\n", n)
	}
}
