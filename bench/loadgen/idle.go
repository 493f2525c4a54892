package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that reads and writes as "10s" in JSON.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IdleParams sizes the idle scenario.
type IdleParams struct {
	Conns           int      `json:"conns"`
	UsersPerSession int      `json:"usersPerSession"`
	Hold            Duration `json:"hold"`
	// SteadyWait, when positive, is how long after the hold the scenario
	// may wait for the steady state (awaitSteady): a GC cycle of each
	// server's own, then its RSS no longer falling. Zero: the figures are
	// read at the end of the hold.
	SteadyWait Duration `json:"steadyWait,omitempty"`
}

// Idle opens Conns connections that send nothing, holds them, and reports
// the server memory each one costs: the change of RSS, of the Go heap in
// use and of the goroutine stacks over the connections opened (the
// sessions are created and joined before the first reading, so only
// connections count). It reads them twice: right after the last connection
// is up (Memory.Transient: the handshakes' garbage is still in the heap),
// and in the steady state an idle deployment settles in (the figures of
// Memory itself): after the hold (a few keepalive and presence rounds),
// each server completed a GC cycle of its own (the Go runtime forces one
// two minutes after the last when nothing else triggers it) and its
// scavenger returned what it returns. Nothing forces a collection
// in the servers after the connections open; the baseline before them is
// read after one, so it holds the sessions' records and not the REST
// calls' garbage.
func Idle(ctx context.Context, opts Options, p IdleParams) (*Result, error) {
	if p.Conns <= 0 || p.UsersPerSession <= 0 {
		return nil, fmt.Errorf("idle: conns and users per session must be positive")
	}
	f := newFleet("idle", opts)
	defer f.close()
	r := &Result{Scenario: "idle", Started: time.Now().UTC(), Params: p, Instances: len(f.opts.WSURLs)}
	u0 := readUsage()

	sessions := (p.Conns + p.UsersPerSession - 1) / p.UsersPerSession
	f.logf("idle: preparing %d sessions of %d users", sessions, p.UsersPerSession)
	prep := f.prepare(ctx, sessions, p.UsersPerSession)
	if !f.collectGarbage(ctx) {
		r.Notes = append(r.Notes, "a server does not serve /debug/pprof (PPROF=true): its baseline heap includes the set-up's garbage")
	}
	before := f.scrape(ctx)
	f.logf("idle: connecting %d users", p.Conns)
	conn := f.connect(ctx, prep.sessions)
	r.Connect = f.connectStats(prep, conn)
	f.logf("idle: %d connected in %.1fs (%.0f/s); holding %s", conn.ok, conn.seconds, r.Connect.PerSecond, time.Duration(p.Hold))

	up := f.scrape(ctx)
	upAt := time.Now()
	f.windowStarted(time.Duration(p.Hold))
	if err := sleep(ctx, time.Duration(p.Hold)); err != nil {
		return nil, err
	}
	after := f.scrape(ctx)
	held := after
	var st Steadiness
	if p.SteadyWait > 0 {
		f.logf("idle: waiting up to %s for the servers' own GC cycle and their RSS to settle", time.Duration(p.SteadyWait))
		var err error
		if after, st, err = f.awaitSteady(ctx, after, upAt, time.Duration(p.SteadyWait),
			steadyRule{poll: idleSteadyPoll, settle: idleSteadySettle, drop: idleSteadyDrop}); err != nil {
			return nil, err
		}
	}

	alive := 0
	for _, u := range f.users() {
		if u.alive() {
			alive++
		}
	}
	m := &Memory{Connections: int64(conn.ok), Alive: int64(alive), HoldSeconds: round1(time.Since(upAt).Seconds()),
		PerConn: perConn(before, after, conn.ok), Transient: perConn(before, up, conn.ok)}
	m.RSSPerConn, m.HeapPerConn, m.StackPerConn = m.PerConn.RSS, m.PerConn.Heap, m.PerConn.Stack
	if p.SteadyWait > 0 {
		m.Steady, m.AfterHold = &st, perConn(before, held, conn.ok)
		if !st.Reached {
			r.Notes = append(r.Notes, "no steady state within "+time.Duration(p.SteadyWait).String()+": "+st.Why+"; the figures are the last reading")
		}
	}
	for _, s := range f.compare(up, after) {
		m.ServerCPUPercent += s.CPUPercent
	}
	m.ServerCPUPercent = round1(m.ServerCPUPercent)
	r.Memory = m
	r.Servers = f.compare(before, after)
	t := f.harvest(0)
	r.Traffic = &t
	r.Loadgen = readUsage().since(u0)

	r.Failures = append(r.Failures, connectFailures(r.Connect)...)
	r.Failures = append(r.Failures, trafficFailures(t)...)
	if alive < conn.ok {
		r.Failures = append(r.Failures, fmt.Sprintf("%d of %d connections dropped while idle", conn.ok-alive, conn.ok))
	}
	if t.Reconnects > 0 { // an idle connection should never end: reconnecting does not excuse it
		r.Failures = append(r.Failures, fmt.Sprintf("%d connections ended while idle and reconnected", t.Reconnects))
	}
	return r, nil
}

