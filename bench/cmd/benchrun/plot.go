package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

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

func logPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
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
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plot ramp: %w", err)
		}
		line.Color = plotutil.Color(i)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(pc.name, line, points)
	}
	limit := plotter.NewFunction(func(float64) float64 { return limitMs })
	limit.Color = color.RGBA{R: 200, A: 255}
	limit.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(limit)
	p.Legend.Add(fmt.Sprintf("p99 limit %g ms", limitMs), limit)
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
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plot scenarios: %w", err)
		}
		line.Color, points.Color, points.Shape = plotutil.Color(n), plotutil.Color(n), plotutil.Shape(n)
		p.Add(line, points)
		p.Legend.Add(fmt.Sprintf("%s (%s)", r.Scenario, r.Layout), line, points)
		n++
		bottom = min(bottom, pts[0].Y)
	}
	if n == 0 {
		return fmt.Errorf("plot scenarios: no latencies")
	}
	p.Y.Min = max(minMs, bottom/2)
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}
