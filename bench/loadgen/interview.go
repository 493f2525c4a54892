package loadgen

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// InterviewParams sizes the interview and crowd scenarios.
type InterviewParams struct {
	Sessions int      `json:"sessions"`
	Users    int      `json:"usersPerSession"`
	Rates    Rates    `json:"rates"`
	Duration Duration `json:"duration"`
	// Warmup runs the load before measuring, so connection set-up and
	// first-edit costs stay out of the figures.
	Warmup Duration `json:"warmup"`
	// Settle is how long to wait, after the window, for the last
	// deliveries and acks.
	Settle Duration `json:"settle"`
	// Typists, when positive, makes the first Typists users of each
	// session send only code-updates (at Rates.Code) and the others only
	// cursor-updates (at Rates.Cursor); 0: every user does both.
	Typists int `json:"typists,omitempty"`
}

func (p *InterviewParams) defaults() {
	if p.Settle <= 0 {
		p.Settle = Duration(5 * time.Second)
	}
}

// Interview runs Sessions sessions of Users users, each typing and moving
// its cursor at Rates, and measures the latency from each send to its
// receipt at every other member of the session.
func Interview(ctx context.Context, opts Options, p InterviewParams) (*Result, error) {
	return interview(ctx, opts, p, "interview", false)
}

// InterviewLight is the interview of issue 16's floor comparison: in each
// session one typist sends fullCode updates at Rates.Code and every other
// user moves its cursor at Rates.Cursor (1,000 sessions × 3 users at 2/s
// each in `make bench`). Run it against the relay (bench/relay) and against
// pairpad to read pairpad's latency as a ratio to a bare broadcast; with
// Options.WatchRSS it also records the servers' RSS over time.
func InterviewLight(ctx context.Context, opts Options, p InterviewParams) (*Result, error) {
	if p.Typists <= 0 {
		p.Typists = 1
	}
	return interview(ctx, opts, p, "interview-light", false)
}

// Crowd is one session of many users all typing; at the end every client's
// text must equal the server's (OT convergence).
func Crowd(ctx context.Context, opts Options, p InterviewParams) (*Result, error) {
	p.Sessions = 1
	return interview(ctx, opts, p, "crowd", true)
}

func interview(ctx context.Context, opts Options, p InterviewParams, name string, converge bool) (*Result, error) {
	p.defaults()
	if p.Sessions <= 0 || p.Users <= 0 || p.Duration <= 0 {
		return nil, fmt.Errorf("%s: sessions, users and duration must be positive", name)
	}
	f := newFleet(name, opts)
	defer f.close()
	f.typists = p.Typists
	r := &Result{Scenario: name, Started: time.Now().UTC(), Params: p, Instances: len(f.opts.WSURLs)}

	f.logf("%s: preparing %d sessions of %d users", name, p.Sessions, p.Users)
	prep := f.prepare(ctx, p.Sessions, p.Users)
	conn := f.connect(ctx, prep.sessions)
	r.Connect = f.connectStats(prep, conn)
	f.logf("%s: %d connected in %.1fs; warming up %s, measuring %s", name, conn.ok, conn.seconds,
		time.Duration(p.Warmup), time.Duration(p.Duration))

	rss := f.watchRSS()
	t, servers, lg, err := f.window(ctx, p.Rates, time.Duration(p.Warmup), time.Duration(p.Duration), time.Duration(p.Settle))
	r.RSS = rss.stop(f, time.Duration(p.Duration))
	if err != nil {
		return nil, err
	}
	r.Traffic, r.Servers, r.Loadgen = &t, servers, lg
	r.Failures = append(connectFailures(r.Connect), trafficFailures(t)...)
	f.logf("%s: p50 %.2fms p99 %.2fms max %.2fms, %.0f delivered/s", name,
		t.Latency["all"].P50, t.Latency["all"].P99, t.Latency["all"].Max, t.DeliveredPerSec)

	if converge {
		if opts.Legacy {
			r.Notes = append(r.Notes, "legacy mode: no convergence check (no acks to track the server's text)")
		} else {
			r.Convergence = f.convergence(ctx, convergeWait)
			if !r.Convergence.Converged {
				r.Failures = append(r.Failures, fmt.Sprintf("no convergence: %d of %d clients agree",
					r.Convergence.Agreeing, r.Convergence.Clients))
			}
		}
	}
	return r, nil
}