// perConn is the change from before to after, summed over the servers,
// per connection.
func perConn(before, after map[string]ProcSample, conns int) *ConnCost {
	var rss, heap, stack float64
	for name, a := range after {
		if b, ok := before[name]; ok {
			rss += a.RSS - b.RSS
			heap += a.HeapInuse - b.HeapInuse
			stack += a.StackInuse - b.StackInuse
		}
	}
	if conns <= 0 {
		return &ConnCost{}
	}
	n := float64(conns)
	return &ConnCost{RSS: round1(rss / n), Heap: round1(heap / n), Stack: round1(stack / n)}
}

// steadyRule is how the steady state is waited for: the servers are read
// every poll, and their summed RSS must have fallen by less than drop (a
// fraction) over settle, counted from their GC cycles, to be settled.
type steadyRule struct {
	poll, settle time.Duration
	drop         float64
}

// The idle scenario's steadyRule: RSS falling by less than 1 % over 12 s.
const (
	idleSteadyPoll   = 3 * time.Second
	idleSteadySettle = 12 * time.Second
	idleSteadyDrop   = 0.01
)

// Steadiness says how the steady state of the idle scenario was reached.
type Steadiness struct {
	// Reached is false when the wait ran out first (Why says at what).
	Reached bool   `json:"reached"`
	Why     string `json:"why,omitempty"`
	// GCSeconds is when, after the connections were up, every server had
	// completed a GC cycle of its own (-1: not every one did).
	GCSeconds float64 `json:"gcAfterSeconds"`
	// SettledSeconds is when the RSS readings had stopped falling.
	SettledSeconds float64 `json:"settledAfterSeconds"`
}

// awaitSteady reads the servers every rule.poll until each that reports
// its GC cycles (go_gc_duration_seconds_count) has completed one since the
// reading base (the end of the hold: the cycle then follows the hold's
// keepalive rounds), then until their summed RSS has fallen by less than
// rule.drop over rule.settle: the background scavenger has returned the
// free heap it returns. limit bounds the whole wait; the last reading is
// returned either way. The times it reports count from upAt, when the
// connections were up.
func (f *fleet) awaitSteady(ctx context.Context, base map[string]ProcSample, upAt time.Time, limit time.Duration, rule steadyRule) (map[string]ProcSample, Steadiness, error) {
	start := upAt
	deadline := time.Now().Add(limit)
	st := Steadiness{GCSeconds: -1, SettledSeconds: -1}
	type reading struct {
		at  time.Time
		rss float64
	}
	var since []reading // RSS readings since every server's GC cycle
	var gcAt time.Time
	for {
		cur := f.scrape(ctx)
		now := time.Now()
		if gcAt.IsZero() && gcDone(base, cur) {
			gcAt = now
			st.GCSeconds = round1(now.Sub(start).Seconds())
			f.logf("idle: every server completed a GC cycle of its own after %.0fs", now.Sub(start).Seconds())
		}
		if !gcAt.IsZero() {
			var rss float64
			for _, s := range cur {
				rss += s.RSS
			}
			since = append(since, reading{now, rss})
			// The reading rule.settle ago (or the first after the cycle).
			old := since[0]
			for _, r := range since {
				if now.Sub(r.at) >= rule.settle {
					old = r
				}
			}
			if now.Sub(gcAt) >= rule.settle && rss >= old.rss*(1-rule.drop) {
				st.Reached, st.SettledSeconds = true, round1(now.Sub(start).Seconds())
				return cur, st, nil
			}
		}
		if now.Add(rule.poll).After(deadline) {
			st.Why = fmt.Sprintf("RSS still falling %.0fs after the GC cycle", now.Sub(gcAt).Seconds())
			if gcAt.IsZero() {
				st.Why = "not every server completed a GC cycle of its own"
			}
			return cur, st, nil
		}
		if err := sleep(ctx, rule.poll); err != nil {
			return nil, st, err
		}
	}
}

// gcDone reports whether every server that reports its GC cycles in cur
// has completed one since base.
func gcDone(base, cur map[string]ProcSample) bool {
	for name, c := range cur {
		u, ok := base[name]
		if !c.HasGC {
			continue
		}
		if !ok || c.GCCycles <= u.GCCycles {
			return false
		}
	}
	return true
}

// connectFailures lists what went wrong while setting up.
func connectFailures(c *ConnectStats) []string {
	var out []string
	for k, v := range c.Errors {
		out = append(out, fmt.Sprintf("%s: %d", k, v))
	}
	return out
}
