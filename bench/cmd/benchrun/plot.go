package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// minMs keeps latencies off zero on the log scale.
const minMs = 0.01

// percentile names a field of a latency summary.
type percentile struct {
	name string
	get  func(loadgen.Summary) float64
}

var percentiles = []percentile{
	{"p50", func(s loadgen.Summary) float64 { return s.P50 }},
	{"p90", func(s loadgen.Summary) float64 { return s.P90 }},
	{"p99", func(s loadgen.Summary) float64 { return s.P99 }},
	{"p99.9", func(s loadgen.Summary) float64 { return s.P999 }},
	{"max", func(s loadgen.Summary) float64 { return s.Max }},
}

// linearPlot is a plot with a grid and its legend at the top left.
func linearPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// logPlot is linearPlot with a log scale for latencies.
func logPlot(title, x, y string) *plot.Plot {
	p := linearPlot(title, x, y)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	return p
}

// addLine adds pts to p as its n-th line with points, named in the legend.
func addLine(p *plot.Plot, pts plotter.XYs, n int, name string) error {
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	line.Color, points.Color, points.Shape = plotutil.Color(n), plotutil.Color(n), plotutil.Shape(n)
	p.Add(line, points)
	p.Legend.Add(name, line, points)
	return nil
}

// addLimit draws a target's limit across p: a dashed red line (or, for a
// second limit, another colour).
func addLimit(p *plot.Plot, v float64, name string, c ...color.Color) {
	limit := plotter.NewFunction(func(float64) float64 { return v })
	limit.Color = color.RGBA{R: 200, A: 255}
	if len(c) > 0 {
		limit.Color = c[0]
	}
	limit.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(limit)
	p.Legend.Add(name, limit)
}

// plotRamp draws the latency percentiles of each ramp step against the
// events sent per second, with the p99 limit that ends the ramp.
func plotRamp(path, subtitle string, steps []loadgen.Step, limitMs float64) error {
	if len(steps) == 0 {
		return fmt.Errorf("plot ramp: no steps")
	}
	p := logPlot("Ramp: latency from send to receipt, by load\n"+subtitle,
		"events sent per second (code-update + cursor-update)", "latency (ms, log scale)")
	top, bottom := limitMs, limitMs
	for i, pc := range percentiles[:4] {
		pts := make(plotter.XYs, len(steps))
		for j, s := range steps {
			pts[j].X = s.Traffic.SentPerSec
			pts[j].Y = max(minMs, pc.get(s.Traffic.Latency["all"]))
			top, bottom = max(top, pts[j].Y), min(bottom, pts[j].Y)
		}
		if err := addLine(p, pts, i, pc.name); err != nil {
			return fmt.Errorf("plot ramp: %w", err)
		}
	}
	addLimit(p, limitMs, fmt.Sprintf("p99 limit %g ms", limitMs))
	p.Y.Min, p.Y.Max = max(minMs, bottom/2), top*2 // the limit line stays in view
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}

// plotScenarios draws the latency percentiles of each scenario run side by side.
func plotScenarios(path, subtitle string, results []*loadgen.Result) error {
	p := logPlot("Latency from send to receipt at the other members\n"+subtitle, "percentile", "latency (ms, log scale)")
	names := make([]string, len(percentiles))
	for i, pc := range percentiles {
		names[i] = pc.name
	}
	p.NominalX(names...)
	n, bottom := 0, 1e9
	for _, r := range results {
		if r.Traffic == nil || r.Traffic.Latency["all"].Count == 0 {
			continue
		}
		s := r.Traffic.Latency["all"]
		pts := make(plotter.XYs, len(percentiles))
		for i, pc := range percentiles {
			pts[i].X, pts[i].Y = float64(i), max(minMs, pc.get(s))
		}
		if err := addLine(p, pts, n, fmt.Sprintf("%s (%s)", r.Scenario, r.Layout)); err != nil {
			return fmt.Errorf("plot scenarios: %w", err)
		}
		n++
		bottom = min(bottom, pts[0].Y)
	}
	if n == 0 {
		return fmt.Errorf("plot scenarios: no latencies")
	}
	p.Y.Min = max(minMs, bottom/2)
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}

