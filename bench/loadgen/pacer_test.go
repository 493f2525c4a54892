package loadgen

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// pacedLog records what one schedule did on a virtual clock.
type pacedLog struct {
	fires [2][]time.Duration // per kind, when it fired (since the start)
	lates []time.Duration
}

// virtualPacer schedules one entry per rates on a pacer whose phases come
// from a fixed seed, and returns the logs the virtual clock fills in.
func virtualPacer(start time.Time, now *time.Time, rates []Rates) (*pacer, []*pacedLog) {
	p := &pacer{}
	rnd := rand.New(rand.NewPCG(1, 2))
	logs := make([]*pacedLog, len(rates))
	for i, r := range rates {
		l := &pacedLog{}
		logs[i] = l
		p.add(&paced{
			every: [2]time.Duration{kindCode: every(r.Code), kindCursor: every(r.Cursor)},
			act:   func(kind int) { l.fires[kind] = append(l.fires[kind], now.Sub(start)) },
			late:  func(d time.Duration) { l.lates = append(l.lates, d) },
		}, start, rnd.Int64N)
	}
	return p, logs
}

// TestPacerRates: on a virtual clock that moves to each firing's time,
// every user sends each kind at its own rate, exactly one period apart,
// never early nor late, and a kind switched off never fires.
func TestPacerRates(t *testing.T) {
	kinds := []Rates{{Code: 2}, {Cursor: 0.1}, {Code: 2, Cursor: 3}, {Code: 5, Cursor: 0.5}}
	var rates []Rates
	for i := range 400 {
		rates = append(rates, kinds[i%len(kinds)])
	}
	start := time.Unix(1000, 0)
	now := start
	p, logs := virtualPacer(start, &now, rates)
	const span = 20 * time.Second
	for now.Sub(start) < span {
		next, ok := p.fire(func() time.Time { return now })
		if !ok {
			t.Fatal("the pacer ran out of schedules")
		}
		now = next // the clock moves to each firing's time
	}
	for i, l := range logs {
		for k, rate := range []float64{rates[i].Code, rates[i].Cursor} {
			want := int(rate * span.Seconds())
			if got := len(l.fires[k]); got < want || got > want+1 {
				t.Fatalf("user %d (%+v) kind %d: %d sends in %s, want %d", i, rates[i], k, got, span, want)
			}
			period := every(rate)
			for j := 1; j < len(l.fires[k]); j++ {
				if gap := l.fires[k][j] - l.fires[k][j-1]; gap != period {
					t.Fatalf("user %d kind %d: %s between sends, want %s", i, k, gap, period)
				}
			}
		}
		for _, d := range l.lates {
			if d != 0 {
				t.Fatalf("user %d fired %s late on a clock that is never late", i, d)
			}
		}
	}
}

// TestPacerSpread: the users' sends spread evenly over the period, as the
// per-user timers they replace did: 1,000 users moving their cursor once a
// second send about 100 per tenth of a second, in every tenth.
func TestPacerSpread(t *testing.T) {
	rates := make([]Rates, 1000)
	for i := range rates {
		rates[i] = Rates{Cursor: 1}
	}
	start := time.Unix(1000, 0)
	now := start
	p, logs := virtualPacer(start, &now, rates)
	for now.Sub(start) < 3*time.Second {
		now, _ = p.fire(func() time.Time { return now })
	}
	var tenths [30]int
	for _, l := range logs {
		for _, at := range l.fires[kindCursor] {
			tenths[at/(100*time.Millisecond)]++
		}
	}
	for i, n := range tenths {
		if n < 60 || n > 140 {
			t.Errorf("%d sends in tenth %d of a second, want about 100: %v", n, i, tenths)
		}
	}
}

// TestPacerLate: a pacer that could not run for a while sends what is due
// as soon as it runs and records how late it is; the ticks it missed are
// not replayed: one more send follows (the tick the late one was moved to,
// as with the per-user timers before), then the period resumes.
func TestPacerLate(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	p, logs := virtualPacer(start, &now, []Rates{{Cursor: 2}})
	l := logs[0]
	tick := func() time.Time {
		next, ok := p.fire(func() time.Time { return now })
		if !ok {
			t.Fatal("the pacer ran out of schedules")
		}
		return next
	}
	for now.Sub(start) < time.Second {
		now = tick()
	}
	before, lates := len(l.fires[kindCursor]), len(l.lates)
	last := l.fires[kindCursor][before-1]
	now = start.Add(3 * time.Second) // stalled for two seconds: four ticks missed
	next := tick()
	if got := len(l.fires[kindCursor]) - before; got != 2 {
		t.Fatalf("%d sends after the stall, want 2", got)
	}
	if want := 3*time.Second - (last + 500*time.Millisecond); l.lates[lates] != want {
		t.Errorf("lateness %s, want %s", l.lates[lates], want)
	}
	if next.Sub(now) != 500*time.Millisecond {
		t.Errorf("next send %s after the late ones, want 500ms", next.Sub(now))
	}
}

