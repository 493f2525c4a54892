package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// Report is everything one `make bench` run produced.
type Report struct {
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Quick    bool              `json:"quick,omitempty"`
	Machine  Machine           `json:"machine"`
	Targets  []Target          `json:"targets"`
	Results  []*loadgen.Result `json:"results"`
	Profiles []Profile         `json:"profiles,omitempty"`
	Notes    []string          `json:"notes,omitempty"`
}

// Target is one of the goals and what the run measured for it.
type Target struct {
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func (r *Report) stamp() string { return r.Started.Format("2006-01-02-1504") }

// find returns the result of scenario on the layout whose name starts with prefix.
func (r *Report) find(scenario, prefix string) *loadgen.Result {
	for _, res := range r.Results {
		if res.Scenario == scenario && strings.HasPrefix(res.Layout, prefix) {
			return res
		}
	}
	return nil
}

// targets compares the run with the goals.
func (r *Report) targets() []Target {
	var out []Target
	if idle := r.find("idle", ""); idle != nil && idle.Memory != nil {
		m := idle.Memory
		out = append(out, Target{
			Goal: "idle: ≤ 16 KiB server memory per open WebSocket",
			Measured: fmt.Sprintf("%.1f KiB RSS, %.1f KiB Go heap per connection (%d connections)",
				m.RSSPerConn/1024, m.HeapPerConn/1024, m.Connections),
			Met: m.RSSPerConn <= 16*1024 && len(idle.Failures) == 0,
		}, Target{
			Goal: "idle: 50,000 connections on one instance",
			Measured: fmt.Sprintf("%d opened and held (%d planned; RLIMIT_NOFILE hard limit %d per process here)",
				m.Alive, idle.Connect.Attempted, r.Machine.FileLimit),
			Met: m.Alive >= 50000,
		})
	}
	for _, prefix := range []string{"split", "all-in-one"} {
		if res := r.find("interview", prefix); res != nil && res.Traffic != nil {
			l := res.Traffic.Latency["all"]
			size := "1,000×3 at 2+2 events/s per user"
			if p, ok := res.Params.(loadgen.InterviewParams); ok {
				size = fmt.Sprintf("%d×%d at %g+%g events/s per user", p.Sessions, p.Users, p.Rates.Code, p.Rates.Cursor)
			}
			out = append(out, Target{
				Goal: fmt.Sprintf("interview %s (%s): p99 < 20 ms, zero errors", size, prefix),
				Measured: fmt.Sprintf("p99 %.2f ms (p50 %.2f, p99.9 %.2f, max %.2f), %d errors/losses",
					l.P99, l.P50, l.P999, l.Max, len(res.Failures)),
				Met: l.P99 < 20 && len(res.Failures) == 0,
			})
		}
	}
	if res := r.find("crowd", ""); res != nil && res.Traffic != nil {
		l := res.Traffic.Latency["all"]
		conv := res.Convergence != nil && res.Convergence.Converged
		users := 100
		if p, ok := res.Params.(loadgen.InterviewParams); ok {
			users = p.Users
		}
		out = append(out, Target{
			Goal:     fmt.Sprintf("crowd, %d users: converges, p99 < 50 ms", users),
			Measured: fmt.Sprintf("converged=%v, p99 %.2f ms (p50 %.2f, max %.2f)", conv, l.P99, l.P50, l.Max),
			Met:      conv && l.P99 < 50 && len(res.Failures) == 0,
		})
	}
	if res := r.find("ramp", ""); res != nil {
		m := "no step held"
		if h := res.HighestHeld; h != nil {
			m = fmt.Sprintf("%d sessions (%d connections): %.0f events sent/s, %.0f delivered/s at p99 %.2f ms",
				h.Sessions, h.Connections, h.Traffic.SentPerSec, h.Traffic.DeliveredPerSec, h.Traffic.Latency["all"].P99)
		}
		out = append(out, Target{Goal: "ramp: highest interview load with p99 ≤ 50 ms", Measured: m, Met: res.HighestHeld != nil})
	}
	return out
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
	if err := plotScenarios(filepath.Join(dir, "latency-by-scenario.png"), sub, r.Results); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// write saves <stamp>.json and <stamp>.md into dir.
func (r *Report) write(dir string) (string, string, error) {
	r.Targets = r.targets()
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

func (r *Report) markdown(b *strings.Builder) {
	m := r.Machine
	fmt.Fprintf(b, "# Benchmark run %s\n\n", r.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(b, "Machine: %d × %s, %.1f GiB RAM, Linux %s, %s, RLIMIT_NOFILE hard limit %d, load average %.2f at start",
		m.CPUs, m.CPUModel, float64(m.MemoryBytes)/(1<<30), m.Kernel, m.GoVersion, m.FileLimit, m.LoadAverage)
	if m.Commit != "" {
		fmt.Fprintf(b, ", commit %s", m.Commit)
	}
	fmt.Fprintf(b, ". The load generator runs on the same machine. Total %.0f s.\n\n", r.Seconds)
	if len(r.Targets) > 0 {
		b.WriteString("| goal | measured | met |\n|---|---|---|\n")
		for _, t := range r.Targets {
			met := "no"
			if t.Met {
				met = "yes"
			}
			fmt.Fprintf(b, "| %s | %s | %s |\n", t.Goal, t.Measured, met)
		}
		b.WriteString("\n")
	}
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