// floorRow is one latency figure of a target: pairpad's beside the floor's
// (when it ran), a figure for each window (target 1 has a pair of windows
// several times), and the target's p99 limit (0: none).
type floorRow struct {
	label          string
	floor, pairpad []loadgen.Summary
	limit          float64
}

// floorRows are the latency targets of a report, in the order.
func (r *Report) floorRows() []floorRow {
	var rows []floorRow
	sum := func(res *loadgen.Result, kind string) []loadgen.Summary {
		if res == nil || res.Traffic == nil {
			return nil
		}
		return []loadgen.Summary{res.Traffic.Latency[kind]}
	}
	// Targets 1 and 4: every window of every pair, the median ratio in
	// the label; the split's limit is twice the all-in-one's median p99.
	windows := func(lp *Pairs, i int) []loadgen.Summary {
		var out []loadgen.Summary
		for _, res := range lp.runs(i) {
			out = append(out, res.Traffic.Latency[lp.Latency])
		}
		return out
	}
	median := func(lp *Pairs) string {
		if lp.Ratios == 0 {
			return ""
		}
		return fmt.Sprintf(", median %.1f×", lp.MedianRatio)
	}
	if light := r.lightPairs(); light != nil && len(light.runs(1)) > 0 {
		rows = append(rows, floorRow{"1 light" + median(light), windows(light, 0), windows(light, 1), lightP99Goal})
	}
	if heavy := r.heavyPairs(); heavy != nil {
		floor := sum(r.find("interview", "relay"), "all")
		if len(heavy.runs(0)) > 0 {
			rows = append(rows, floorRow{"4 heavy, all-in-one", floor, windows(heavy, 0), heavyP99Goal})
		}
		if len(heavy.runs(1)) > 0 {
			rows = append(rows, floorRow{"4 heavy, split" + median(heavy), floor, windows(heavy, 1), splitRatioGoal * heavy.MedianP99[0]})
		}
	}
	if res := r.find("idle50k", "split"); res != nil {
		rows = append(rows, floorRow{"5 idle50k", sum(r.find("idle50k", "relay"), "cursor-update"), sum(res, "cursor-update"), manyP99Goal})
	}
	pairpad, floors, sizes := r.crowdSteps()
	for _, n := range sizes {
		rows = append(rows, floorRow{fmt.Sprintf("6 crowd %d", n), sum(floors[n], "all"), sum(pairpad[n], "all"), crowdP99Limit})
	}
	return rows
}