// TestPacerEnded: a user whose connection ended is dropped without another
// send; with nobody left, run returns.
func TestPacerEnded(t *testing.T) {
	ended := make(chan struct{})
	var mu sync.Mutex
	sent := 0
	fired := make(chan struct{}, 1)
	p := &pacer{}
	p.add(&paced{
		every: [2]time.Duration{kindCursor: time.Millisecond},
		act: func(int) {
			mu.Lock()
			sent++
			mu.Unlock()
			select {
			case fired <- struct{}{}:
			default:
			}
		},
		late:  func(time.Duration) {},
		ended: ended,
	}, time.Now(), rand.Int64N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(context.Background())
	}()
	<-fired
	close(ended)
	<-done // run returned: the user was dropped
	mu.Lock()
	n := sent
	mu.Unlock()
	if n == 0 {
		t.Fatal("no send before the end")
	}
}

// TestPacerCancel: run returns when its context ends.
func TestPacerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	fired := make(chan struct{}, 1)
	p := &pacer{}
	p.add(&paced{
		every: [2]time.Duration{kindCode: time.Millisecond},
		act: func(int) {
			select {
			case fired <- struct{}{}:
			default:
			}
		},
		late: func(time.Duration) {},
	}, time.Now(), rand.Int64N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	<-fired
	cancel()
	<-done
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPacing compares the generator's CPU per firing (cpu-ns/send,
// from getrusage, with a send that does nothing) and goroutine stack per
// user of two pacers with the design they replaced, a goroutine and a
// timer per user, at 20,000 users moving every second.
func BenchmarkPacing(b *testing.B) {
	const users = 20000
	const period = time.Second
	for _, mode := range []string{"per-user", "pacer"} {
		b.Run(mode, func(b *testing.B) {
			var fired atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			if mode == "pacer" {
				ps := make([]pacer, 2)
				now := time.Now()
				for i := range users {
					ps[i%2].add(&paced{every: [2]time.Duration{kindCursor: period}, act: func(int) { fired.Add(1) }, late: func(time.Duration) {}}, now, rand.Int64N)
				}
				for i := range ps {
					wg.Go(func() { ps[i].run(ctx) })
				}
			} else {
				for range users {
					wg.Go(func() {
						next := time.Now().Add(time.Duration(rand.Int64N(int64(period))))
						t := time.NewTimer(time.Until(next))
						defer t.Stop()
						for {
							select {
							case <-ctx.Done():
								return
							case <-t.C:
							}
							now := time.Now()
							fired.Add(1)
							next = later(next.Add(period), now)
							t.Reset(time.Until(next))
						}
					})
				}
			}
			time.Sleep(2 * period)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.StackInuse)/users, "stack-B/user")
			c0, f0 := cpuNow(), fired.Load()
			time.Sleep(3 * period)
			c1, f1 := cpuNow(), fired.Load()
			cancel()
			wg.Wait()
			b.ReportMetric(float64(c1-c0)/float64(f1-f0), "cpu-ns/send")
			b.ReportMetric(float64(f1-f0)/3, "sends/s")
		})
	}
}

// TestPacerDropsEnded: among many users, those whose connection ended are
// dropped without a send and the others keep their exact schedule.
func TestPacerDropsEnded(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	p := &pacer{}
	rnd := rand.New(rand.NewPCG(3, 4))
	closed := make(chan struct{})
	close(closed)
	fires := make([][]time.Time, 60)
	for i := range fires {
		e := &paced{
			every: [2]time.Duration{kindCursor: time.Duration(100+i) * time.Millisecond},
			act:   func(int) { fires[i] = append(fires[i], now) },
			late: func(d time.Duration) {
				if d != 0 {
					t.Errorf("user %d fired %s late", i, d)
				}
			},
		}
		if i%3 == 0 {
			e.ended = closed
		}
		p.add(e, start, rnd.Int64N)
	}
	for now.Sub(start) < 5*time.Second {
		next, ok := p.fire(func() time.Time { return now })
		if !ok {
			t.Fatal("the pacer ran out of schedules")
		}
		now = next
	}
	if len(p.h) != 40 {
		t.Errorf("%d schedules left, want 40", len(p.h))
	}
	for i, f := range fires {
		switch {
		case i%3 == 0 && len(f) > 0:
			t.Errorf("user %d sent %d times after its connection ended", i, len(f))
		case i%3 != 0 && len(f) < 5000/(100+i):
			t.Errorf("user %d sent %d times in 5s every %dms", i, len(f), 100+i)
		}
	}
}
