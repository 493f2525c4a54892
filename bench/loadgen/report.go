package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// WriteMarkdown writes a short summary of results: one section each.
func WriteMarkdown(w io.Writer, results []*Result) error {
	var b strings.Builder
	for _, r := range results {
		title := r.Scenario
		if p, ok := r.Params.(InterviewParams); ok && r.Scenario == "crowd" {
			title = fmt.Sprintf("crowd of %d", p.Users)
		}
		if r.Layout != "" {
			title += " (" + r.Layout + ")"
		}
		if r.Variant != "" {
			title += fmt.Sprintf(", %s, run %d", r.Variant, r.Run)
		}
		status := "ok"
		if len(r.Failures) > 0 {
			status = "FAILED"
		}
		fmt.Fprintf(&b, "### %s: %s\n\n", title, status)
		writeParams(&b, r.Params)
		writeConnect(&b, r.Connect)
		writeMemory(&b, r.Memory)
		if r.Traffic != nil && r.Scenario != "idle" {
			writeTraffic(&b, *r.Traffic, r.Servers, r.Loadgen)
		}
		writeConvergence(&b, r.Convergence)
		writeSteps(&b, r.Steps, r.HighestHeld)
		writeREST(&b, r.REST)
		writeServers(&b, r.Servers)
		writeRSS(&b, r.RSS)
		fmt.Fprintf(&b, "- load generator: %.0f%% CPU, max RSS %s\n", r.Loadgen.CPUPercent, bytesStr(float64(r.Loadgen.MaxRSS)))
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- **failure**: %s\n", f)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- note: %s\n", n)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeParams says what load the scenario applied.
func writeParams(b *strings.Builder, params any) {
	switch p := params.(type) {
	case InterviewParams:
		who := fmt.Sprintf("every user %g code-updates/s and %g cursor moves/s", p.Rates.Code, p.Rates.Cursor)
		if p.Typists > 0 {
			who = fmt.Sprintf("%d typist(s) per session at %g code-updates/s, the others moving their cursors at %g/s", p.Typists, p.Rates.Code, p.Rates.Cursor)
		}
		fmt.Fprintf(b, "- load: %d sessions × %d users, %s; a %s window after %s of warmup\n",
			p.Sessions, p.Users, who, time.Duration(p.Duration), time.Duration(p.Warmup))
	case IdleParams:
		steady := ""
		if p.SteadyWait > 0 {
			steady = fmt.Sprintf(", then up to %s more for the steady state", time.Duration(p.SteadyWait))
		}
		fmt.Fprintf(b, "- load: %d idle connections in sessions of %d, held %s%s\n", p.Conns, p.UsersPerSession, time.Duration(p.Hold), steady)
	case RESTParams:
		fmt.Fprintf(b, "- load: %d create + join pairs, %d in flight\n", p.Sessions, p.Concurrency)
	}
}

func writeConnect(b *strings.Builder, c *ConnectStats) {
	if c == nil {
		return
	}
	fmt.Fprintf(b, "- connections: %d of %d in %.1fs (%.0f/s), handshake p50 %.2f ms, p99 %.2f ms; REST set-up %.1fs\n",
		c.Connected, c.Attempted, c.Seconds, c.PerSecond, c.Handshake.P50, c.Handshake.P99, c.PrepareSeconds)
	if len(c.Retries) > 0 {
		fmt.Fprintf(b, "- **handshakes retried** after a transient failure: %s\n", countsStr(c.Retries))
	}
}

func writeMemory(b *strings.Builder, m *Memory) {
	if m == nil {
		return
	}
	cost := func(c *ConnCost) string {
		return fmt.Sprintf("**%s RSS**, %s Go heap in use, %s goroutine stacks", bytesStr(c.RSS), bytesStr(c.Heap), bytesStr(c.Stack))
	}
	if m.Transient != nil {
		fmt.Fprintf(b, "- server memory per connection right after the connections were up: %s\n", cost(m.Transient))
	}
	if m.AfterHold != nil {
		fmt.Fprintf(b, "- server memory per connection at the end of the hold (where runs before the steady state read theirs): %s\n", cost(m.AfterHold))
	}
	last := &ConnCost{RSS: m.RSSPerConn, Heap: m.HeapPerConn, Stack: m.StackPerConn}
	switch st := m.Steady; {
	case st == nil:
		fmt.Fprintf(b, "- server memory per connection after %.0fs: %s\n", m.HoldSeconds, cost(last))
	case st.Reached:
		fmt.Fprintf(b, "- server memory per connection in the steady state, %.0fs after the connections were up (every server had completed a GC cycle of its own after %.0fs, RSS no longer falling): %s\n",
			m.HoldSeconds, st.GCSeconds, cost(last))
	default:
		fmt.Fprintf(b, "- server memory per connection %.0fs after the connections were up, **no steady state** (%s): %s\n", m.HoldSeconds, st.Why, cost(last))
	}
	fmt.Fprintf(b, "- %d of %d connections alive at the end; servers at %.1f%% CPU while idle\n", m.Alive, m.Connections, m.ServerCPUPercent)
}

func writeTraffic(b *strings.Builder, t Traffic, servers []ProcessStats, lg LoadgenStats) {
	fmt.Fprintf(b, "- %.0fs window: %.0f offered/s, %.0f sent/s, %.0f delivered/s, %d lost, %d never acknowledged; generator timer lag p99 %.2f ms\n",
		t.Seconds, t.OfferedPerSec, t.SentPerSec, t.DeliveredPerSec, t.Lost, t.PendingAcks, t.TimerLag.P99)
	if t.Reconnects > 0 || t.Cuts > 0 {
		fmt.Fprintf(b, "- **%d reconnections** (with `since`, pending updates resent with their opId); %d connections cut by the generator; %d cursor-updates not delivered to members that were away (not replayed)\n",
			t.Reconnects, t.Cuts, t.LostCursors)
	}
	b.WriteString("\n| latency (ms) | count | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range []string{"all", "code-update", "cursor-update", "code-ack"} {
		s, ok := t.Latency[k]
		if !ok || s.Count == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", k, s.Count, s.P50, s.P90, s.P99, s.P999, s.Max)
	}
	b.WriteString("\n")
	if len(t.Errors) > 0 {
		fmt.Fprintf(b, "- errors: %s\n", countsStr(t.Errors))
	}
	if t.MachineCPUPercent > 0 {
		ours := lg.CPUPercent
		for _, s := range servers {
			ours += s.CPUPercent
		}
		fmt.Fprintf(b, "- machine CPU during the window: %.0f%% (servers + generator %.0f%%, everything else %.0f%%; 100%% = one core)\n",
			t.MachineCPUPercent, ours, max(0, t.MachineCPUPercent-ours))
	}
}

func writeConvergence(b *strings.Builder, c *Convergence) {
	if c == nil {
		return
	}
	fmt.Fprintf(b, "- convergence: %d of %d clients hold the server's text (version %d, %d bytes): converged=%v\n",
		c.Agreeing, c.Clients, c.FinalVersion, c.DocBytes, c.Converged)
}

func writeSteps(b *strings.Builder, steps []Step, held *Step) {
	if len(steps) == 0 {
		return
	}
	b.WriteString("\n| step | sessions | conns | per-user code+cursor/s | sent/s | delivered/s | p50 | p99 | p99.9 | max | lost | errors | machine CPU % | held |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for i, s := range steps {
		l := s.Traffic.Latency["all"]
		var errs int64
		for k, v := range s.Traffic.Errors {
			if !strings.HasPrefix(k, "info:") {
				errs += v
			}
		}
		held := fmt.Sprint(s.Held)
		if s.Attempts > 1 {
			held += " (2nd try)"
		}
		fmt.Fprintf(b, "| %d | %d | %d | %g+%g | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %d | %.0f | %s |\n",
			i+1, s.Sessions, s.Connections, s.CodeRate, s.CursorRate, s.Traffic.SentPerSec, s.Traffic.DeliveredPerSec,
			l.P50, l.P99, l.P999, l.Max, s.Traffic.Lost, errs, s.Traffic.MachineCPUPercent, held)
	}
	b.WriteString("\n")
	if held != nil {
		fmt.Fprintf(b, "- highest load held: **%d sessions × users, %.0f events sent/s, %.0f delivered/s** (p99 %.2f ms)\n",
			held.Sessions, held.Traffic.SentPerSec, held.Traffic.DeliveredPerSec, held.Traffic.Latency["all"].P99)
	}
}

func writeREST(b *strings.Builder, r *RESTStats) {
	if r == nil {
		return
	}
	fmt.Fprintf(b, "- %d requests in %.1fs: **%.0f requests/s**; create p50 %.2f ms, p99 %.2f ms; join p50 %.2f ms, p99 %.2f ms\n",
		r.Requests, r.Seconds, r.PerSecond, r.Create.P50, r.Create.P99, r.Join.P50, r.Join.P99)
	if len(r.Errors) > 0 {
		fmt.Fprintf(b, "- errors: %s\n", countsStr(r.Errors))
	}
}

func writeServers(b *strings.Builder, servers []ProcessStats) {
	for _, s := range servers {
		heap := fmt.Sprintf(", heap in use %s → %s", bytesStr(float64(s.HeapBefore)), bytesStr(float64(s.HeapAfter)))
		if s.Runtime == nil && s.HeapBefore == 0 && s.HeapAfter == 0 {
			heap = " (from /proc: no heap figures)" // a process without metrics, such as the NATS server
		}
		fmt.Fprintf(b, "- server %s: %.0f%% CPU, RSS %s → %s%s\n", s.Name, s.CPUPercent,
			bytesStr(float64(s.RSSBefore)), bytesStr(float64(s.RSSAfter)), heap)
		if rt := s.Runtime; rt != nil {
			fmt.Fprintf(b, "  - its runtime at the end: %s\n", RuntimeText(rt))
		}
		if f := s.Fanout; f != nil {
			fmt.Fprintf(b, "  - %s\n", FanoutText(f))
		}
	}
}

// FanoutText renders a server's share of the fan-out between instances.
func FanoutText(f *BucketQuantiles) string {
	return fmt.Sprintf("events from other instances, published there to queued here (NATS and dispatch): %d, %s (histogram buckets)",
		f.Count, f.Text())
}

// Text renders the quantiles as "p50 ≤ 2.5 ms, p99 ≤ 100 ms".
func (f *BucketQuantiles) Text() string {
	p99 := fmt.Sprintf("≤ %g ms", f.P99Ms)
	if f.Beyond {
		p99 = fmt.Sprintf("> %g ms", f.P99Ms)
	}
	return fmt.Sprintf("p50 ≤ %g ms, p99 %s", f.P50Ms, p99)
}

// RuntimeText renders a runtime memory reading: where RSS goes.
func RuntimeText(rt *RuntimeMemory) string {
	limit := "no GOMEMLIMIT"
	if rt.MemoryLimit > 0 {
		limit = "GOMEMLIMIT " + bytesStr(float64(rt.MemoryLimit))
	}
	rest := max(0, rt.RSS-rt.HeapInuse-rt.HeapKept-rt.Stacks)
	return fmt.Sprintf("RSS %s = heap in use %s (objects %s, live or not yet collected) + free heap kept %s + stacks %s + the rest %s (runtime metadata, binary, C); heap goal %s (GOGC=%.0f, %s), %d GC cycles",
		bytesStr(float64(rt.RSS)), bytesStr(float64(rt.HeapInuse)), bytesStr(float64(rt.HeapAlloc)), bytesStr(float64(rt.HeapKept)),
		bytesStr(float64(rt.Stacks)), bytesStr(float64(rest)), bytesStr(float64(rt.HeapGoal)), rt.GOGC, limit, rt.GCCycles)
}

func writeRSS(b *strings.Builder, series []RSSSeries) {
	for _, s := range series {
		if s.Error != "" && len(s.Samples) == 0 {
			fmt.Fprintf(b, "- RSS of %s: not read (%s)\n", s.Name, s.Error)
			continue
		}
		fmt.Fprintf(b, "- RSS of %s over the %.0fs window (every %.0fs): %s at the end, %s at the middle: **%+.1f%% over the last half**; readings:",
			s.Name, s.WindowSeconds, s.EverySeconds, bytesStr(float64(s.FinalBytes)), bytesStr(float64(s.MidBytes)), s.GrowthLastHalfPercent)
		for _, r := range s.Samples {
			fmt.Fprintf(b, " %.0fs %.0f MiB;", r.Seconds, float64(r.Bytes)/(1<<20))
		}
		b.WriteString("\n")
	}
}

func countsStr(m map[string]int64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// bytesStr renders a byte count with a binary unit.
func bytesStr(v float64) string {
	neg := ""
	if v < 0 {
		neg, v = "-", -v
	}
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%s%.2f GiB", neg, v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", neg, v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", neg, v/(1<<10))
	}
	return fmt.Sprintf("%s%.0f B", neg, v)
}
