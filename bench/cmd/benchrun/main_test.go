package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
	"github.com/pairpad/pairpad/shared/process/spawn"
)

func TestPick(t *testing.T) {
	for _, tc := range []struct {
		only    string
		want    []string
		wantErr bool
	}{
		{"", []string{"rest", "idle", "interview-local", "interview-split", "interview-light", "memory", "crowd", "idle50k"}, false},
		{"ramp", []string{"ramp"}, false},
		{"interview-ab", []string{"interview-ab"}, false},
		{"idle, crowd", []string{"idle", "crowd"}, false},
		{"idle,nope", nil, true},
	} {
		t.Run(tc.only, func(t *testing.T) {
			got, err := pick(tc.only)
			if (err != nil) != tc.wantErr {
				t.Fatalf("pick(%q) error = %v", tc.only, err)
			}
			if tc.wantErr {
				return
			}
			for _, n := range scenarioNames {
				if want := slices.Contains(tc.want, n); got[n] != want {
					t.Errorf("pick(%q)[%s] = %v, want %v", tc.only, n, got[n], want)
				}
			}
		})
	}
}

// TestJobs: every latency target runs against the floor first, on the
// same sizes; targets 1 and 4 in pairs of windows, only the last pair
// profiled.
func TestJobs(t *testing.T) {
	p := fullPlan(20000)
	for _, tc := range []struct {
		scenario string // -only
		want     []string
	}{
		{"rest", []string{"rest"}},
		{"idle", []string{"idle-floor", "idle"}},
		// The floor once, then pairs, all-in-one then split, alternating.
		{"interview-local,interview-split", []string{"interview-local-floor", "interview-local-pair1", "interview-split-pair1",
			"interview-local-pair2", "interview-split-pair2", "interview-local-pair3", "interview-split-pair3"}},
		{"interview-split,interview-local", []string{"interview-local-floor", "interview-local-pair1", "interview-split-pair1",
			"interview-local-pair2", "interview-split-pair2", "interview-local-pair3", "interview-split-pair3"}},
		// The all-in-one alone: the floor and its windows.
		{"interview-local", []string{"interview-local-floor", "interview-local-pair1", "interview-local-pair2", "interview-local-pair3"}},
		// The split alone: the pairs, its ratio's all-in-one beside each window.
		{"interview-split", []string{"interview-local-pair1", "interview-split-pair1", "interview-local-pair2", "interview-split-pair2",
			"interview-local-pair3", "interview-split-pair3"}},
		// Pairs, floor then pairpad, alternating.
		{"interview-light", []string{"interview-light-pair1-floor", "interview-light-pair1", "interview-light-pair2-floor", "interview-light-pair2",
			"interview-light-pair3-floor", "interview-light-pair3"}},
		{"memory", []string{"memory"}},
		{"crowd", []string{"crowd-100-floor", "crowd-100", "crowd-150-floor", "crowd-150", "crowd-200-floor", "crowd-200",
			"crowd-250-floor", "crowd-250", "crowd-300-floor", "crowd-300"}},
		{"idle50k", []string{"idle50k-floor", "idle50k"}},
		// A and B alternate; only B's servers get the setting.
		{"interview-ab", []string{"interview-ab-A1", "interview-ab-B1", "interview-ab-A2", "interview-ab-B2", "interview-ab-A3", "interview-ab-B3"}},
	} {
		var got []string
		wanted, err := pick(tc.scenario)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobsFor(wanted, p) {
			got = append(got, j.String())
			// The floor serves no profiles.
			if last := j.pairs == 0 || j.run == j.pairs; !j.floor && j.unprofiled == last {
				t.Errorf("%s unprofiled = %v", j, j.unprofiled)
			}
			if j.pairs > 0 && j.profileTag() != j.scenario {
				t.Errorf("%s's profiles are tagged %s, want %s", j, j.profileTag(), j.scenario)
			}
			if want := []string(nil); j.variant == "B" {
				want = []string{"NATS_IN_PROCESS=false"}
				if !slices.Equal(j.env, want) {
					t.Errorf("%s env = %v, want %v", j, j.env, want)
				}
			} else if len(j.env) > 0 {
				t.Errorf("%s env = %v, want none", j, j.env)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("jobsFor(%s) = %v, want %v", tc.scenario, got, tc.want)
		}
	}
}

// TestFullPlan holds the plan to the sizes and loads, and to the
// half hour `make bench` may take.
func TestFullPlan(t *testing.T) {
	p := fullPlan(20000)
	heavy := loadgen.InterviewParams{Sessions: 1000, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2}}
	for _, tc := range []struct {
		name string
		got  loadgen.InterviewParams
		want loadgen.InterviewParams
	}{
		// 4: all three users edit, 2 updates + 2 cursor moves/s each.
		{"interview", p.interview, heavy},
		// 1 and 3: one typist, two cursor movers.
		{"light", p.light, loadgen.InterviewParams{Sessions: 1000, Users: 3, Typists: 1, Rates: heavy.Rates}},
		{"memory", p.memory, loadgen.InterviewParams{Sessions: 1000, Users: 3, Typists: 1, Rates: heavy.Rates}},
	} {
		g := tc.got
		if g.Sessions != tc.want.Sessions || g.Users != tc.want.Users || g.Typists != tc.want.Typists || g.Rates != tc.want.Rates {
			t.Errorf("%s = %+v, want the load of %+v", tc.name, g, tc.want)
		}
	}
	if time.Duration(p.memory.Duration) != 10*time.Minute || p.idle.Conns != 10000 || p.crowdSizes[len(p.crowdSizes)-1] != 300 {
		t.Errorf("memory %s, idle %d, crowd %v: want 10m, 10,000, up to 300", time.Duration(p.memory.Duration), p.idle.Conns, p.crowdSizes)
	}
	if p.crowd.Rates != heavy.Rates {
		t.Errorf("crowd rates = %+v", p.crowd.Rates)
	}
	// 5: 50,000 over three instances, no process over its file limit.
	m := p.many
	if m.Conns != 50000 || m.Procs < 3 || (m.Conns+m.Procs-1)/m.Procs >= 20000 || (m.Conns+2)/3 >= 20000 {
		t.Errorf("many = %+v: want 50,000 in at least 3 generator processes, each and each instance under 20,000", m)
	}
	wanted, _ := pick("")
	jobs := jobsFor(wanted, p)
	e := estimate(jobs, p)
	t.Logf("the full run: %d server runs, about %s", len(jobs), e)
	// Target 1's three pairs of windows take about 9 of them, target 4's
	// about 5.
	if len(jobs) != 29 || e > 40*time.Minute || e < 20*time.Minute {
		t.Errorf("the full run: %d server runs, about %s: want 29 within 40 minutes (and the memory target's 10 minutes)", len(jobs), e)
	}
	if p.heavyPairs != 3 || p.lightPairs != 3 || quickPlan().heavyPairs != 1 || quickPlan().lightPairs != 1 {
		t.Errorf("pairs: heavy %d, light %d, -quick %d and %d: want 3 and 3, 1 and 1", p.heavyPairs, p.lightPairs, quickPlan().heavyPairs, quickPlan().lightPairs)
	}
	// A lower file limit: fewer connections, never more than a process holds.
	small := fullPlan(4096)
	if small.idle.Conns > 4096*9/10 || small.many.Conns > 3*4096*9/10 || (small.many.Conns+small.many.Procs-1)/small.many.Procs > 4096*9/10 {
		t.Errorf("with a 4,096 limit: idle %d, many %+v", small.idle.Conns, small.many)
	}
}

