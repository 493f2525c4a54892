package main

import (
	"fmt"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// plan sizes every scenario of a run.
type plan struct {
	rest loadgen.RESTParams
	// idle is target 2: idle Socket.IO connections.
	idle loadgen.IdleParams
	// interview is target 4, the heavy interview: every user edits; the
	// floor once, then heavyPairs pairs of windows, the all-in-one's then
	// the split layout's.
	interview  loadgen.InterviewParams
	heavyPairs int
	// light is target 1: one typist and two cursor movers per session,
	// run as lightPairs pairs of windows, the floor's then pairpad's.
	light      loadgen.InterviewParams
	lightPairs int
	// memory is target 3: light's load for 10 minutes, RSS followed.
	memory loadgen.InterviewParams
	// crowd is one step of target 6 (Users is set per step); crowdSizes
	// are the steps, the last one the target's 300.
	crowd      loadgen.InterviewParams
	crowdSizes []int
	ramp       loadgen.RampParams
	// many is target 5.
	many manyParams
	// ab is one run of the A/B (interview-ab, opt-in): interview-light's
	// load for a shorter window, abRepeat runs of each side, alternating;
	// side B gets abEnv on top of A's settings.
	ab       loadgen.InterviewParams
	abRepeat int
	abEnv    []string
}

func d(v time.Duration) loadgen.Duration { return loadgen.Duration(v) }

// Issue 16's sizes.
const (
	idleConnsGoal  = 10000 // target 2
	lightSessions  = 1000  // targets 1, 3 and 4: sessions of 3
	manyConnsGoal  = 50000 // target 5
	manyInstances  = 3
	crowdUsersGoal = 300  // target 6
	maxCrowd       = 1000 // SESSION_MAX_USERS and SESSION_MAX_USER_IDS of benchEnv
)

// lightPairsDefault is how many pairs of interview-light windows (floor,
// pairpad) target 1's median ratio is taken over (-light-pairs);
// heavyPairsDefault how many pairs of heavy interview windows (all-in-one,
// split) target 4's is (-heavy-pairs).
const (
	lightPairsDefault = 3
	heavyPairsDefault = 3
)

// The A/B's defaults: three 30 s windows of interview-light on each side,
// about 5 minutes, against the all-in-one's NATS connection over loopback
// TCP instead of in-process.
const (
	abWindow     = 30 * time.Second
	abRepeat     = 3
	abEnvDefault = "NATS_IN_PROCESS=false"
)

// steadyWait bounds idle's wait for the steady state after its hold: the
// Go runtime forces a GC cycle two minutes after the last one (which came
// while the connections opened or during the hold), then the scavenger
// returns free heap within seconds.
const steadyWait = 3 * time.Minute

// perProcess is how many connections one process may hold under the hard
// RLIMIT_NOFILE limit: 90 % of it, the rest for NATS, HTTP and files.
func perProcess(fileLimit uint64) int {
	if fileLimit == 0 || fileLimit > 1<<24 {
		return 1 << 24
	}
	return int(fileLimit) * 9 / 10
}

// fullPlan is what `make bench` runs: every target of issue 16 at its size
// where this machine allows (about 35 minutes on two cores, see estimate).
// The connections one process holds stay under the hard RLIMIT_NOFILE
// (20,000 on the bench machine): idle50k spreads them over three realtime
// instances and several generator processes.
func fullPlan(fileLimit uint64) plan {
	per := perProcess(fileLimit)
	heavy := loadgen.InterviewParams{Sessions: lightSessions, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2},
		Duration: d(20 * time.Second), Warmup: d(5 * time.Second), Settle: d(15 * time.Second)}
	light := heavy
	light.Typists, light.Duration = 1, d(60*time.Second)
	memory := light
	memory.Duration = d(10 * time.Minute)
	ab := light
	ab.Duration = d(abWindow)
	return plan{
		rest: loadgen.RESTParams{Sessions: 2000, Concurrency: 32},
		idle: loadgen.IdleParams{Conns: min(idleConnsGoal, per), UsersPerSession: 2, Hold: d(20 * time.Second),
			SteadyWait: d(steadyWait)},
		interview:  heavy,
		heavyPairs: heavyPairsDefault,
		light:      light,
		lightPairs: lightPairsDefault,
		memory:     memory,
		// Settle is long for the overloaded steps (it ends as soon as
		// every delivery and ack arrived): convergence is checked after it.
		crowd: loadgen.InterviewParams{Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Duration: d(10 * time.Second), Warmup: d(3 * time.Second), Settle: d(45 * time.Second)},
		crowdSizes: []int{100, 150, 200, 250, crowdUsersGoal},
		many:       manyPlan(manyConnsGoal, fileLimit, manyParams{CursorEvery: 10 * time.Second, Hold: 30 * time.Second}),
		ramp: loadgen.RampParams{StartSessions: 50, StepSessions: 50, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Steps: 8, StepDuration: d(10 * time.Second), Warmup: d(3 * time.Second), Settle: d(5 * time.Second),
			P99Limit: d(50 * time.Millisecond)},
		ab: ab, abRepeat: abRepeat, abEnv: []string{abEnvDefault},
	}
}

