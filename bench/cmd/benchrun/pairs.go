package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// Pairs is a target judged on pairs of windows: the two sides ran
// alternating, each window on fresh servers, and the target's ratio is the
// median of the pairs' ratios. One window's p99 moves by half from one run
// to the next on a quiet machine (and a layout on the edge of saturation
// by three times), so one pair says little. Target 1: the floor, then
// pairpad (interview-light's code-updates); target 4: the all-in-one, then
// the split layout (the heavy interview's every event).
type Pairs struct {
	// Sides names the two sides in the order each pair ran them; a pair's
	// ratio is the second's p99 over the first's.
	Sides [2]string `json:"sides"`
	// Latency is the kind of event whose latency the windows compare.
	Latency string `json:"latency"`
	Pairs   []Pair `json:"pairs"`
	// Ratios is how many pairs have a ratio (both windows measured);
	// MedianRatio is the median of theirs, the mean of the two middle
	// ones for an even count, 0 when none has one.
	Ratios      int     `json:"ratios"`
	MedianRatio float64 `json:"medianRatio"`
	// MedianPair is the pair whose ratio is the median (for an even count,
	// the lower of the two middle ones); 0 when no pair has a ratio.
	MedianPair int `json:"medianPair,omitempty"`
	// MedianP99 is each side's median p99 over its windows that ran.
	MedianP99 [2]float64 `json:"medianP99Ms"`
}

// Pair is one pair of windows.
type Pair struct {
	Pair int `json:"pair"`
	// Windows are the sides' windows, in Sides' order; nil: the window did
	// not run (the results' notes say why).
	Windows [2]*Window `json:"windows"`
	// Ratio is the second side's p99 over the first's; 0 when the pair
	// has none.
	Ratio float64 `json:"ratio,omitempty"`
	// Profiled: the servers were profiled during the pair's windows (the
	// last pair's), which costs them some CPU.
	Profiled bool `json:"profiled,omitempty"`

	res [2]*loadgen.Result
}

// Window is one window's latency and how it went.
type Window struct {
	P50      float64 `json:"p50Ms"`
	P99      float64 `json:"p99Ms"`
	Count    int64   `json:"count"`
	Failures int     `json:"failures"`
	Refusals int64   `json:"refusals"`
	// ServerCPU and MachineCPU are over the window, 100 = one core.
	ServerCPU  float64 `json:"serverCPUPercent"`
	MachineCPU float64 `json:"machineCPUPercent"`
	// CPUPerUpdates is the servers' CPU seconds per 1,000 code-updates
	// sent, in all and by process (in the order they were read).
	CPUPerUpdates float64       `json:"cpuSecondsPer1000CodeUpdates,omitempty"`
	ProcessCPU    []ProcessCost `json:"processCPUSecondsPer1000CodeUpdates,omitempty"`
	// LostRaces is how many appends the split layout's instances lost to
	// each other (another instance appended to the session first), what
	// share of the code-updates sent that was, and after how many of them
	// the op log was read.
	LostRaces        float64 `json:"lostAppendRaces,omitempty"`
	LostRacesPercent float64 `json:"lostAppendRacesPercent,omitempty"`
	LostRaceReads    float64 `json:"lostAppendRacesRead,omitempty"`
}

// ProcessCost is one server process's CPU seconds per 1,000 code-updates.
type ProcessCost struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

func window(res *loadgen.Result, kind string) *Window {
	if res == nil || res.Traffic == nil {
		return nil
	}
	l := res.Traffic.Latency[kind]
	w := &Window{P50: l.P50, P99: l.P99, Count: l.Count, Failures: len(res.Failures), Refusals: refusals(res),
		ServerCPU: serverCPU(res), MachineCPU: res.Traffic.MachineCPUPercent}
	if n := float64(res.Traffic.Sent["code-update"]); n > 0 && len(res.Servers) > 0 {
		for _, s := range res.Servers {
			w.CPUPerUpdates += s.CPUSeconds * 1000 / n
			w.ProcessCPU = append(w.ProcessCPU, ProcessCost{s.Name, s.CPUSeconds * 1000 / n})
			w.LostRaces += s.Pairpad["pairpad_realtime_append_conflicts_total"]
			w.LostRaceReads += s.Pairpad["pairpad_realtime_append_conflict_reads_total"]
		}
		w.LostRacesPercent = 100 * w.LostRaces / n
	}
	return w
}