func TestPprofTotal(t *testing.T) {
	for _, tc := range []struct {
		top  string
		want float64
	}{
		{"Showing nodes accounting for 91.34MB, 71.72% of 127.36MB total", 127.36 * (1 << 20)},
		{"Showing nodes accounting for 512kB, 50% of 1024kB total\nDropped", 1 << 20},
		{"of 2.5GB total", 2.5 * (1 << 30)},
		{"of 12B total", 12},
		{"Showing nodes accounting for 10s, 50% of 20s total", 0}, // a CPU profile
		{"go tool pprof failed", 0},
	} {
		if got := pprofTotal(tc.top); got != tc.want {
			t.Errorf("pprofTotal(%q) = %v, want %v", tc.top, got, tc.want)
		}
	}
}

func TestParseSizes(t *testing.T) {
	if got, err := parseSizes("100, 200,300"); err != nil || !slices.Equal(got, []int{100, 200, 300}) {
		t.Errorf("parseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1", "a,b", "100,", "1001"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) took it", bad)
		}
	}
}

func summary(p50, p99 float64) loadgen.Summary {
	return loadgen.Summary{Count: 100, Mean: p50, P50: p50, P90: p50 * 2, P99: p99, P999: p99 * 1.5, Max: p99 * 2}
}

// heavyWindow is one window of the heavy interview (1,000×3, 20 s) on
// layout, its every event's p99: the all-in-one's one process, the split's
// five, which lose 40 appends to each other; 20,000 code-updates sent.
func heavyWindow(pair int, layout string, p99 float64) *loadgen.Result {
	heavy := loadgen.InterviewParams{Sessions: 1000, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2}, Duration: loadgen.Duration(20 * time.Second)}
	res := &loadgen.Result{Scenario: "interview", Layout: layout, Run: pair, Params: heavy,
		Traffic: &loadgen.Traffic{Seconds: 20, MachineCPUPercent: 170, Sent: map[string]int64{"code-update": 20000},
			Latency: map[string]loadgen.Summary{"all": summary(1, p99)}},
		Servers: []loadgen.ProcessStats{{Name: "all-in-one", CPUPercent: 100, CPUSeconds: 3.3}}, Loadgen: loadgen.LoadgenStats{CPUPercent: 65}}
	if layout != "all-in-one" {
		res.Traffic.MachineCPUPercent = 199
		res.Servers = []loadgen.ProcessStats{{Name: "api", CPUSeconds: 0.1}, {Name: "realtime-1", CPUPercent: 50, CPUSeconds: 1.5,
			Pairpad: map[string]float64{"pairpad_realtime_append_conflicts_total": 30, "pairpad_realtime_append_conflict_reads_total": 3}},
			{Name: "realtime-2", CPUPercent: 50, CPUSeconds: 1.5, Pairpad: map[string]float64{"pairpad_realtime_append_conflicts_total": 10}},
			{Name: "janitor", CPUSeconds: 0.1}, {Name: "nats", CPUPercent: 36, CPUSeconds: 1.4}}
	}
	return res
}

// sampleReport is a report of every scenario, as a full run would produce
// it: targets 1, 2, 4 and 5 met, 3 missed, 6 met with a ceiling of 200.
func sampleReport() *Report {
	traffic := func(kind string, p99 float64) *loadgen.Traffic {
		return &loadgen.Traffic{Seconds: 10, SentPerSec: 1000, DeliveredPerSec: 2000,
			Latency: map[string]loadgen.Summary{"all": summary(1, p99), kind: summary(1, p99)}}
	}
	steps := []loadgen.Step{
		{Sessions: 250, Connections: 750, Traffic: *traffic("all", 5), Held: true},
		{Sessions: 500, Connections: 1500, Traffic: *traffic("all", 80)},
	}
	steps[1].Traffic.SentPerSec = 2000
	heavy := loadgen.InterviewParams{Sessions: 1000, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2}, Duration: loadgen.Duration(20 * time.Second)}
	light := heavy
	light.Typists, light.Duration = 1, loadgen.Duration(60*time.Second)
	memory := light
	memory.Duration = loadgen.Duration(10 * time.Minute)
	server := func(cpu float64) []loadgen.ProcessStats {
		return []loadgen.ProcessStats{{Name: "all-in-one", CPUPercent: cpu}}
	}
	rss := func(final, mid int64, window float64) []loadgen.RSSSeries {
		return []loadgen.RSSSeries{{Name: "all-in-one", WindowSeconds: window, FinalBytes: final, MidBytes: mid,
			GrowthLastHalfPercent: float64(100*(final-mid)) / float64(mid),
			Samples:               []loadgen.RSSSample{{Seconds: -5, Bytes: mid / 2}, {Seconds: window / 2, Bytes: mid}, {Seconds: window, Bytes: final}}}}
	}
	r := &Report{
		Started: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", GoVersion: "go1.26.8", FileLimit: 20000, Commit: "abc1234", Dirty: true},
		Command: "go run ./bench/cmd/benchrun -out bench/results", Seconds: 1500, ServerEnv: []string{"PPROF=true", "RATE_LIMIT_JOIN=0"},
		LightPairsRun: 3, HeavyPairsRun: 3,
		Results: []*loadgen.Result{
			{Scenario: "idle", Layout: "relay (floor)", Memory: &loadgen.Memory{Connections: 10000, Alive: 10000, RSSPerConn: 9000,
				Transient: &loadgen.ConnCost{RSS: 12000}, Steady: &loadgen.Steadiness{Reached: true, GCSeconds: 100}, HoldSeconds: 130}},
			{Scenario: "idle", Layout: "all-in-one", Connect: &loadgen.ConnectStats{Attempted: 10000, Connected: 10000},
				Memory: &loadgen.Memory{Connections: 10000, Alive: 10000, RSSPerConn: 15000, HeapPerConn: 9000,
					Transient: &loadgen.ConnCost{RSS: 30720, Heap: 15000}, Steady: &loadgen.Steadiness{Reached: true, GCSeconds: 110}, HoldSeconds: 125}},
			// Target 4: the floor once, then three pairs: ratios 1.5, 2.5 and 1.25.
			{Scenario: "interview", Layout: "relay (floor)", Params: heavy, Traffic: traffic("all", 3), Servers: server(60)},
			heavyWindow(1, "all-in-one", 30), heavyWindow(1, "split: x", 45),
			heavyWindow(2, "all-in-one", 28), heavyWindow(2, "split: x", 70),
			heavyWindow(3, "all-in-one", 32), heavyWindow(3, "split: x", 40),
			// Target 1's three pairs: ratios 2.5, 4 and 1.6.
			{Scenario: "interview-light", Layout: "relay (floor)", Run: 1, Params: light, Traffic: traffic("code-update", 2), Servers: server(40)},
			{Scenario: "interview-light", Layout: "all-in-one", Run: 1, Params: light, Traffic: traffic("code-update", 5), Servers: server(90)},
			{Scenario: "interview-light", Layout: "relay (floor)", Run: 2, Params: light, Traffic: traffic("code-update", 1.5), Servers: server(40)},
			{Scenario: "interview-light", Layout: "all-in-one", Run: 2, Params: light, Traffic: traffic("code-update", 6), Servers: server(90)},
			{Scenario: "interview-light", Layout: "relay (floor)", Run: 3, Params: light, Traffic: traffic("code-update", 2.5), Servers: server(40)},
			// The last window against pairpad: the one profiled, with RSS.
			{Scenario: "interview-light", Layout: "all-in-one", Run: 3, Params: light, Traffic: traffic("code-update", 4), Servers: server(90),
				RSS: rss(200<<20, 190<<20, 60)},
			{Scenario: "memory", Layout: "all-in-one", Params: memory, Traffic: traffic("code-update", 6),
				Servers: []loadgen.ProcessStats{{Name: "all-in-one", CPUPercent: 90, Runtime: &loadgen.RuntimeMemory{
					RSS: 300e6, HeapInuse: 180e6, HeapKept: 60e6, Stacks: 30e6, HeapGoal: 200e6, GOGC: 100}}},
				RSS: rss(300e6, 250e6, 600)},
			{Scenario: "idle50k", Layout: "split: x", Instances: 3, Connect: &loadgen.ConnectStats{Attempted: 50000, Connected: 50000},
				Traffic: &loadgen.Traffic{Expected: 150000, Delivered: 150000, Latency: map[string]loadgen.Summary{"cursor-update": summary(3, 60)}}},
			{Scenario: "ramp", Layout: "split: x", Steps: steps, HighestHeld: &steps[0],
				Params: loadgen.RampParams{P99Limit: loadgen.Duration(50 * time.Millisecond)}},
		},
		Profiles: []Profile{{Scenario: "interview-split", Process: "realtime-1", Kind: "cpu", Top: "flat flat%"},
			{Scenario: "interview-light", Process: "all-in-one", Kind: "cpu", Top: "flat flat%"},
			{Scenario: "memory", Process: "all-in-one", Kind: "heap",
				Top: "Type: inuse_space\nShowing nodes accounting for 80MB, 80% of 100MB total\n flat flat%"}},
	}
	for _, c := range []struct {
		users      int
		floor, p99 float64
	}{{100, 2, 10}, {200, 4, 40}, {300, 9, 900}} {
		for _, floor := range []bool{true, false} {
			res := &loadgen.Result{Scenario: "crowd", Layout: "all-in-one", Connect: &loadgen.ConnectStats{Attempted: c.users, Connected: c.users},
				Traffic: traffic("all", c.p99), Servers: server(100), Loadgen: loadgen.LoadgenStats{CPUPercent: 40},
				Convergence: &loadgen.Convergence{Clients: c.users, Agreeing: c.users, Converged: true}}
			if floor {
				res.Layout, res.Traffic, res.Servers = "relay (floor)", traffic("all", c.floor), server(70)
			} else if c.users == 300 {
				res.Traffic.Reconnects, res.Traffic.Lost, res.Traffic.LostCursors = 4, 10, 10 // cursors sent while away
			}
			if !floor {
				res.Traffic.MachineCPUPercent = 150
			}
			r.Results = append(r.Results, res)
		}
	}
	return r
}

