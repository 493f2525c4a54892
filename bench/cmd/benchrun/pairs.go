package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// LightPairs is target 1's figure: interview-light ran as pairs of windows
// on fresh servers, the floor's then pairpad's, alternating, and the
// target's ratio is the median of the pairs' ratios. One window's p99 moves
// by half from one run to the next on a quiet machine, so one pair says
// little.
type LightPairs struct {
	Pairs []LightPair `json:"pairs"`
	// Ratios is how many pairs have a ratio (both windows measured);
	// MedianRatio is the median of theirs, the mean of the two middle
	// ones for an even count, 0 when none has one.
	Ratios      int     `json:"ratios"`
	MedianRatio float64 `json:"medianRatio"`
	// MedianPair is the pair whose ratio is the median (for an even count,
	// the lower of the two middle ones); 0 when no pair has a ratio.
	MedianPair int `json:"medianPair,omitempty"`
	// The median code-update p99 over every window of each side that ran.
	FloorMedianP99   float64 `json:"floorMedianP99Ms"`
	PairpadMedianP99 float64 `json:"pairpadMedianP99Ms"`
}

// LightPair is one pair of interview-light windows.
type LightPair struct {
	Pair int `json:"pair"`
	// Floor and Pairpad are the windows' code-update latency; nil: the
	// window did not run (the results' notes say why).
	Floor   *LightWindow `json:"floor,omitempty"`
	Pairpad *LightWindow `json:"pairpad,omitempty"`
	// Ratio is pairpad's p99 over the floor's; 0 when the pair has none.
	Ratio float64 `json:"ratio,omitempty"`
	// Profiled: the servers were profiled during pairpad's window (the
	// last one), which costs it some CPU.
	Profiled bool `json:"profiled,omitempty"`

	floor, pairpad *loadgen.Result
}

// LightWindow is one window's code-update latency and how it went.
type LightWindow struct {
	P50      float64 `json:"p50Ms"`
	P99      float64 `json:"p99Ms"`
	Count    int64   `json:"count"`
	Failures int     `json:"failures"`
	// ServerCPU and MachineCPU are over the window, 100 = one core.
	ServerCPU  float64 `json:"serverCPUPercent"`
	MachineCPU float64 `json:"machineCPUPercent"`
}

