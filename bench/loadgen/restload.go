package loadgen

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// RESTParams sizes the rest scenario.
type RESTParams struct {
	// Sessions is how many create + join pairs to run.
	Sessions    int `json:"sessions"`
	Concurrency int `json:"concurrency"`
}

// REST measures the session API: Sessions times, create a session and join
// it, Concurrency at a time (the servers' REST rate limits must be off).
func REST(ctx context.Context, opts Options, p RESTParams) (*Result, error) {
	if p.Sessions <= 0 {
		return nil, fmt.Errorf("rest: sessions must be positive")
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 32
	}
	opts.Concurrency = p.Concurrency
	f := newFleet("rest", opts)
	defer f.close()
	r := &Result{Scenario: "rest", Started: time.Now().UTC(), Params: p}
	before := f.scrape(ctx)
	u0 := readUsage()

	var (
		mu           sync.Mutex
		create, join Samples
		errs         = map[string]int64{}
		ok           int64
	)
	record := func(s *Samples, d time.Duration, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		s.Add(d)
		if err != nil {
			errs[errorClass(err)]++
			return false
		}
		ok++
		return true
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.Concurrency)
	for i := range p.Sessions {
		g.Go(func() error {
			t0 := time.Now()
			s, err := f.api.CreateSession(gctx, f.opts.Language)
			if !record(&create, time.Since(t0), err) {
				return nil
			}
			t1 := time.Now()
			_, err = f.api.Join(gctx, s.ID, fmt.Sprintf("rest%d", i), "REST user")
			record(&join, time.Since(t1), err)
			return nil
		})
	}
	_ = g.Wait()
	secs := time.Since(start).Seconds()
	r.Loadgen = readUsage().since(u0)
	r.Servers = f.compare(before, f.scrape(ctx))
	r.REST = &RESTStats{Requests: int64(len(create) + len(join)), Errors: errs, Seconds: round3(secs),
		Create: create.Summarize(), Join: join.Summarize()}
	if secs > 0 {
		r.REST.PerSecond = round1(float64(ok) / secs)
	}
	for k, v := range errs {
		r.Failures = append(r.Failures, fmt.Sprintf("%s: %d", k, v))
	}
	f.logf("rest: %d requests in %.1fs (%.0f/s), create p99 %.2fms, join p99 %.2fms",
		r.REST.Requests, secs, r.REST.PerSecond, r.REST.Create.P99, r.REST.Join.P99)
	return r, nil
}