func TestTargets(t *testing.T) {
	got := sampleReport().targets()
	want := []struct {
		id, status string
		measured   []string
	}{
		{"1", statusMet, []string{"**2.50×** the floor's p99, the median of 3 pairs", "**median p99 5.00 ms** over 3 windows",
			"pair 2: floor 1.00 / 1.50 ms, pairpad 1.00 / 6.00 ms, 4.00×", "pair 3: floor 1.00 / 2.50 ms, pairpad (profiled) 1.00 / 4.00 ms, 1.60×"}},
		{"2", statusMet, []string{"**14.6 KiB RSS**", "steady state, 125 s after the connections were up",
			"right after the connections were up: 30.0 KiB RSS", "floor (bare relay): **8.8 KiB RSS**", "up: 11.7 KiB RSS"}},
		{"3", statusMissed, []string{"**300 MB**", "+20.0%", "At the end, RSS 300 MB: Go heap in use 180 MB (**105 MB live** at the last GC",
			"free heap kept 60 MB, goroutine stacks 30 MB, the rest (runtime, binary) 30 MB; heap goal 200 MB (GOGC=100, no GOMEMLIMIT)"}},
		{"4", statusMet, []string{"1000×3, 3 pairs of 20s windows: all-in-one **median p99 30.00 ms** over 3 windows, 0 refusals, 0 failures",
			"split median p99 45.00 ms over 3 windows, 0 refusals, 0 failures; **1.50×** the all-in-one's p99, the median of 3 pairs",
			"pair 1: all-in-one 1.00 / 30.00 ms (machine 170 %, CPU s per 1,000 code-updates 0.165), split 1.00 / 45.00 ms (machine 199 %, CPU s per 1,000 code-updates 0.230 (api 0.005, realtime-1 0.075, realtime-2 0.075, janitor 0.005, nats 0.070), appends lost to the other instance 40 (0.2 % of the code-updates sent, the op log read after 3)), 1.50×",
			"pair 2: all-in-one 1.00 / 28.00 ms", "split 1.00 / 70.00 ms", "2.50×", "pair 3: all-in-one 1.00 / 32.00 ms", "split (profiled) 1.00 / 40.00 ms", "1.25×",
			"floor (bare relay, once, before the pairs) p50 1.00 ms, p99 3.00 ms: the all-in-one's median p99 is 10.0× the floor's"}},
		{"5", statusMet, []string{"50000 of 50000 connected over 3 realtime instances"}},
		{"6", statusMet, []string{"300 users: converged=true", "4 reconnections, 0 code-update deliveries lost",
			"**Ceiling: 200 users (p99 40.00 ms; 300 users: 900.00 ms)**", "the floor's: 300 users or more",
			"CPU at 300 users: server 100%, generator 40%, everything else 10%"}},
		{"", statusMet, []string{"250 sessions"}},
	}
	if len(got) != len(want) {
		t.Fatalf("targets = %+v", got)
	}
	for i, tg := range got {
		w := want[i]
		if tg.ID != w.id || tg.Status != w.status || tg.Met != (w.status == statusMet) {
			t.Errorf("target %q: id %q status %q met %v, want %q %q (%s)", tg.Goal, tg.ID, tg.Status, tg.Met, w.id, w.status, tg.Measured)
		}
		for _, m := range w.measured {
			if !strings.Contains(tg.Measured, m) {
				t.Errorf("target %s measured %q lacks %q", tg.ID, tg.Measured, m)
			}
		}
	}
}