func lightWindow(res *loadgen.Result) *LightWindow {
	if res == nil || res.Traffic == nil {
		return nil
	}
	l := res.Traffic.Latency["code-update"]
	return &LightWindow{P50: l.P50, P99: l.P99, Count: l.Count, Failures: len(res.Failures),
		ServerCPU: serverCPU(res), MachineCPU: res.Traffic.MachineCPUPercent}
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

// lightPairs gathers interview-light's windows into their pairs: the pairs
// the run planned (LightPairsRun), a window that did not run left nil, or,
// for a report without the count, the pairs found (a report from before
// the pairs: one, pair 0). nil when interview-light did not run.
func (r *Report) lightPairs() *LightPairs {
	byPair := map[int]*LightPair{}
	var order []int
	pair := func(n int) *LightPair {
		if lp := byPair[n]; lp != nil {
			return lp
		}
		byPair[n] = &LightPair{Pair: n}
		order = append(order, n)
		return byPair[n]
	}
	for n := 1; n <= r.LightPairsRun; n++ {
		pair(n)
	}
	found := false
	for _, res := range r.Results {
		if res.Scenario != "interview-light" {
			continue
		}
		found = true
		lp := pair(res.Run)
		if isFloor(res) {
			lp.floor = res
		} else if strings.HasPrefix(res.Layout, "all-in-one") {
			lp.pairpad = res
		}
	}
	if !found && r.LightPairsRun == 0 {
		return nil
	}
	slices.Sort(order)
	if last := r.lastLight(); last != nil && slices.ContainsFunc(r.Profiles, func(p Profile) bool { return p.Scenario == "interview-light" }) {
		byPair[last.Run].Profiled = true
	}
	out := &LightPairs{}
	var ratios, floorP99, pairpadP99 []float64
	for _, n := range order {
		lp := byPair[n]
		lp.Floor, lp.Pairpad = lightWindow(lp.floor), lightWindow(lp.pairpad)
		if lp.Floor != nil {
			floorP99 = append(floorP99, lp.Floor.P99)
		}
		if lp.Pairpad != nil {
			pairpadP99 = append(pairpadP99, lp.Pairpad.P99)
		}
		if lp.Floor != nil && lp.Pairpad != nil && lp.Floor.P99 > 0 && lp.Pairpad.Count > 0 {
			lp.Ratio = lp.Pairpad.P99 / lp.Floor.P99
			ratios = append(ratios, lp.Ratio)
		}
		out.Pairs = append(out.Pairs, *lp)
	}
	out.Ratios, out.MedianRatio = len(ratios), medianOf(ratios)
	out.FloorMedianP99, out.PairpadMedianP99 = medianOf(floorP99), medianOf(pairpadP99)
	if len(ratios) > 0 {
		middle := slices.Sorted(slices.Values(ratios))[(len(ratios)-1)/2]
		for _, lp := range out.Pairs {
			if lp.Ratio == middle && out.MedianPair == 0 {
				out.MedianPair = lp.Pair
			}
		}
	}
	return out
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

// pairpadRuns are the pairs' windows against pairpad that ran.
func (lp *LightPairs) pairpadRuns() []*loadgen.Result {
	var out []*loadgen.Result
	for _, p := range lp.Pairs {
		if p.pairpad != nil && p.pairpad.Traffic != nil {
			out = append(out, p.pairpad)
		}
	}
	return out
}

// text lists every pair: each side's p50/p99 and the ratio, or what is
// missing.
func (p LightPair) text() string {
	side := func(name string, w *LightWindow) string {
		if w == nil {
			return name + " did not run"
		}
		s := fmt.Sprintf("%s %.2f / %.2f ms", name, w.P50, w.P99)
		if w.Failures > 0 {
			s += fmt.Sprintf(" (%d failures)", w.Failures)
		}
		return s
	}
	pairpad := "pairpad"
	if p.Profiled {
		pairpad += " (profiled)"
	}
	out := fmt.Sprintf("pair %d: %s, %s", p.Pair, side("floor", p.Floor), side(pairpad, p.Pairpad))
	if p.Ratio > 0 {
		out += fmt.Sprintf(", %.2f×", p.Ratio)
	} else {
		out += ", no ratio"
	}
	return out
}

// busyPairs says, when other work took more than busyOthers during any
// window of the pairs, that the comparison is not conclusive, naming the
// windows.
func (lp *LightPairs) busyPairs() string {
	var parts []string
	busy := false
	for _, p := range lp.Pairs {
		for _, w := range []struct {
			side string
			res  *loadgen.Result
		}{{"floor", p.floor}, {"pairpad", p.pairpad}} {
			if w.res == nil {
				continue
			}
			o := othersCPU(w.res)
			busy = busy || o > busyOthers
			parts = append(parts, fmt.Sprintf("%.0f%% (pair %d, %s)", o, p.Pair, w.side))
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
	var runs []*loadgen.Result
	if lp != nil {
		runs = lp.pairpadRuns()
	}
	if len(runs) == 0 {
		return t.unmeasured("interview-light did not run against the all-in-one")
	}
	p, _ := interviewParams(runs[0])
	failures, missing := 0, 0
	for _, res := range runs {
		failures += len(res.Failures)
	}
	for _, pair := range lp.Pairs {
		if pair.Pairpad == nil {
			missing++ // its servers or its window failed: no figure is a failure
		}
	}
	t.Measured = fmt.Sprintf("%d×%d, %s of %s windows: all-in-one **median p99 %.2f ms** over %s, %d failures",
		p.Sessions, p.Users, things(len(lp.Pairs), "pair"), time.Duration(p.Duration), lp.PairpadMedianP99, things(len(runs), "window"), failures)
	if missing > 0 {
		t.Measured += fmt.Sprintf(", windows against pairpad that did not run: %d", missing)
	}
	ratioOK, spoilt := false, ""
	if lp.Ratios > 0 {
		of := fmt.Sprintf("the median of %d pairs", lp.Ratios)
		switch {
		case len(lp.Pairs) == 1:
			of = "one pair only"
		case lp.Ratios < len(lp.Pairs):
			of = fmt.Sprintf("the median of the %d of %d pairs with both windows measured", lp.Ratios, len(lp.Pairs))
		}
		t.Measured += fmt.Sprintf("; floor median p99 %.2f ms; **%.2f×** the floor's p99, %s", lp.FloorMedianP99, lp.MedianRatio, of)
		ratioOK, spoilt = lp.MedianRatio <= lightRatioGoal, lp.busyPairs()
	} else {
		t.Measured += "; no pair with both windows measured: no ratio to the floor"
	}
	var list []string
	for _, pair := range lp.Pairs {
		list = append(list, pair.text())
	}
	t.Measured += " (p50 / p99: " + strings.Join(list, "; ") + ")"
	small := p.Sessions < lightSessions
	if small {
		t.Measured += fmt.Sprintf(" (%d sessions: the target is stated for %d)", p.Sessions, lightSessions)
	}
	t.settle(small || lp.Ratios == 0, ratioOK && lp.PairpadMedianP99 <= lightP99Goal && failures == 0 && missing == 0, spoilt)
	return t
}

// pairsTable writes target 1's windows, pair by pair, and the medians.
func (r *Report) pairsTable(b *strings.Builder) {
	lp := r.lightPairs()
	if lp == nil || len(lp.Pairs) == 0 {
		return
	}
	b.WriteString("## interview-light's pairs of windows (target 1)\n\nFresh servers for every window, the floor's then pairpad's, alternating; code-update latency from send to each receiver; CPU over the window, 100 % = one core. Target 1's ratio is the median of the pairs' ratios (for an even count, the mean of the two middle ones), in bold the ratio of the pair it comes from (or the lower middle one); its p99 is pairpad's median p99. A profiled window paid for its profiles in CPU.\n\n")
	b.WriteString("| pair | floor p50 | floor p99 | floor CPU | pairpad p50 | pairpad p99 | pairpad server CPU | machine CPU (pairpad) | failures (floor, pairpad) | p99 ratio |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	ms := func(v float64) string { return fmt.Sprintf("%.2f ms", v) }
	pc := func(v float64) string { return fmt.Sprintf("%.0f %%", v) }
	for _, p := range lp.Pairs {
		row := []string{fmt.Sprint(p.Pair)}
		if p.Profiled {
			row[0] += " (profiled)"
		}
		fails := []string{"–", "–"}
		if w := p.Floor; w != nil {
			row = append(row, ms(w.P50), ms(w.P99), pc(w.ServerCPU))
			fails[0] = fmt.Sprint(w.Failures)
		} else {
			row = append(row, "did not run", "", "")
		}
		if w := p.Pairpad; w != nil {
			row = append(row, ms(w.P50), ms(w.P99), pc(w.ServerCPU), pc(w.MachineCPU))
			fails[1] = fmt.Sprint(w.Failures)
		} else {
			row = append(row, "did not run", "", "", "")
		}
		row = append(row, strings.Join(fails, ", "))
		if p.Ratio > 0 {
			x := fmt.Sprintf("%.2f×", p.Ratio)
			if p.Pair == lp.MedianPair {
				x = "**" + x + "**"
			}
			row = append(row, x)
		} else {
			row = append(row, "")
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintf(b, "| median | | %s | | | %s | | | | **%.2f×** |\n\n", ms(lp.FloorMedianP99), ms(lp.PairpadMedianP99), lp.MedianRatio)
}
