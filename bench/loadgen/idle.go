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
}

// Idle opens Conns connections that send nothing, holds them, and reports
// the connect rate and the server memory each one costs (the change of RSS
// and of the Go heap in use, over the connections opened; the sessions are
// created and joined before the first reading, so only connections count).
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
	gc := f.collectGarbage(ctx)
	if !gc {
		r.Notes = append(r.Notes, "the servers do not serve /debug/pprof (PPROF=true): heap readings include garbage")
	}
	before := f.scrape(ctx)
	f.logf("idle: connecting %d users", p.Conns)
	conn := f.connect(ctx, prep.sessions)
	r.Connect = f.connectStats(prep, conn)
	f.logf("idle: %d connected in %.1fs (%.0f/s); holding %s", conn.ok, conn.seconds, r.Connect.PerSecond, time.Duration(p.Hold))

	holdStart := f.scrape(ctx)
	f.windowStarted(time.Duration(p.Hold))
	if err := sleep(ctx, time.Duration(p.Hold)); err != nil {
		return nil, err
	}
	holdEnd := f.scrape(ctx)
	f.collectGarbage(ctx)
	after := f.scrape(ctx)

	alive := 0
	for _, u := range f.users() {
		if u.alive() {
			alive++
		}
	}
	m := &Memory{Connections: int64(conn.ok), Alive: int64(alive), HoldSeconds: time.Duration(p.Hold).Seconds()}
	var rss, heap, stack float64
	for name, a := range after {
		if b, ok := before[name]; ok {
			rss += a.RSS - b.RSS
			heap += a.HeapInuse - b.HeapInuse
			stack += a.StackInuse - b.StackInuse
		}
	}
	if conn.ok > 0 {
		m.RSSPerConn = round1(rss / float64(conn.ok))
		m.HeapPerConn = round1(heap / float64(conn.ok))
		m.StackPerConn = round1(stack / float64(conn.ok))
	}
	for _, s := range f.compare(holdStart, holdEnd) {
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

// connectFailures lists what went wrong while setting up.
func connectFailures(c *ConnectStats) []string {
	var out []string
	for k, v := range c.Errors {
		out = append(out, fmt.Sprintf("%s: %d", k, v))
	}
	return out
}