// TestTargetsNotMet: each target's checks, one broken at a time.
func TestTargetsNotMet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		id     string
		status string
		change func(r *Report)
	}{
		{"2: over 16 KiB", "2", statusMissed, func(r *Report) { r.find("idle", "all-in-one").Memory.RSSPerConn = 17000 }},
		{"2: 200 connections", "2", statusUnmeasured, func(r *Report) { r.find("idle", "all-in-one").Memory.Connections = 200 }},
		{"2: no GC cycle of its own", "2", statusUnmeasured, func(r *Report) {
			r.find("idle", "all-in-one").Memory.Steady = &loadgen.Steadiness{GCSeconds: -1, Why: "not every server completed a GC cycle of its own"}
		}},
		// After a cycle RSS only falls: a reading over the goal is a miss.
		{"2: still falling, over", "2", statusMissed, func(r *Report) {
			m := r.find("idle", "all-in-one").Memory
			m.Steady, m.RSSPerConn = &loadgen.Steadiness{GCSeconds: 150, Why: "RSS still falling 30s after the GC cycle"}, 20000
		}},
		{"3: a 60-second window only", "3", statusUnmeasured, func(r *Report) { r.Results = drop(r.Results, "memory", "") }},
		{"3: met", "3", statusMet, func(r *Report) {
			r.find("memory", "").RSS[0].GrowthLastHalfPercent = 1
			r.find("memory", "").RSS[0].FinalBytes = 200e6
		}},
		{"4: a refusal", "4", statusMissed, func(r *Report) {
			r.find("interview", "all-in-one").Traffic.Errors = map[string]int64{"RATE_LIMIT_EXCEEDED": 1, "info:STALE_ACK": 3}
		}},
		{"4: split over 2×", "4", statusMissed, func(r *Report) {
			for _, res := range r.heavyPairs().runs(1) {
				res.Traffic.Latency["all"] = summary(1, 65)
			}
		}},
		{"4: all-in-one over 50 ms", "4", statusMissed, func(r *Report) {
			for _, res := range r.heavyPairs().runs(0) {
				res.Traffic.Latency["all"] = summary(1, 51)
			}
		}},
		{"4: no split", "4", statusUnmeasured, func(r *Report) { r.Results = drop(r.Results, "interview", "split") }},
		{"5: 100 ms", "5", statusMissed, func(r *Report) { r.find("idle50k", "").Traffic.Latency["cursor-update"] = summary(1, 100) }},
		{"5: a lost fan-out", "5", statusMissed, func(r *Report) { r.find("idle50k", "").Traffic.Lost = 1 }},
		{"5: two instances", "5", statusUnmeasured, func(r *Report) { r.find("idle50k", "").Instances = 2 }},
		{"6: no convergence", "6", statusMissed, func(r *Report) {
			p, _, _ := r.crowdSteps()
			p[300].Convergence.Converged = false
		}},
		{"6: a lost code-update", "6", statusMissed, func(r *Report) {
			p, _, _ := r.crowdSteps()
			p[300].Traffic.Lost, p[300].Traffic.LostCode = 11, 1
		}},
		{"6: up to 200 only", "6", statusUnmeasured, func(r *Report) {
			p, _, _ := r.crowdSteps()
			r.Results = append(drop(r.Results, "crowd", "all-in-one"), p[100], p[200])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleReport()
			tc.change(r)
			for _, tg := range r.targets() {
				if tg.ID == tc.id && (tg.Status != tc.status || tg.Met != (tc.status == statusMet)) {
					t.Errorf("target %s = %s, met %v, want %s (%s)", tg.ID, tg.Status, tg.Met, tc.status, tg.Measured)
				}
			}
		})
	}
}

// drop removes the results of scenario whose layout starts with prefix.
func drop(results []*loadgen.Result, scenario, prefix string) []*loadgen.Result {
	return slices.DeleteFunc(results, func(res *loadgen.Result) bool {
		return res.Scenario == scenario && strings.HasPrefix(res.Layout, prefix)
	})
}

func TestWriteAndPlot(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	if err := r.plot(dir); err != nil {
		t.Fatal(err)
	}
	pngs := []string{"ramp-latency.png", "latency-by-scenario.png", "floor-vs-pairpad.png", "crowd-ceiling.png", "crowd-cpu.png", "memory-rss.png",
		"interview-light-pairs.png", "interview-heavy-pairs.png"}
	for _, name := range pngs {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG: %v", name, err)
		}
	}
	jsonPath, mdPath, err := r.write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(jsonPath) != "2026-11-25-1200.json" {
		t.Errorf("json path = %s", jsonPath)
	}
	md, err := os.ReadFile(mdPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| issue 16 target | goal | measured | status |", "| 3 | memory under edits", "### ramp (split: x)",
		"realtime-1, cpu", "2 × Test CPU", "## Crowd steps (target 6)", "- **When**: 2026-11-25 12:00 to 12:25 UTC, 25.0 minutes",
		"- **Command**: `go run ./bench/cmd/benchrun -out bench/results`.", "commit abc1234 **plus uncommitted changes**", "- **Server settings** on top of the defaults, for every server process: `PPROF=true RATE_LIMIT_JOIN=0`.", "**The floor** is `bench/relay`", "| 300 | 1.00 ms | 9.00 ms | 70 % | 1.00 ms | 900.00 ms |",
		// Target 1: every window, the median pair's ratio in bold, the medians.
		"## interview-light's pairs of windows (target 1)", "| 2 | 1.00 ms | 1.50 ms | 40 % | 1.00 ms | 6.00 ms | 90 % | 0 % | 0, 0 | 4.00× |",
		"| 1 | 1.00 ms | 2.00 ms | 40 % | 1.00 ms | 5.00 ms | 90 % | 0 % | 0, 0 | **2.50×** |", "| median | | 2.00 ms | | | 5.00 ms | | | | **2.50×** |",
		// Target 4: every window, both layouts' costs, the median pair's ratio in bold.
		"## The heavy interview's pairs of windows (target 4)",
		"| pair | all-in-one p50 | all-in-one p99 | all-in-one server CPU | machine CPU (all-in-one) | split p50 | split p99 | split server CPU | machine CPU (split) | refusals (all-in-one, split) | failures (all-in-one, split) | split: appends lost to the other instance | CPU s per 1,000 code-updates (all-in-one, split) | p99 ratio |",
		"| 1 | 1.00 ms | 30.00 ms | 100 % | 170 % | 1.00 ms | 45.00 ms | 136 % | 199 % | 0, 0 | 0, 0 | 40 (0.2 %) | 0.165, 0.230 (api 0.005, realtime-1 0.075, realtime-2 0.075, janitor 0.005, nats 0.070) | **1.50×** |",
		"| 2 | 1.00 ms | 28.00 ms | 100 % | 170 % | 1.00 ms | 70.00 ms | 136 % | 199 % | 0, 0 | 0, 0 | 40 (0.2 %) |",
		"| 3 (profiled) | 1.00 ms | 32.00 ms |", "| 1.25× |", "| median | | 30.00 ms | | | | 45.00 ms | | | | | | | **1.50×** |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		run     int
		lp      *Pairs
		sides   [2]string
		latency string
		median  float64
		pair    int
		p99     [2]float64
		ratios  []float64
	}{
		{"lightPairs", back.LightPairsRun, back.Light, [2]string{"floor", "pairpad"}, "code-update", 2.5, 1, [2]float64{2, 5}, []float64{2.5, 4, 1.6}},
		{"heavyPairs", back.HeavyPairsRun, back.Heavy, [2]string{"all-in-one", "split"}, "all", 1.5, 1, [2]float64{30, 45}, []float64{1.5, 2.5, 1.25}},
	} {
		lp := tc.lp
		if lp == nil || tc.run != 3 {
			t.Errorf("json: %s %+v, %d planned", tc.name, lp, tc.run)
			continue
		}
		var ratios []float64
		for _, p := range lp.Pairs {
			ratios = append(ratios, p.Ratio)
		}
		if lp.Sides != tc.sides || lp.Latency != tc.latency || lp.MedianRatio != tc.median || lp.MedianPair != tc.pair || lp.MedianP99 != tc.p99 ||
			lp.Ratios != 3 || !slices.Equal(ratios, tc.ratios) || !lp.Pairs[2].Profiled || lp.Pairs[0].Profiled {
			t.Errorf("json: %s = %+v", tc.name, lp)
		}
	}
	if w := back.Heavy.Pairs[0].Windows[1]; w == nil || w.LostRaces != 40 || w.LostRaceReads != 3 || len(w.ProcessCPU) != 5 || w.MachineCPU != 199 {
		t.Errorf("json: the split's first window %+v", w)
	}
	// The plots again from the JSON, as -replot draws them.
	again := filepath.Join(t.TempDir(), "new")
	if err := redraw(jsonPath, again); err != nil {
		t.Fatal(err)
	}
	for _, name := range pngs {
		if _, err := os.Stat(filepath.Join(again, name)); err != nil {
			t.Errorf("-replot: %v", err)
		}
	}
}