// plotFloor draws each latency target's p50 and p99 for pairpad beside the
// floor's measured in the same run, every window's (side by side within
// the side's place), with the target's p99 limit.
func plotFloor(path, subtitle string, rows []floorRow) error {
	if len(rows) == 0 {
		return fmt.Errorf("plot floor: no latency targets")
	}
	p := logPlot("Issue 16 latency targets: pairpad beside the floor (a bare relay), same run, every window\n"+subtitle,
		"target and scenario", "latency from send to receipt (ms, log scale)")
	labels := make([]string, len(rows))
	for i, r := range rows {
		labels[i] = r.label
	}
	p.NominalX(labels...)
	p50 := func(s loadgen.Summary) float64 { return s.P50 }
	p99 := func(s loadgen.Summary) float64 { return s.P99 }
	type series struct {
		name   string
		offset float64
		side   func(floorRow) []loadgen.Summary
		get    func(loadgen.Summary) float64
		style  int
	}
	floorSide := func(r floorRow) []loadgen.Summary { return r.floor }
	pairpadSide := func(r floorRow) []loadgen.Summary { return r.pairpad }
	all := []series{
		{"floor p50", -0.15, floorSide, p50, 0},
		{"floor p99", -0.15, floorSide, p99, 1},
		{"pairpad p50", 0.15, pairpadSide, p50, 2},
		{"pairpad p99", 0.15, pairpadSide, p99, 3},
	}
	bottom, top := 1e9, 0.0
	add := func(name string, pts plotter.XYs, style int) error {
		if len(pts) == 0 {
			return nil
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return fmt.Errorf("plot floor: %w", err)
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = plotutil.Color(style), plotutil.Shape(style), vg.Points(4)
		if style == 4 {
			sc.GlyphStyle.Color, sc.GlyphStyle.Radius = color.RGBA{R: 200, A: 255}, vg.Points(6)
			sc.GlyphStyle.Shape = draw.BoxGlyph{}
		}
		p.Add(sc)
		p.Legend.Add(name, sc)
		return nil
	}
	for _, s := range all {
		var pts plotter.XYs
		for i, r := range rows {
			windows := s.side(r)
			for k, w := range windows {
				if v := s.get(w); v > 0 {
					// Several windows spread around the side's place.
					x := float64(i) + s.offset + 0.06*(float64(k)-float64(len(windows)-1)/2)
					pts = append(pts, plotter.XY{X: x, Y: max(minMs, v)})
					bottom, top = min(bottom, max(minMs, v)), max(top, v)
				}
			}
		}
		if err := add(s.name, pts, s.style); err != nil {
			return err
		}
	}
	var limits plotter.XYs
	for i, r := range rows {
		if r.limit > 0 {
			limits = append(limits, plotter.XY{X: float64(i), Y: r.limit})
			bottom, top = min(bottom, r.limit), max(top, r.limit)
		}
	}
	if err := add("target: p99 limit", limits, 4); err != nil {
		return err
	}
	p.Y.Min, p.Y.Max = max(minMs, bottom/2), top*2
	return p.Save(11*vg.Inch, 6*vg.Inch, path)
}

// pairsLimit is a target's p99 limit drawn across a pairs plot.
type pairsLimit struct {
	name string
	v    float64
}

// plotPairs draws every window of a target judged on pairs: each side's
// p50 and p99 in each pair, each pair's ratio, the sides' median p99s the
// target is judged on, and its limits.
func plotPairs(path, title string, lp *Pairs, limits ...pairsLimit) error {
	title += fmt.Sprintf("\nmedian p99: %s %.2f ms, %s %.2f ms; median ratio %.2f× of %s",
		lp.Sides[1], lp.MedianP99[1], lp.Sides[0], lp.MedianP99[0], lp.MedianRatio, things(lp.Ratios, "pair"))
	p := logPlot(title, "pair of windows (its p99 ratio)", "latency from send to receipt (ms, log scale)")
	labels := make([]string, len(lp.Pairs))
	for i, pair := range lp.Pairs {
		labels[i] = fmt.Sprintf("pair %d", pair.Pair)
		if pair.Ratio > 0 {
			labels[i] += fmt.Sprintf(" (%.2f×)", pair.Ratio)
		}
		if pair.Pair == lp.MedianPair {
			labels[i] += ", median"
		}
		if pair.Profiled {
			labels[i] += ", profiled"
		}
	}
	p.NominalX(labels...)
	bottom, top := 1e9, 0.0
	for _, l := range limits {
		bottom, top = min(bottom, l.v), max(top, l.v)
	}
	n := 0
	for side, offset := range []float64{-0.1, 0.1} {
		for _, pc := range []percentile{percentiles[0], percentiles[2]} {
			var pts plotter.XYs
			for i, pair := range lp.Pairs {
				if w := pair.Windows[side]; w != nil && w.Count > 0 {
					v := max(minMs, pc.get(loadgen.Summary{P50: w.P50, P99: w.P99}))
					pts = append(pts, plotter.XY{X: float64(i) + offset, Y: v})
					bottom, top = min(bottom, v), max(top, v)
				}
			}
			if len(pts) == 0 {
				continue
			}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return fmt.Errorf("plot pairs: %w", err)
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = plotutil.Color(n), plotutil.Shape(n), vg.Points(4)
			p.Add(sc)
			p.Legend.Add(lp.Sides[side]+" "+pc.name, sc)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("plot pairs: no window measured")
	}
	for side, c := range []color.Color{plotutil.Color(1), plotutil.Color(3)} {
		if v := lp.MedianP99[side]; v > 0 {
			line := plotter.NewFunction(func(float64) float64 { return v })
			line.Color, line.Dashes = c, []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(line)
			p.Legend.Add(lp.Sides[side]+" median p99", line)
		}
	}
	for k, l := range limits {
		if l.v > 0 {
			addLimit(p, l.v, l.name, []color.Color{color.RGBA{R: 200, A: 255}, color.RGBA{R: 230, G: 140, A: 255}}[k%2])
		}
	}
	p.X.Min, p.X.Max = -0.5, float64(len(lp.Pairs))-0.5
	p.Y.Min, p.Y.Max = max(minMs, bottom/2), top*2
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}

// plotCrowd draws the crowd's p50 and p99 by size, pairpad and the floor,
// with the ceiling's limit.
func plotCrowd(path, subtitle string, pairpad, floor map[int]*loadgen.Result, sizes []int) error {
	p := logPlot("Crowd (target 6): latency by crowd size, one session, everyone typing\n"+subtitle,
		"users in the session", "latency from send to receipt (ms, log scale)")
	bottom, top := crowdP99Limit, crowdP99Limit
	n := 0
	for _, side := range []struct {
		name  string
		steps map[int]*loadgen.Result
	}{{"floor", floor}, {"pairpad", pairpad}} {
		for _, pc := range []percentile{percentiles[0], percentiles[2]} {
			var pts plotter.XYs
			for _, size := range sizes {
				if res := side.steps[size]; res != nil {
					v := max(minMs, pc.get(res.Traffic.Latency["all"]))
					pts = append(pts, plotter.XY{X: float64(size), Y: v})
					bottom, top = min(bottom, v), max(top, v)
				}
			}
			if len(pts) == 0 {
				continue
			}
			if err := addLine(p, pts, n, side.name+" "+pc.name); err != nil {
				return fmt.Errorf("plot crowd: %w", err)
			}
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("plot crowd: no steps")
	}
	addLimit(p, crowdP99Limit, fmt.Sprintf("ceiling: p99 ≤ %g ms", crowdP99Limit))
	p.Y.Min, p.Y.Max = max(minMs, bottom/2), top*2
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}

// plotCrowdCPU draws where the CPU went at each crowd size: what bounds
// the ceiling.
func plotCrowdCPU(path, subtitle string, pairpad, floor map[int]*loadgen.Result, sizes []int) error {
	p := linearPlot("Crowd (target 6): CPU during each window, 100 % = one core\n"+subtitle, "users in the session", "CPU (%)")
	n := 0
	for _, s := range []struct {
		name  string
		steps map[int]*loadgen.Result
		get   func(*loadgen.Result) float64
	}{
		{"pairpad server", pairpad, serverCPU},
		{"generator (against pairpad)", pairpad, func(r *loadgen.Result) float64 { return r.Loadgen.CPUPercent }},
		{"machine (against pairpad)", pairpad, func(r *loadgen.Result) float64 { return r.Traffic.MachineCPUPercent }},
		{"floor server", floor, serverCPU},
	} {
		var pts plotter.XYs
		for _, size := range sizes {
			if res := s.steps[size]; res != nil {
				pts = append(pts, plotter.XY{X: float64(size), Y: s.get(res)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		if err := addLine(p, pts, n, s.name); err != nil {
			return fmt.Errorf("plot crowd cpu: %w", err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("plot crowd cpu: no steps")
	}
	p.Y.Min, p.Y.Max = 0, p.Y.Max*1.4 // room for the legend above the machine's line
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}

// plotRSS draws each watched server's RSS over a window (target 3), with
// the 250 MB limit.
func plotRSS(path, subtitle string, series []loadgen.RSSSeries) error {
	p := linearPlot("Memory under edits (target 3): RSS over the interview-light window\n"+subtitle,
		"minutes since the measured window started (before 0: warmup)", "RSS (MiB)")
	n := 0
	for _, s := range series {
		if len(s.Samples) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(s.Samples))
		for i, r := range s.Samples {
			pts[i] = plotter.XY{X: r.Seconds / 60, Y: float64(r.Bytes) / (1 << 20)}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("plot rss: %w", err)
		}
		line.Color = plotutil.Color(n)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(s.Name, line)
		n++
	}
	if n == 0 {
		return fmt.Errorf("plot rss: no readings")
	}
	addLimit(p, memRSSGoal/(1<<20), "target: 250 MB")
	p.Y.Min = 0
	p.Y.Max = max(p.Y.Max, memRSSGoal/(1<<20)*1.1)
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}