// window runs the drivers: warmup, then a measured window, then settles and
// harvests. It returns the traffic, the servers' change over the window,
// and the generator's own cost.
func (f *fleet) window(ctx context.Context, rates Rates, warmup, length, settle time.Duration) (Traffic, []ProcessStats, LoadgenStats, error) {
	d := f.drive(ctx, rates)
	defer d.stop()
	if err := sleep(ctx, warmup); err != nil {
		return Traffic{}, nil, LoadgenStats{}, err
	}
	before := f.scrape(ctx)
	u0, m0 := readUsage(), readMachineCPU()
	start := f.startWindow()
	f.windowStarted(length)
	cctx, stopCuts := context.WithCancel(ctx)
	var cutter sync.WaitGroup
	if f.opts.CutEvery > 0 {
		cutter.Go(func() { f.cutting(cctx) })
	}
	err := sleep(ctx, length)
	stopCuts()
	cutter.Wait()
	if err != nil {
		return Traffic{}, nil, LoadgenStats{}, err
	}
	end := f.endWindow()
	lg, machine := readUsage().since(u0), readMachineCPU().percentSince(m0)
	after := f.scrape(ctx)
	d.stop()
	if !f.settle(settle) {
		f.logf("not settled after %s: some deliveries or acks are missing", settle)
	}
	t := f.harvest(end.Sub(start))
	var offered float64
	for _, u := range f.users() {
		if u.alive() {
			r := f.ratesFor(u, rates)
			offered += r.Code + r.Cursor
		}
	}
	t.OfferedPerSec = round1(offered)
	t.MachineCPUPercent = machine
	return t, f.compare(before, after), lg, nil
}

// convergeWait bounds the convergence check: the wait for members still
// reconnecting, then for the sync answers. Both end as soon as they can.
const convergeWait = 30 * time.Second

// convergence asks every connected client for the server state (sync) and
// checks that it equals the client's own text, and that all agree. Members
// still reconnecting or catching up are waited for first (up to timeout):
// one still away when it ends counts as not agreeing.
func (f *fleet) convergence(ctx context.Context, timeout time.Duration) *Convergence {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil && slices.ContainsFunc(f.users(), (*user).returning) {
		time.Sleep(50 * time.Millisecond)
	}
	users := f.users()
	var live []*user
	for _, u := range users {
		if !u.alive() {
			continue
		}
		u.mu.Lock()
		u.checking, u.answer = true, nil
		err := u.conn.Load().Send("sync", nil)
		u.mu.Unlock()
		if err == nil {
			live = append(live, u)
		}
	}
	c := &Convergence{Clients: len(users)}
	answers := make([]*syncAns, len(live))
	for i, u := range live {
		for {
			u.mu.Lock()
			a := u.answer
			u.mu.Unlock()
			if a != nil || time.Now().After(deadline) || ctx.Err() != nil {
				answers[i] = a
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var ref *syncAns
	for i, a := range answers {
		switch {
		case a == nil:
			c.Mismatches = appendCapped(c.Mismatches, live[i].id+": no sync answer")
		case a.local != a.code || a.rev != a.version:
			c.Mismatches = appendCapped(c.Mismatches, fmt.Sprintf("%s: local text at v%d (%d bytes) differs from the server's at v%d (%d bytes)",
				live[i].id, a.rev, len(a.local), a.version, len(a.code)))
		case ref == nil:
			ref = a
			c.Agreeing++
		case a.code != ref.code || a.version != ref.version:
			c.Mismatches = appendCapped(c.Mismatches, fmt.Sprintf("%s: server text at v%d differs from v%d", live[i].id, a.version, ref.version))
		default:
			c.Agreeing++
		}
	}
	if ref != nil {
		c.FinalVersion, c.DocBytes = ref.version, len(ref.code)
	}
	c.Converged = c.Clients > 0 && c.Agreeing == c.Clients
	return c
}

func appendCapped(list []string, s string) []string {
	if len(list) < 10 {
		return append(list, s)
	}
	return list
}