// TestABTable: every run listed, each side's medians, B over A.
func TestABTable(t *testing.T) {
	light := loadgen.InterviewParams{Sessions: 1000, Users: 3, Typists: 1, Duration: loadgen.Duration(30 * time.Second),
		Warmup: loadgen.Duration(5 * time.Second)}
	r := &Report{}
	for i, c := range []struct {
		side     string
		p50, p99 float64
		cpu      float64
	}{{"A: the defaults", 0.6, 20, 70}, {"B: NATS_IN_PROCESS=false", 0.7, 30, 80}, {"A: the defaults", 0.8, 40, 74},
		{"B: NATS_IN_PROCESS=false", 0.5, 24, 76}, {"A: the defaults", 0.7, 25, 72}, {"B: NATS_IN_PROCESS=false", 0.9, 27, 90}} {
		r.Results = append(r.Results, &loadgen.Result{Scenario: "interview-ab", Layout: "all-in-one", Variant: c.side, Run: i/2 + 1, Params: light,
			Traffic: &loadgen.Traffic{MachineCPUPercent: c.cpu + 30, Latency: map[string]loadgen.Summary{"code-update": summary(c.p50, c.p99), "all": summary(c.p50, c.p99)}},
			Servers: []loadgen.ProcessStats{{Name: "all-in-one", CPUPercent: c.cpu}},
			Loadgen: loadgen.LoadgenStats{CPUPercent: 30}})
	}
	var b strings.Builder
	r.markdown(&b)
	md := b.String()
	for _, want := range []string{"## A/B of the all-in-one's settings (interview-ab)", "1000×3", "a 30s window after 5s of warmup",
		"| B: NATS_IN_PROCESS=false | 3 | 0.90 ms | 27.00 ms | 27.00 ms | 90 % | 30 % | 0 % | 0 |",
		"| A: the defaults | 3 | 0.70 ms | 25.00 ms | 72 % |", "| B: NATS_IN_PROCESS=false | 3 | 0.70 ms | 27.00 ms | 80 % |",
		"B over A, medians: p50 1.00×, p99 1.08×, server CPU 1.11×.", "### interview-ab (all-in-one), B: NATS_IN_PROCESS=false, run 2"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Not conclusive") {
		t.Errorf("a quiet A/B called not conclusive:\n%s", md)
	}
}

func TestDescribeMachine(t *testing.T) {
	m := describeMachine(context.Background(), t.TempDir())
	if m.CPUs <= 0 || m.MemoryBytes <= 0 || m.GoVersion == "" || m.FileLimit == 0 {
		t.Errorf("describeMachine = %+v", m)
	}
}

func TestTrimPprof(t *testing.T) {
	in := "File: x\nBuild ID: y\nType: cpu\nTime: z\nShowing nodes\n      flat  flat%\n"
	if got := trimPprof(in); got != "Type: cpu\nShowing nodes\n      flat  flat%" {
		t.Errorf("trimPprof = %q", got)
	}
}