// manyPlan sizes idle50k for conns connections, fewer if three realtime
// instances cannot hold them under the file limit, in enough generator
// processes (at least three) that none holds more than its limit allows.
func manyPlan(conns int, fileLimit uint64, p manyParams) manyParams {
	per := perProcess(fileLimit)
	p.Conns = min(conns, manyInstances*per)
	p.Procs = max(manyInstances, (p.Conns+per-1)/per)
	return p
}

// quickPlan checks the runner end to end in a few minutes.
func quickPlan() plan {
	heavy := loadgen.InterviewParams{Sessions: 20, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2},
		Duration: d(5 * time.Second), Warmup: d(time.Second), Settle: d(5 * time.Second)}
	light := heavy
	light.Typists = 1
	memory := light
	memory.Duration = d(10 * time.Second)
	return plan{
		rest:       loadgen.RESTParams{Sessions: 100, Concurrency: 8},
		idle:       loadgen.IdleParams{Conns: 200, UsersPerSession: 2, Hold: d(3 * time.Second), SteadyWait: d(15 * time.Second)},
		interview:  heavy,
		heavyPairs: 1,
		light:      light,
		lightPairs: 1,
		memory:     memory,
		crowd:      loadgen.InterviewParams{Rates: loadgen.Rates{Code: 2, Cursor: 2}, Duration: d(3 * time.Second), Warmup: d(time.Second), Settle: d(10 * time.Second)},
		crowdSizes: []int{5, 10},
		many:       manyParams{Conns: 300, Procs: 2, CursorEvery: time.Second, Hold: 3 * time.Second},
		ramp: loadgen.RampParams{StartSessions: 10, StepSessions: 10, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Steps: 3, StepDuration: d(3 * time.Second), Warmup: d(time.Second), Settle: d(3 * time.Second),
			P99Limit: d(50 * time.Millisecond)},
		ab: light, abRepeat: 2, abEnv: []string{abEnvDefault},
	}
}

// job is one server run of a scenario: pairpad, or the floor beside it.
type job struct {
	scenario string // as -only names it
	floor    bool   // against the bare relay (bench/relay) instead of pairpad
	users    int    // crowd: the step's size
	// variant is "A" or "B" of an A/B, run its repeat (from 1); B's
	// servers get env on top of the defaults. The windows of
	// interview-light and of the heavy interview have no variant: run is
	// their pair (from 1) of pairs.
	variant string
	run     int
	pairs   int
	env     []string
	// unprofiled: no profiles during the window (interview-light profiles
	// its last window against pairpad only, the heavy interview its last
	// pair).
	unprofiled bool
}

// jobsFor are the runs of the scenarios wanted, in scenarioNames' order.
// interview-local and interview-split are one set of pairs (heavyJobs).
func jobsFor(wanted map[string]bool, p plan) []job {
	var jobs []job
	for _, name := range scenarioNames {
		switch {
		case name == "interview-split": // with interview-local's
		case name == "interview-local":
			jobs = append(jobs, heavyJobs(p, wanted["interview-local"], wanted["interview-split"])...)
		case wanted[name]:
			jobs = append(jobs, jobsOf(name, p)...)
		}
	}
	return jobs
}

// heavyJobs are the heavy interview's runs (target 4): with both layouts
// asked for, the floor once, then pairs of windows, the all-in-one's and
// the split layout's, alternating (all-in-one, split, all-in-one, …) so
// drift on the machine falls on both alike; target 4's ratio is the median
// of the pairs' ratios. Only the last pair is profiled, both windows. The
// split alone (-only interview-split) runs the pairs without the floor:
// its figure is a ratio to the all-in-one beside it; the all-in-one alone
// (-only interview-local) runs the floor and its windows of the pairs.
func heavyJobs(p plan, local, split bool) []job {
	var out []job
	if local {
		out = append(out, job{scenario: "interview-local", floor: true})
	}
	for i := 1; i <= p.heavyPairs && (local || split); i++ {
		out = append(out, job{scenario: "interview-local", run: i, pairs: p.heavyPairs, unprofiled: i < p.heavyPairs})
		if split {
			out = append(out, job{scenario: "interview-split", run: i, pairs: p.heavyPairs, unprofiled: i < p.heavyPairs})
		}
	}
	return out
}