// things says "1 pair", "3 pairs".
func things(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// medianOf is the middle value of v, the mean of the two middle ones for
// an even count, 0 for none; v is left as it was.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// pairsSpec says how a target's windows pair up.
type pairsSpec struct {
	scenario string // the results' Scenario
	sides    [2]string
	latency  string
	// side is which side a window is on: 0, 1, or -1 for none (the heavy
	// interview's floor runs once, beside the pairs).
	side func(*loadgen.Result) int
	// profiled are the profiles' tags of the pairs' last windows.
	profiled []string
	// planned is how many pairs the run planned (0: a report without the
	// count, or the scenario not asked for).
	planned int
}

// pairs gathers a target's windows into their pairs: the pairs the run
// planned, a window that did not run left nil, or, for a report without
// the count, the pairs found (a report from before the pairs: one, pair
// 0); then each pair's ratio and the medians. nil when the scenario did not
// run.
func (r *Report) pairs(s pairsSpec) *Pairs {
	byPair := map[int]*Pair{}
	var order []int
	pair := func(n int) *Pair {
		if p := byPair[n]; p != nil {
			return p
		}
		byPair[n] = &Pair{Pair: n}
		order = append(order, n)
		return byPair[n]
	}
	for n := 1; n <= s.planned; n++ {
		pair(n)
	}
	found, last := false, -1
	for _, res := range r.Results {
		side := -1
		if res.Scenario == s.scenario {
			side = s.side(res)
		}
		if side < 0 {
			continue
		}
		found = true
		pair(res.Run).res[side] = res
		if side == 1 {
			last = res.Run
		}
	}
	if !found && s.planned == 0 {
		return nil
	}
	slices.Sort(order)
	if last >= 0 && slices.ContainsFunc(r.Profiles, func(p Profile) bool { return slices.Contains(s.profiled, p.Scenario) }) {
		byPair[last].Profiled = true
	}
	out := &Pairs{Sides: s.sides, Latency: s.latency}
	var ratios []float64
	var p99 [2][]float64
	for _, n := range order {
		p := byPair[n]
		for i := range p.res {
			if p.Windows[i] = window(p.res[i], s.latency); p.Windows[i] != nil {
				p99[i] = append(p99[i], p.Windows[i].P99)
			}
		}
		if a, b := p.Windows[0], p.Windows[1]; a != nil && b != nil && a.P99 > 0 && b.Count > 0 {
			p.Ratio = b.P99 / a.P99
			ratios = append(ratios, p.Ratio)
		}
		out.Pairs = append(out.Pairs, *p)
	}
	out.Ratios, out.MedianRatio = len(ratios), medianOf(ratios)
	out.MedianP99 = [2]float64{medianOf(p99[0]), medianOf(p99[1])}
	if len(ratios) > 0 {
		middle := slices.Sorted(slices.Values(ratios))[(len(ratios)-1)/2]
		for _, p := range out.Pairs {
			if p.Ratio == middle && out.MedianPair == 0 {
				out.MedianPair = p.Pair
			}
		}
	}
	return out
}

// lightPairs are target 1's pairs: interview-light, the floor's window,
// then pairpad's (the all-in-one). nil when interview-light did not run.
func (r *Report) lightPairs() *Pairs {
	return r.pairs(pairsSpec{scenario: "interview-light", sides: [2]string{"floor", "pairpad"}, latency: "code-update",
		planned: r.LightPairsRun, profiled: []string{"interview-light"},
		side: func(res *loadgen.Result) int {
			switch {
			case isFloor(res):
				return 0
			case strings.HasPrefix(res.Layout, "all-in-one"):
				return 1
			}
			return -1
		}})
}

// heavyPairs are target 4's pairs: the heavy interview, the all-in-one's
// window, then the split layout's; its floor ran once, before them. nil
// when the heavy interview did not run.
func (r *Report) heavyPairs() *Pairs {
	return r.pairs(pairsSpec{scenario: "interview", sides: [2]string{"all-in-one", "split"}, latency: "all",
		planned: r.HeavyPairsRun, profiled: []string{"interview-local", "interview-split"},
		side: func(res *loadgen.Result) int {
			switch {
			case strings.HasPrefix(res.Layout, "all-in-one"):
				return 0
			case strings.HasPrefix(res.Layout, "split"):
				return 1
			}
			return -1
		}})
}

// lastLight is the last interview-light window against the all-in-one:
// the one profiled, so its RSS and its heap profile go together.
func (r *Report) lastLight() *loadgen.Result {
	var last *loadgen.Result
	for _, res := range r.Results {
		if res.Scenario == "interview-light" && strings.HasPrefix(res.Layout, "all-in-one") {
			last = res
		}
	}
	return last
}

// runs are the windows of side i that ran.
func (lp *Pairs) runs(i int) []*loadgen.Result {
	var out []*loadgen.Result
	for _, p := range lp.Pairs {
		if res := p.res[i]; res != nil && res.Traffic != nil {
			out = append(out, res)
		}
	}
	return out
}

// params is the load of side i's first window that ran; false when none
// did (or lp is nil: the scenario did not run).
func (lp *Pairs) params(i int) (loadgen.InterviewParams, bool) {
	if lp == nil || len(lp.runs(i)) == 0 {
		return loadgen.InterviewParams{}, false
	}
	return interviewParams(lp.runs(i)[0])
}

// tally is what the windows of one side add up to: failures and refusals
// over the windows that ran, and the planned ones that did not.
type tally struct {
	ran, missing, failures int
	refusals               int64
}

func (lp *Pairs) tally(i int) tally {
	var t tally
	for _, p := range lp.Pairs {
		w := p.Windows[i]
		if w == nil {
			t.missing++ // its servers or its window failed: no figure
			continue
		}
		t.ran++
		t.failures += w.Failures
		t.refusals += w.Refusals
	}
	return t
}

// of says which pairs the median ratio is of.
func (lp *Pairs) of() string {
	switch {
	case len(lp.Pairs) == 1:
		return "one pair only"
	case lp.Ratios < len(lp.Pairs):
		return fmt.Sprintf("the median of the %d of %d pairs with both windows measured", lp.Ratios, len(lp.Pairs))
	}
	return fmt.Sprintf("the median of %d pairs", lp.Ratios)
}

// list lists every pair, "(p50 / p99: pair 1: …; pair 2: …)"; with costs,
// each window's machine CPU, CPU per 1,000 code-updates and lost append
// races too.
func (lp *Pairs) list(costs bool) string {
	var list []string
	for _, p := range lp.Pairs {
		list = append(list, p.text(lp.Sides, costs))
	}
	return " (p50 / p99: " + strings.Join(list, "; ") + ")"
}

// text is one pair: each side's p50/p99 and the ratio, or what is missing.
func (p Pair) text(sides [2]string, costs bool) string {
	side := func(name string, w *Window) string {
		if w == nil {
			return name + " did not run"
		}
		s := fmt.Sprintf("%s %.2f / %.2f ms", name, w.P50, w.P99)
		var more []string
		if w.Refusals > 0 {
			more = append(more, fmt.Sprintf("%d refusals", w.Refusals))
		}
		if w.Failures > 0 {
			more = append(more, fmt.Sprintf("%d failures", w.Failures))
		}
		if costs {
			more = append(more, fmt.Sprintf("machine %.0f %%", w.MachineCPU))
			if w.CPUPerUpdates > 0 {
				more = append(more, "CPU s per 1,000 code-updates "+w.costText())
			}
			if w.LostRaces > 0 {
				more = append(more, fmt.Sprintf("appends lost to the other instance %.0f (%.1f %% of the code-updates sent, the op log read after %.0f)",
					w.LostRaces, w.LostRacesPercent, w.LostRaceReads))
			}
		}
		if len(more) > 0 {
			s += " (" + strings.Join(more, ", ") + ")"
		}
		return s
	}
	second := sides[1]
	if p.Profiled {
		second += " (profiled)"
	}
	out := fmt.Sprintf("pair %d: %s, %s", p.Pair, side(sides[0], p.Windows[0]), side(second, p.Windows[1]))
	if p.Ratio > 0 {
		out += fmt.Sprintf(", %.2f×", p.Ratio)
	} else {
		out += ", no ratio"
	}
	return out
}

// costText is the servers' CPU seconds per 1,000 code-updates: the total,
// and each process's share when there are several.
func (w *Window) costText() string {
	if w.CPUPerUpdates == 0 {
		return "–"
	}
	s := fmt.Sprintf("%.3f", w.CPUPerUpdates)
	if len(w.ProcessCPU) < 2 {
		return s
	}
	var parts []string
	for _, c := range w.ProcessCPU {
		parts = append(parts, fmt.Sprintf("%s %.3f", c.Name, c.Seconds))
	}
	return s + " (" + strings.Join(parts, ", ") + ")"
}

// busy says, when other work took more than busyOthers during any window
// of the pairs, that the comparison is not conclusive, naming the windows.
func (lp *Pairs) busy() string {
	var parts []string
	busy := false
	for _, p := range lp.Pairs {
		for i, res := range p.res {
			if res == nil {
				continue
			}
			o := othersCPU(res)
			busy = busy || o > busyOthers
			parts = append(parts, fmt.Sprintf("%.0f%% (pair %d, %s)", o, p.Pair, lp.Sides[i]))
		}
	}
	if !busy {
		return ""
	}
	return "; not conclusive: other work took " + strings.Join(parts, ", ") + " CPU (100% = one core) during the windows compared"
}

// target1: interview-light's code-update p99 against the floor's, the
// median over pairs of windows, and pairpad's median p99 under 10 ms.
func (r *Report) target1() Target {
	t := Target{ID: "1", Goal: fmt.Sprintf("interview-light %s×3 (one typist at 2 fullCode updates/s, two users moving their cursors at 2/s), code-update latency: all-in-one p99 ≤ %g× the floor's (bare relay, same run) and ≤ %g ms, zero failures; judged on the median over pairs of windows (floor, then pairpad, alternating)",
		"1,000", lightRatioGoal, lightP99Goal)}
	lp := r.lightPairs()
	p, ok := lp.params(1)
	if !ok {
		return t.unmeasured("interview-light did not run against the all-in-one")
	}
	pp := lp.tally(1)
	t.Measured = fmt.Sprintf("%d×%d, %s of %s windows: all-in-one **median p99 %.2f ms** over %s, %d failures",
		p.Sessions, p.Users, things(len(lp.Pairs), "pair"), time.Duration(p.Duration), lp.MedianP99[1], things(pp.ran, "window"), pp.failures)
	if pp.missing > 0 {
		t.Measured += fmt.Sprintf(", windows against pairpad that did not run: %d", pp.missing)
	}
	ratioOK, spoilt := false, ""
	if lp.Ratios > 0 {
		t.Measured += fmt.Sprintf("; floor median p99 %.2f ms; **%.2f×** the floor's p99, %s", lp.MedianP99[0], lp.MedianRatio, lp.of())
		ratioOK, spoilt = lp.MedianRatio <= lightRatioGoal, lp.busy()
	} else {
		t.Measured += "; no pair with both windows measured: no ratio to the floor"
	}
	t.Measured += lp.list(false)
	small := p.Sessions < lightSessions
	if small {
		t.Measured += fmt.Sprintf(" (%d sessions: the target is stated for %d)", p.Sessions, lightSessions)
	}
	t.settle(small || lp.Ratios == 0, ratioOK && lp.MedianP99[1] <= lightP99Goal && pp.failures == 0 && pp.missing == 0, spoilt)
	return t
}

// target4: the heavy interview, the split layout's p99 against the
// all-in-one's, the median over pairs of windows; the all-in-one's median
// p99 under 50 ms; no refusal or failure in any window; the floor beside.
func (r *Report) target4() Target {
	t := Target{ID: "4", Goal: fmt.Sprintf("heavy interview 1,000×3, every user editing (2 fullCode updates + 2 cursor moves/s each), latency of every event: zero refusals, all-in-one p99 ≤ %g ms, the split layout's p99 ≤ %g× the all-in-one's; judged on the median over pairs of windows (all-in-one, then split, alternating)",
		heavyP99Goal, splitRatioGoal)}
	hp := r.heavyPairs()
	p, ok := hp.params(0)
	if !ok {
		return t.unmeasured("the heavy interview did not run against the all-in-one")
	}
	local, split := hp.tally(0), hp.tally(1)
	t.Measured = fmt.Sprintf("%d×%d, %s of %s windows: all-in-one **median p99 %.2f ms** over %s, %d refusals, %d failures",
		p.Sessions, p.Users, things(len(hp.Pairs), "pair"), time.Duration(p.Duration), hp.MedianP99[0], things(local.ran, "window"), local.refusals, local.failures)
	ok = hp.MedianP99[0] <= heavyP99Goal && local.refusals == 0 && local.failures == 0 && local.missing == 0
	unmeasured := p.Sessions < lightSessions
	var spoilt string
	if split.ran > 0 {
		t.Measured += fmt.Sprintf("; split median p99 %.2f ms over %s, %d refusals, %d failures", hp.MedianP99[1], things(split.ran, "window"), split.refusals, split.failures)
		if local.missing+split.missing > 0 {
			t.Measured += fmt.Sprintf("; windows that did not run: all-in-one %d, split %d", local.missing, split.missing)
		}
		ok = ok && split.refusals == 0 && split.failures == 0 && split.missing == 0
		if hp.Ratios > 0 {
			t.Measured += fmt.Sprintf("; **%.2f×** the all-in-one's p99, %s", hp.MedianRatio, hp.of())
			ok, spoilt = ok && hp.MedianRatio <= splitRatioGoal, hp.busy()
		} else {
			t.Measured += "; no pair with both windows measured: no ratio"
			unmeasured = true
		}
	} else {
		t.Measured += "; the split layout did not run"
		unmeasured = true
	}
	t.Measured += hp.list(true)
	if floor := r.find("interview", "relay"); floor != nil && floor.Traffic != nil {
		f := floor.Traffic.Latency["all"]
		t.Measured += fmt.Sprintf("; floor (bare relay, once, before the pairs) %s: the all-in-one's median p99 is %.1f× the floor's", lat(f), hp.MedianP99[0]/max(f.P99, 0.001))
	}
	if p.Sessions < lightSessions {
		t.Measured += fmt.Sprintf(" (%d sessions: the target is stated for %d)", p.Sessions, lightSessions)
	}
	t.settle(unmeasured, ok, spoilt)
	return t
}

// pairColumn is one column of a pairs table: its head, each pair's cell
// and the medians' row's.
type pairColumn struct {
	head   string
	cell   func(Pair) string
	median string
}

func ms(v float64) string { return fmt.Sprintf("%.2f ms", v) }
func pc(v float64) string { return fmt.Sprintf("%.0f %%", v) }

// sideColumns are the columns of side i's windows: p50, p99, server CPU,
// and with machine, the machine's CPU.
func (lp *Pairs) sideColumns(i int, machine bool) []pairColumn {
	name := lp.Sides[i]
	get := func(f func(*Window) string) func(Pair) string {
		return func(p Pair) string {
			if w := p.Windows[i]; w != nil {
				return f(w)
			}
			return ""
		}
	}
	p50 := get(func(w *Window) string { return ms(w.P50) })
	cols := []pairColumn{
		{name + " p50", func(p Pair) string {
			if p.Windows[i] == nil {
				return "did not run"
			}
			return p50(p)
		}, ""},
		{name + " p99", get(func(w *Window) string { return ms(w.P99) }), ms(lp.MedianP99[i])},
		{name + " server CPU", get(func(w *Window) string { return pc(w.ServerCPU) }), ""},
	}
	if machine {
		cols = append(cols, pairColumn{"machine CPU (" + name + ")", get(func(w *Window) string { return pc(w.MachineCPU) }), ""})
	}
	return cols
}

// both is a column of one figure of either side's window, "a, b", "–" for
// one that did not run.
func both(head string, f func(*Window) string) pairColumn {
	return pairColumn{head: head, cell: func(p Pair) string {
		cells := []string{"–", "–"}
		for i, w := range p.Windows {
			if w != nil {
				cells[i] = f(w)
			}
		}
		return strings.Join(cells, ", ")
	}}
}

// ratioColumn is each pair's ratio, in bold the median pair's, and the
// median ratio.
func (lp *Pairs) ratioColumn() pairColumn {
	return pairColumn{"p99 ratio", func(p Pair) string {
		if p.Ratio <= 0 {
			return ""
		}
		x := fmt.Sprintf("%.2f×", p.Ratio)
		if p.Pair == lp.MedianPair {
			x = "**" + x + "**"
		}
		return x
	}, fmt.Sprintf("**%.2f×**", lp.MedianRatio)}
}

// table writes every pair's windows, a row each, then the medians.
func (lp *Pairs) table(b *strings.Builder, cols []pairColumn) {
	cols = append([]pairColumn{{"pair", func(p Pair) string {
		if p.Profiled {
			return fmt.Sprintf("%d (profiled)", p.Pair)
		}
		return fmt.Sprint(p.Pair)
	}, "median"}}, cols...)
	row := func(cell func(pairColumn) string) {
		b.WriteString("|")
		for _, c := range cols {
			if v := cell(c); v != "" {
				b.WriteString(" " + v)
			}
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	row(func(c pairColumn) string { return c.head })
	row(func(pairColumn) string { return "---:" })
	for _, p := range lp.Pairs {
		row(func(c pairColumn) string { return c.cell(p) })
	}
	row(func(c pairColumn) string { return c.median })
	b.WriteString("\n")
}

// pairsTables writes targets 1's and 4's windows, pair by pair, and the
// medians.
func (r *Report) pairsTables(b *strings.Builder) {
	if lp := r.lightPairs(); lp != nil && len(lp.Pairs) > 0 {
		b.WriteString("## interview-light's pairs of windows (target 1)\n\nFresh servers for every window, the floor's then pairpad's, alternating; code-update latency from send to each receiver; CPU over the window, 100 % = one core. Target 1's ratio is the median of the pairs' ratios (for an even count, the mean of the two middle ones), in bold the ratio of the pair it comes from (or the lower middle one); its p99 is pairpad's median p99. A profiled window paid for its profiles in CPU.\n\n")
		cols := append(lp.sideColumns(0, false), lp.sideColumns(1, true)...)
		cols = append(cols, both("failures (floor, pairpad)", func(w *Window) string { return fmt.Sprint(w.Failures) }), lp.ratioColumn())
		lp.table(b, cols)
	}
	if hp := r.heavyPairs(); hp != nil && len(hp.Pairs) > 0 {
		b.WriteString("## The heavy interview's pairs of windows (target 4)\n\nFresh servers for every window, the all-in-one's then the split layout's (api, 2 realtime, janitor, nats-server), alternating; the floor ran once, before them (its figure is in the target's row). Latency of every event from send to each receiver; CPU over the window, 100 % = one core; CPU seconds per 1,000 code-updates sent, the split's by process; appends the split's instances lost to each other, of the code-updates sent. Target 4's ratio is the median of the pairs' ratios (for an even count, the mean of the two middle ones), in bold the ratio of the pair it comes from (or the lower middle one); the all-in-one's p99 is its median p99. The last pair's windows were profiled and paid for it in CPU.\n\n")
		cols := append(hp.sideColumns(0, true), hp.sideColumns(1, true)...)
		cols = append(cols,
			both("refusals (all-in-one, split)", func(w *Window) string { return fmt.Sprint(w.Refusals) }),
			both("failures (all-in-one, split)", func(w *Window) string { return fmt.Sprint(w.Failures) }),
			pairColumn{head: "split: appends lost to the other instance", cell: func(p Pair) string {
				if w := p.Windows[1]; w != nil && w.CPUPerUpdates > 0 {
					return fmt.Sprintf("%.0f (%.1f %%)", w.LostRaces, w.LostRacesPercent)
				}
				return ""
			}},
			both("CPU s per 1,000 code-updates (all-in-one, split)", func(w *Window) string { return w.costText() }),
			hp.ratioColumn())
		hp.table(b, cols)
	}
}