// runMode runs `benchrun <args>` in the background (a server mode), waits
// for its "listening" log line and returns the port it bound and a
// function that stops it and checks that it ended cleanly.
func runMode(t *testing.T, args []string, getenv func(string) string) (port int, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &spawn.Buffer{}
	go func() { done <- run(ctx, append([]string{"benchrun"}, args...), getenv, io.Discard, logs) }()
	stop = func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("benchrun %s did not stop", args[0])
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if port, ok := spawn.ListeningPort(logs.String()); ok {
			return port, stop
		}
		select {
		case err := <-done:
			t.Fatalf("benchrun %s ended before it listened: %v\n%s", args[0], err, logs)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("benchrun %s did not listen within 30s:\n%s", args[0], logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunRelay starts the floor in-process on port 0 and runs
// interview-light against it through the generator.
func TestRunRelay(t *testing.T) {
	port, stop := runMode(t, []string{"relay"}, func(k string) string {
		if k == "PORT" {
			return "0"
		}
		return ""
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx := context.Background()
	res, err := loadgen.InterviewLight(ctx, loadgen.Options{APIURL: base, WSURLs: []string{"ws" + strings.TrimPrefix(base, "http")},
		Framing: loadgen.FramingSocketIO, Concurrency: 4},
		loadgen.InterviewParams{Sessions: 2, Users: 3, Rates: loadgen.Rates{Code: 4, Cursor: 4},
			Duration: loadgen.Duration(time.Second), Warmup: loadgen.Duration(200 * time.Millisecond), Settle: loadgen.Duration(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failures) > 0 || res.Traffic.Latency["code-update"].Count == 0 {
		t.Fatalf("interview-light on the relay: failures %v, traffic %+v", res.Failures, res.Traffic)
	}
	// The floor is read as pairpad is: its /metrics has the runtime's figures.
	s, err := loadgen.Scrape(ctx, http.DefaultClient, loadgen.Target{Name: "relay", URL: base})
	if err != nil {
		t.Fatal(err)
	}
	if rt := s.Runtime(); rt == nil || rt.RSS <= 0 || rt.HeapInuse <= 0 || rt.HeapGoal <= 0 || rt.GCCycles < 0 || rt.GOGC == 0 || s.CPUSeconds <= 0 {
		t.Errorf("the relay's metrics: %+v, runtime %+v", s, s.Runtime())
	}
	stop()
}

func TestRSSEvery(t *testing.T) {
	for _, tc := range []struct{ window, want time.Duration }{
		{5 * time.Second, time.Second}, {30 * time.Second, 3 * time.Second}, {10 * time.Minute, 5 * time.Second},
	} {
		if got := rssEvery(tc.window); got != tc.want {
			t.Errorf("rssEvery(%s) = %s, want %s", tc.window, got, tc.want)
		}
	}
}

// TestRunNATS starts the split layout's NATS server and stops it.
func TestRunNATS(t *testing.T) {
	port, stop := runMode(t, []string{"nats", "-port", "-1", "-store", t.TempDir()}, os.Getenv)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			buf := make([]byte, 4)
			_, _ = io.ReadFull(c, buf)
			c.Close()
			if string(buf) != "INFO" {
				t.Errorf("the server greeted with %q, want INFO", buf)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats not listening: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
}

func TestParseServerEnv(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "NATS_IN_PROCESS=false", want: []string{"NATS_IN_PROCESS=false"}},
		{in: "GOMEMLIMIT=200MiB,GOGC=50", want: []string{"GOMEMLIMIT=200MiB", "GOGC=50"}},
		{in: "A=", want: []string{"A="}},
		{in: "NOVALUE", wantErr: true},
		{in: "=x", wantErr: true},
		{in: "A=1,,B=2", wantErr: true},
	} {
		got, err := parseServerEnv(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseServerEnv(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("parseServerEnv(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestWindowWatch: idle50k profiles the servers from the generator's
// output, at the first line saying a window started, however the output
// is cut into writes, and passes every byte on.
func TestWindowWatch(t *testing.T) {
	marker := "[2/3] " + loadgen.WindowMarker + " interview 30s\n"
	for _, tc := range []struct {
		name   string
		writes []string
		fires  int
	}{
		{"no window", []string{"[1/3] connected\n", "[1/3] p99 1ms\n"}, 0},
		{"one line", []string{"[1/3] connected\n", marker}, 1},
		{"cut inside the marker", []string{"[1/3] connected\n" + marker[:9], marker[9:20], marker[20:]}, 1},
		{"every process says it once", []string{marker, marker, marker + "[1/3] p99 1ms\n"}, 1},
		{"the marker without its end of line yet", []string{marker[:len(marker)-1]}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			fired := 0
			w := &windowWatch{w: &out, window: 30 * time.Second, on: func(scenario string, length time.Duration) {
				fired++
				if scenario != "idle50k" || length != 30*time.Second {
					t.Errorf("hook(%q, %s)", scenario, length)
				}
			}}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if fired != tc.fires {
				t.Errorf("fired %d times, want %d", fired, tc.fires)
			}
			if out.String() != strings.Join(tc.writes, "") {
				t.Errorf("passed on %q", out.String())
			}
		})
	}
}

// TestTailText: target 5 says, beside its p99, what explains it.
func TestTailText(t *testing.T) {
	res := &loadgen.Result{Scenario: "idle50k", Layout: "split: x",
		Traffic: &loadgen.Traffic{MachineCPUPercent: 200, TimerLag: loadgen.Summary{P99: 27.6}},
		Loadgen: loadgen.LoadgenStats{CPUPercent: 52},
		Servers: []loadgen.ProcessStats{{Name: "nats", CPUPercent: 30}, {Name: "api", CPUPercent: 1},
			{Name: "realtime-1", CPUPercent: 36, Fanout: &loadgen.BucketQuantiles{Count: 9, P50Ms: 2.5, P99Ms: 100}},
			{Name: "realtime-2", CPUPercent: 37, Fanout: &loadgen.BucketQuantiles{Count: 9, P50Ms: 5, P99Ms: 250, Beyond: true}},
			{Name: "realtime-3", CPUPercent: 35, Fanout: &loadgen.BucketQuantiles{Count: 9, P50Ms: 1, P99Ms: 50}}}}
	want := "the tail beside what explains it: generator timer lag p99 27.60 ms; machine 200 % (nats 30 %, realtime-1 36 %, realtime-2 37 %, realtime-3 35 %; generator 52 %; other work 9 %); " +
		"the instances' share of the fan-out (NATS and dispatch), at worst realtime-2's: p50 ≤ 5 ms, p99 > 250 ms"
	if got := tailText(res); got != want {
		t.Errorf("tailText =\n%s\nwant\n%s", got, want)
	}
	r := sampleReport()
	for _, tg := range r.targets() {
		if tg.ID == "5" && !strings.Contains(tg.Measured, "generator timer lag p99") {
			t.Errorf("target 5 = %s", tg.Measured)
		}
	}
}

func TestMedianOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1}, 2}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := slices.Clone(tc.in)
		if got := medianOf(in); got != tc.want {
			t.Errorf("medianOf(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("medianOf reordered %v into %v", tc.in, in)
		}
	}
}

// lightReport is a report of interview-light's pairs only: each pair's
// floor and pairpad code-update p99 (a negative one: the window did not
// run), planned pairs as the runner records them.
func lightReport(planned, sessions int, pairs ...[2]float64) *Report {
	light := loadgen.InterviewParams{Sessions: sessions, Users: 3, Typists: 1, Duration: loadgen.Duration(60 * time.Second)}
	r := &Report{LightPairsRun: planned}
	for i, p := range pairs {
		for side, p99 := range p {
			if p99 < 0 {
				continue
			}
			res := &loadgen.Result{Scenario: "interview-light", Layout: "all-in-one", Run: i + 1, Params: light,
				Traffic: &loadgen.Traffic{MachineCPUPercent: 120, Latency: map[string]loadgen.Summary{"code-update": summary(0.5, p99), "all": summary(0.5, p99)}},
				Servers: []loadgen.ProcessStats{{Name: "all-in-one", CPUPercent: 60}}, Loadgen: loadgen.LoadgenStats{CPUPercent: 50}}
			if side == 0 {
				res.Layout, res.Servers[0].Name = "relay (floor)", "relay"
			}
			r.Results = append(r.Results, res)
		}
	}
	return r
}

// TestTarget1Pairs: target 1 is the median of the pairs' ratios and
// pairpad's median p99, every pair listed.
func TestTarget1Pairs(t *testing.T) {
	checkPairs(t, (*Report).target1, (*Report).lightPairs, []pairsCase{
		{name: "three pairs: the middle ratio", r: lightReport(3, 1000, [2]float64{2, 5}, [2]float64{1.5, 6}, [2]float64{2.5, 4}),
			status: statusMet, median: 2.5, pair: 1,
			measured: []string{"1000×3, 3 pairs of 1m0s windows: all-in-one **median p99 5.00 ms** over 3 windows, 0 failures",
				"floor median p99 2.00 ms; **2.50×** the floor's p99, the median of 3 pairs",
				"pair 1: floor 0.50 / 2.00 ms, pairpad 0.50 / 5.00 ms, 2.50×", "pair 2: floor 0.50 / 1.50 ms, pairpad 0.50 / 6.00 ms, 4.00×",
				"pair 3: floor 0.50 / 2.50 ms, pairpad 0.50 / 4.00 ms, 1.60×"}},
		// One pair's 5× (the floor's p99 low in its window) does not decide.
		{name: "three pairs: one wild ratio", r: lightReport(3, 1000, [2]float64{1.2, 6.6}, [2]float64{1.9, 4}, [2]float64{1.5, 4.2}),
			status: statusMet, median: 2.8, pair: 3},
		{name: "two pairs: the mean of both, within 3×", r: lightReport(2, 1000, [2]float64{2, 4}, [2]float64{1, 4}),
			status: statusMet, median: 3, pair: 1, measured: []string{"**3.00×**", "the median of 2 pairs", "median p99 4.00 ms"}},
		{name: "two pairs: the mean of both, over 3×", r: lightReport(2, 1000, [2]float64{2, 4}, [2]float64{1, 4.2}),
			status: statusMissed, median: 3.1, pair: 1},
		{name: "four pairs: the two middle ones", r: lightReport(4, 1000, [2]float64{1, 1}, [2]float64{1, 4}, [2]float64{1, 2}, [2]float64{1, 3}),
			status: statusMet, median: 2.5, pair: 3},
		{name: "one pair (-quick's count)", r: lightReport(1, 1000, [2]float64{2, 4}),
			status: statusMet, median: 2, pair: 1, measured: []string{"1000×3, 1 pair of 1m0s windows: all-in-one **median p99 4.00 ms** over 1 window,",
				"**2.00×** the floor's p99, one pair only"}},
		// Runs written before the pairs: one pair, numbered 0.
		{name: "a report from before the pairs", r: lightReport(0, 1000, [2]float64{2, 4}), change: func(r *Report) {
			for _, res := range r.Results {
				res.Run = 0
			}
		}, status: statusMet, median: 2, pair: 0, measured: []string{"pair 0: floor"}},
		{name: "one window over 10 ms, the median under", r: lightReport(3, 1000, [2]float64{5, 12}, [2]float64{2, 5}, [2]float64{2, 4}),
			status: statusMet, median: 2.4, pair: 1, measured: []string{"median p99 5.00 ms"}},
		{name: "the median p99 over 10 ms", r: lightReport(3, 1000, [2]float64{5, 11}, [2]float64{5, 12}, [2]float64{5, 4}),
			status: statusMissed, median: 2.2, pair: 1, measured: []string{"median p99 11.00 ms"}},
		{name: "over 3× in two pairs of three", r: lightReport(3, 1000, [2]float64{1, 4}, [2]float64{1, 2}, [2]float64{1, 3.5}),
			status: statusMissed, median: 3.5, pair: 3},
		// A pair without its floor has no ratio: the median of the rest.
		{name: "a floor window did not run", r: lightReport(3, 1000, [2]float64{2, 5}, [2]float64{-1, 6}, [2]float64{2.5, 4}),
			status: statusMet, median: 2.05, pair: 3,
			measured: []string{"the median of the 2 of 3 pairs with both windows measured", "pair 2: floor did not run, pairpad 0.50 / 6.00 ms, no ratio",
				"floor median p99 2.25 ms"}},
		// No figure from pairpad is no pass.
		{name: "a pairpad window did not run", r: lightReport(3, 1000, [2]float64{2, 5}, [2]float64{2, -1}, [2]float64{2.5, 4}),
			status: statusMissed, median: 2.05, pair: 3,
			measured: []string{"windows against pairpad that did not run: 1", "pair 2: floor 0.50 / 2.00 ms, pairpad did not run, no ratio"}},
		{name: "a whole pair did not run", r: lightReport(3, 1000, [2]float64{2, 5}, [2]float64{2.5, 4}),
			status: statusMissed, median: 2.05, pair: 2, measured: []string{"pair 3: floor did not run, pairpad did not run, no ratio"}},
		{name: "a pairpad window failed", r: lightReport(3, 1000, [2]float64{2, 5}, [2]float64{1.5, 6}, [2]float64{2.5, 4}), change: func(r *Report) {
			r.Results[3].Failures = []string{"3 code-update deliveries lost"}
		}, status: statusMissed, median: 2.5, pair: 1, measured: []string{"over 3 windows, 1 failures", "pairpad 0.50 / 6.00 ms (1 failures), 4.00×"}},
		// The floor's failures are listed; the ratio stands.
		{name: "a floor window failed", r: lightReport(3, 1000, [2]float64{2, 5}, [2]float64{1.5, 6}, [2]float64{2.5, 4}), change: func(r *Report) {
			r.Results[2].Failures = []string{"1 cursor-update delivery lost"}
		}, status: statusMet, median: 2.5, pair: 1, measured: []string{"floor 0.50 / 1.50 ms (1 failures)"}},
		{name: "busy during one floor window", r: lightReport(3, 1000, [2]float64{2, 5}, [2]float64{1.5, 6}, [2]float64{2.5, 4}), change: func(r *Report) {
			r.Results[4].Traffic.MachineCPUPercent = 200
		}, status: statusInconclusive, median: 2.5, pair: 1, measured: []string{"not conclusive: other work took", "90% (pair 3, floor)"}},
		{name: "no floor at all", r: lightReport(3, 1000, [2]float64{-1, 5}, [2]float64{-1, 6}, [2]float64{-1, 4}),
			status: statusUnmeasured, measured: []string{"no pair with both windows measured"}},
		{name: "no window against pairpad", r: lightReport(3, 1000, [2]float64{2, -1}),
			status: statusUnmeasured, measured: []string{"did not run against the all-in-one"}},
		{name: "not asked for", r: lightReport(0, 1000), status: statusUnmeasured},
		{name: "200 sessions", r: lightReport(3, 200, [2]float64{2, 5}, [2]float64{1.5, 6}, [2]float64{2.5, 4}),
			status: statusUnmeasured, median: 2.5, pair: 1, measured: []string{"(200 sessions: the target is stated for 1000)"}},
	})
}

// pairsCase is one case of a target judged on pairs of windows: the
// report, a change to it, the status, the median ratio and the pair it is
// from, and what the target's text holds.
type pairsCase struct {
	name     string
	r        *Report
	change   func(r *Report)
	status   string
	median   float64
	pair     int
	measured []string
}

// checkPairs runs the cases of a target judged on pairs.
func checkPairs(t *testing.T, target func(*Report) Target, pairs func(*Report) *Pairs, cases []pairsCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.change != nil {
				tc.change(tc.r)
			}
			tg := target(tc.r)
			if tg.Status != tc.status || tg.Met != (tc.status == statusMet) {
				t.Errorf("status %s, met %v, want %s (%s)", tg.Status, tg.Met, tc.status, tg.Measured)
			}
			for _, m := range tc.measured {
				if !strings.Contains(tg.Measured, m) {
					t.Errorf("measured %q lacks %q", tg.Measured, m)
				}
			}
			lp := pairs(tc.r)
			if lp == nil {
				if tc.median != 0 {
					t.Fatalf("no pairs, want a median of %g", tc.median)
				}
				return
			}
			if d := lp.MedianRatio - tc.median; d > 1e-9 || d < -1e-9 || lp.MedianPair != tc.pair {
				t.Errorf("median %g of pair %d, want %g of pair %d", lp.MedianRatio, lp.MedianPair, tc.median, tc.pair)
			}
		})
	}
}

// TestTarget3FromLight: without the memory run, target 3 says what the last
// interview-light window against pairpad saw: the one whose heap was
// profiled, so its RSS and live heap go together.
func TestTarget3FromLight(t *testing.T) {
	r := sampleReport()
	r.Results = drop(r.Results, "memory", "")
	r.Profiles = append(r.Profiles, Profile{Scenario: "interview-light", Process: "all-in-one", Kind: "heap", Top: "of 50MB total"})
	r.lastLight().Servers[0].Runtime = &loadgen.RuntimeMemory{RSS: 210e6, HeapInuse: 100e6}
	tg := r.target3()
	for _, want := range []string{"1000×3 for 1m0s: **210 MB**", "At the end, RSS 210 MB", "**52 MB live**"} {
		if !strings.Contains(tg.Measured, want) {
			t.Errorf("target 3 = %s, lacks %q", tg.Measured, want)
		}
	}
	if tg.Status != statusUnmeasured {
		t.Errorf("target 3 from a 60 s window: %s", tg.Status)
	}
}

// heavyReport is a report of the heavy interview only: the floor, then
// each pair's all-in-one and split p99 of every event (a negative one: the
// window did not run), planned pairs as the runner records them.
func heavyReport(planned, sessions int, pairs ...[2]float64) *Report {
	r := &Report{HeavyPairsRun: planned}
	floor := heavyWindow(0, "relay (floor)", 3)
	floor.Servers = []loadgen.ProcessStats{{Name: "relay", CPUPercent: 60}}
	r.Results = append(r.Results, floor)
	for i, p := range pairs {
		for side, p99 := range p {
			if p99 < 0 {
				continue
			}
			layout := []string{"all-in-one", "split: api, 2 realtime, janitor, nats"}[side]
			r.Results = append(r.Results, heavyWindow(i+1, layout, p99))
		}
	}
	for _, res := range r.Results {
		p := res.Params.(loadgen.InterviewParams)
		p.Sessions = sessions
		res.Params = p
	}
	return r
}

// TestTarget4Pairs: target 4 is the median of the pairs' ratios, the
// all-in-one's median p99, and no refusal, failure or missing window on
// either side; every pair listed.
func TestTarget4Pairs(t *testing.T) {
	// window is the result of pair n's side ("all-in-one" or "split").
	window := func(r *Report, n int, side string) *loadgen.Result {
		for _, res := range r.Results {
			if res.Run == n && strings.HasPrefix(res.Layout, side) {
				return res
			}
		}
		panic(fmt.Sprintf("no window of pair %d, %s", n, side)) // a case that names one it lacks
	}
	checkPairs(t, (*Report).target4, (*Report).heavyPairs, []pairsCase{
		// 3.3× and 9.0× on the same code: one wild pair does not decide.
		{name: "three pairs: the middle ratio", r: heavyReport(3, 1000, [2]float64{20, 36}, [2]float64{18, 162}, [2]float64{22, 38}),
			status: statusMet, median: 1.8, pair: 1,
			measured: []string{"1000×3, 3 pairs of 20s windows: all-in-one **median p99 20.00 ms** over 3 windows, 0 refusals, 0 failures",
				"split median p99 38.00 ms over 3 windows", "**1.80×** the all-in-one's p99, the median of 3 pairs",
				"pair 2: all-in-one 1.00 / 18.00 ms (machine 170 %", "split 1.00 / 162.00 ms (machine 199 %", "9.00×",
				"; floor (bare relay, once, before the pairs) p50 1.00 ms, p99 3.00 ms: the all-in-one's median p99 is 6.7× the floor's"}},
		{name: "three pairs: two over 2×", r: heavyReport(3, 1000, [2]float64{20, 36}, [2]float64{18, 162}, [2]float64{20, 44}),
			status: statusMissed, median: 2.2, pair: 3},
		{name: "two pairs: the mean of both, within 2×", r: heavyReport(2, 1000, [2]float64{20, 30}, [2]float64{20, 50}),
			status: statusMet, median: 2, pair: 1, measured: []string{"**2.00×**", "the median of 2 pairs"}},
		{name: "two pairs: the mean of both, over 2×", r: heavyReport(2, 1000, [2]float64{20, 30}, [2]float64{20, 52}),
			status: statusMissed, median: 2.05, pair: 1},
		{name: "four pairs: the two middle ones", r: heavyReport(4, 1000, [2]float64{20, 20}, [2]float64{20, 80}, [2]float64{20, 30}, [2]float64{20, 40}),
			status: statusMet, median: 1.75, pair: 3},
		{name: "one pair (-quick's count)", r: heavyReport(1, 1000, [2]float64{20, 30}),
			status: statusMet, median: 1.5, pair: 1, measured: []string{"1 pair of 20s windows", "over 1 window", "**1.50×** the all-in-one's p99, one pair only"}},
		{name: "a report from before the pairs", r: heavyReport(0, 1000, [2]float64{20, 30}), change: func(r *Report) {
			for _, res := range r.Results {
				res.Run = 0
			}
		}, status: statusMet, median: 1.5, pair: 0, measured: []string{"pair 0: all-in-one"}},
		{name: "the all-in-one's median p99 over 50 ms", r: heavyReport(3, 1000, [2]float64{51, 60}, [2]float64{52, 60}, [2]float64{20, 30}),
			status: statusMissed, median: 60.0 / 51, pair: 1, measured: []string{"median p99 51.00 ms"}},
		{name: "one all-in-one window over 50 ms, the median under", r: heavyReport(3, 1000, [2]float64{60, 60}, [2]float64{20, 30}, [2]float64{20, 30}),
			status: statusMet, median: 1.5, pair: 2},
		{name: "a refusal in one split window", r: heavyReport(3, 1000, [2]float64{20, 30}, [2]float64{20, 30}, [2]float64{20, 30}), change: func(r *Report) {
			window(r, 2, "split").Traffic.Errors = map[string]int64{"RATE_LIMIT_EXCEEDED": 2, "info:STALE_ACK": 3}
		}, status: statusMissed, median: 1.5, pair: 1, measured: []string{"split median p99 30.00 ms over 3 windows, 2 refusals", "split 1.00 / 30.00 ms (2 refusals, machine"}},
		{name: "a refusal in one all-in-one window", r: heavyReport(3, 1000, [2]float64{20, 30}, [2]float64{20, 30}, [2]float64{20, 30}), change: func(r *Report) {
			window(r, 3, "all-in-one").Connect = &loadgen.ConnectStats{Errors: map[string]int64{"SESSION_FULL": 1}}
		}, status: statusMissed, median: 1.5, pair: 1, measured: []string{"over 3 windows, 1 refusals, 0 failures"}},
		{name: "a split window failed", r: heavyReport(3, 1000, [2]float64{20, 30}, [2]float64{20, 30}, [2]float64{20, 30}), change: func(r *Report) {
			window(r, 1, "split").Failures = []string{"3 code-update deliveries lost"}
		}, status: statusMissed, median: 1.5, pair: 1, measured: []string{"split 1.00 / 30.00 ms (1 failures, machine"}},
		{name: "an all-in-one window failed", r: heavyReport(3, 1000, [2]float64{20, 30}, [2]float64{20, 30}, [2]float64{20, 30}), change: func(r *Report) {
			window(r, 2, "all-in-one").Failures = []string{"1 cursor-update delivery lost"}
		}, status: statusMissed, median: 1.5, pair: 1, measured: []string{"all-in-one **median p99 20.00 ms** over 3 windows, 0 refusals, 1 failures"}},
		// A window that did not run is no pass, on either side.
		{name: "a split window did not run", r: heavyReport(3, 1000, [2]float64{20, 30}, [2]float64{20, -1}, [2]float64{20, 36}),
			status: statusMissed, median: 1.65, pair: 1,
			measured: []string{"windows that did not run: all-in-one 0, split 1", "the median of the 2 of 3 pairs with both windows measured",
				"pair 2: all-in-one 1.00 / 20.00 ms (machine 170 %, CPU s per 1,000 code-updates 0.165), split did not run, no ratio"}},
		{name: "an all-in-one window did not run", r: heavyReport(3, 1000, [2]float64{-1, 30}, [2]float64{20, 30}, [2]float64{20, 36}),
			status: statusMissed, median: 1.65, pair: 2, measured: []string{"windows that did not run: all-in-one 1, split 0", "pair 1: all-in-one did not run"}},
		{name: "a whole pair did not run", r: heavyReport(3, 1000, [2]float64{20, 30}, [2]float64{20, 30}),
			status: statusMissed, median: 1.5, pair: 1, measured: []string{"pair 3: all-in-one did not run, split did not run, no ratio"}},
		{name: "busy during one all-in-one window", r: heavyReport(3, 1000, [2]float64{20, 30}, [2]float64{20, 30}, [2]float64{20, 30}), change: func(r *Report) {
			window(r, 2, "all-in-one").Traffic.MachineCPUPercent = 240
		}, status: statusInconclusive, median: 1.5, pair: 1, measured: []string{"not conclusive: other work took", "75% (pair 2, all-in-one)", "0% (pair 2, split)"}},
		// A miss stays a miss on a busy machine.
		{name: "busy and over 2×", r: heavyReport(1, 1000, [2]float64{20, 50}), change: func(r *Report) {
			window(r, 1, "split").Traffic.MachineCPUPercent = 300
		}, status: statusMissed, median: 2.5, pair: 1, measured: []string{"not conclusive"}},
		// -only interview-local: the all-in-one's windows, no split.
		{name: "the all-in-one alone", r: heavyReport(3, 1000, [2]float64{20, -1}, [2]float64{20, -1}, [2]float64{20, -1}),
			status: statusUnmeasured, measured: []string{"all-in-one **median p99 20.00 ms** over 3 windows", "the split layout did not run"}},
		{name: "no all-in-one window", r: heavyReport(3, 1000, [2]float64{-1, 30}),
			status: statusUnmeasured, median: 0, pair: 0, measured: []string{"the heavy interview did not run against the all-in-one"}},
		{name: "not asked for", r: &Report{}, status: statusUnmeasured},
		{name: "50 sessions", r: heavyReport(3, 50, [2]float64{20, 30}, [2]float64{20, 30}, [2]float64{20, 30}),
			status: statusUnmeasured, median: 1.5, pair: 1, measured: []string{"(50 sessions: the target is stated for 1000)"}},
	})
}