// jobsOf are the runs of a scenario, each on fresh servers. Every latency
// target runs against the floor first, in the same run: idle (its memory
// per connection), the heavy interview (heavyJobs), interview-light, every
// crowd step and idle50k (three relays, each session on one).
func jobsOf(name string, p plan) []job {
	switch name {
	case "interview-local", "interview-split":
		return heavyJobs(p, name == "interview-local", name == "interview-split")
	case "idle", "idle50k":
		return []job{{scenario: name, floor: true}, {scenario: name}}
	case "interview-light":
		// Pairs of windows, floor then pairpad, alternating so drift on
		// the machine (thermal, page cache) falls on both sides alike;
		// target 1 is the median of the pairs' ratios. Only the last
		// window against pairpad is profiled: the profiler's own work
		// stays out of the others.
		var out []job
		for i := 1; i <= p.lightPairs; i++ {
			out = append(out, job{scenario: name, floor: true, run: i, pairs: p.lightPairs},
				job{scenario: name, run: i, pairs: p.lightPairs, unprofiled: i < p.lightPairs})
		}
		return out
	case "crowd":
		var out []job
		for _, n := range p.crowdSizes {
			out = append(out, job{scenario: name, floor: true, users: n}, job{scenario: name, users: n})
		}
		return out
	case "interview-ab":
		// Alternating, so drift on the machine falls on both sides.
		var out []job
		for i := 1; i <= p.abRepeat; i++ {
			out = append(out, job{scenario: name, variant: "A", run: i}, job{scenario: name, variant: "B", run: i, env: p.abEnv})
		}
		return out
	}
	return []job{{scenario: name}}
}

// String names the job in logs and profile files: crowd-150-floor,
// interview-light-pair2-floor.
func (j job) String() string {
	s := j.scenario
	if j.users > 0 {
		s += fmt.Sprintf("-%d", j.users)
	}
	if j.pairs > 0 {
		s += fmt.Sprintf("-pair%d", j.run)
	}
	if j.floor {
		s += "-floor"
	}
	if j.variant != "" {
		s += fmt.Sprintf("-%s%d", j.variant, j.run)
	}
	return s
}

// profileTag names the profiles of the job's window: those of a target
// judged on pairs (one pair profiled) by the scenario alone, as before it
// ran in pairs.
func (j job) profileTag() string {
	if j.pairs > 0 {
		return j.scenario
	}
	return j.String()
}

// estimate is about how long the jobs of a run take on a quiet machine:
// each window with its warmup and set-up, the settling a loaded server
// needs, and starting and stopping the servers.
func estimate(jobs []job, p plan) time.Duration {
	// Calibrated on the full run of 2026-12-04 22:38 (22 minutes, which
	// this said were 26): start, readiness, stop and the quiet check take
	// about 4 s, and a window that kept up settles within 5 s.
	const servers = 4 * time.Second
	window := func(ip loadgen.InterviewParams, sessions int) time.Duration {
		setup := time.Duration(sessions) * 3 * time.Millisecond
		return setup + time.Duration(ip.Warmup+ip.Duration) + min(time.Duration(ip.Settle), 5*time.Second)
	}
	var total time.Duration
	for _, j := range jobs {
		total += servers
		switch j.scenario {
		case "rest":
			total += 5 * time.Second
		case "idle":
			// The hold, and the steady state: a GC cycle after it (forced
			// two minutes after the last, at worst), then RSS settling.
			hold := time.Duration(p.idle.Hold)
			if p.idle.SteadyWait > 0 {
				hold += min(time.Duration(p.idle.SteadyWait), 2*time.Minute+15*time.Second)
			}
			total += time.Duration(p.idle.Conns)*time.Millisecond + hold + 5*time.Second
		case "interview-local", "interview-split":
			total += window(p.interview, p.interview.Sessions)
		case "interview-light":
			total += window(p.light, p.light.Sessions)
		case "interview-ab":
			total += window(p.ab, p.ab.Sessions)
		case "memory":
			total += window(p.memory, p.memory.Sessions)
		case "crowd":
			settle := 5 * time.Second
			if !j.floor && j.users >= 250 { // overloaded: the backlog drains, reconnections, the sync check
				settle = time.Duration(p.crowd.Settle) + 30*time.Second
			}
			total += time.Duration(p.crowd.Warmup+p.crowd.Duration) + settle
		case "ramp":
			total += time.Duration(p.ramp.Steps) * time.Duration(p.ramp.Warmup+p.ramp.StepDuration+p.ramp.Settle)
		case "idle50k":
			if j.floor { // the relays connect 50,000 in seconds
				total += p.many.CursorEvery + p.many.Hold + 20*time.Second
				continue
			}
			total += 20*time.Second + time.Duration(p.many.Conns)*time.Millisecond + p.many.CursorEvery + p.many.Hold + 15*time.Second
		}
	}
	return total
}
