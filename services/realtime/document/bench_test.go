package document

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// BenchmarkSubmit measures acknowledged updates per second on one session
// from one instance: each is transformed, appended (durably) and handed to
// a listener before the next.
func BenchmarkSubmit(b *testing.B) {
	in := newInfra(b, natstest.Start(b))
	e := newEngine(b, in, "a")
	d, _ := open(b, e, newSessionID(), -1)
	ctx := context.Background()
	v := int64(0)
	for b.Loop() {
		op := ot.Op{ot.Insert("x")}
		if v%2 == 1 {
			op = ot.Op{ot.Delete(1)}
		}
		res, err := d.Submit(ctx, "u1", "c1", opsUpdate(v, "", op))
		if err != nil {
			b.Fatal(err)
		}
		v = res.Version
	}
}

// BenchmarkSubmitBound is BenchmarkSubmit with realtime's 10 s bound on
// each update: a context.WithTimeout per update (as realtime did), and
// SubmitWithin, which makes that context only when the first append was
// not acknowledged.
func BenchmarkSubmitBound(b *testing.B) {
	in := newInfra(b, natstest.Start(b))
	e := newEngine(b, in, "a")
	d, _ := open(b, e, newSessionID(), -1)
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []string{"WithTimeout", "SubmitWithin"} {
		b.Run(tc, func(b *testing.B) {
			v := d.State().Version
			for b.Loop() {
				op := ot.Op{ot.Insert("x")}
				if v%2 == 1 {
					op = ot.Op{ot.Delete(1)}
				}
				var res Result
				var err error
				if tc == "WithTimeout" {
					ctx, cancel := context.WithTimeout(parent, 10*time.Second)
					res, err = d.SubmitAs(ctx, Author{UserID: "u1"}, "c1", opsUpdate(v, "", op))
					cancel()
				} else {
					res, err = d.SubmitWithin(parent, 10*time.Second, Author{UserID: "u1"}, "c1", opsUpdate(v, "", op))
				}
				if err != nil {
					b.Fatal(err)
				}
				v = res.Version
			}
		})
	}
}

// BenchmarkSubmitTwoInstances has two instances edit one session at once
// from stale versions, so appends race and are transformed and retried.
func BenchmarkSubmitTwoInstances(b *testing.B) {
	srv := natstest.Start(b)
	ea, eb := newEngine(b, newInfra(b, srv), "a"), newEngine(b, newInfra(b, srv), "b")
	sid := newSessionID()
	da, _ := open(b, ea, sid, -1)
	db, _ := open(b, eb, sid, -1)
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, d := range []*Doc{da, db} {
		wg.Go(func() {
			for range b.N / 2 {
				st := d.State()
				op := buildOp(0, "x", 0, ot.UTF16Len(st.Code))
				if _, err := d.Submit(ctx, "u", "c", opsUpdate(st.Version, "", op)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	var lost, read int64
	for _, e := range []*Engine{ea, eb} {
		l, r := e.AppendConflicts()
		lost, read = lost+l, read+r
	}
	b.ReportMetric(float64(lost)/float64(b.N), "conflicts/op")
	b.ReportMetric(float64(read)/float64(b.N), "reads/op")
}

// TestNoGoroutineLeak: after Close, every goroutine the engine started has
// ended.
func TestNoGoroutineLeak(t *testing.T) {
	srv := natstest.Start(t)
	inA, inB := newInfra(t, srv), newInfra(t, srv)
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	e := NewEngine(inA, Options{SnapshotDebounce: 10 * time.Millisecond}, nil, nil)
	other := NewEngine(inB, Options{}, nil, nil)
	for range 3 {
		sid := newSessionID()
		d, r := open(t, e, sid, -1)
		d2, _ := open(t, other, sid, -1)
		submit(t, d, "u", "c", fullUpdate(0, "", "x"))
		submit(t, d2, "u", "c", fullUpdate(0, "", "y"))
		waitVersion(t, r, 2)
		d.Close()
	}
	e.Close()
	other.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkWindowMark is one full collection with 1,000 sessions' windows
// of 400 versions each held (a typist's one-character updates to a 2 KiB
// text): what the windows add to every mark phase of a loaded instance.
func BenchmarkWindowMark(b *testing.B) {
	const sessions, versions = 1000, 400
	hs := make([]*history, sessions)
	text := strings.Repeat("x", 2048)
	for i := range hs {
		h := &history{}
		h.reset(defaultHistLimits, text, 0, nil)
		u, c := fmt.Sprint("user-", i), fmt.Sprint("conn-", i)
		for v := int64(1); v <= versions; v++ {
			h.push(Applied{SessionID: "s", Version: v, UserID: u, ConnID: c, OpID: fmt.Sprint(u, "-", v),
				Ops: ot.Op{ot.Retain(1000), ot.Insert("y"), ot.Retain(1048)}, Code: text, Hash: protocol.DocumentHash(fmt.Sprint(v))})
		}
		hs[i] = h
	}
	runtime.GC()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(hs)
}

// typedWindows returns n windows of lim after edits one-character edits of
// a 2 KiB document each, with opIds like the load generator's: the state of
// interview-light's sessions after edits/2 seconds.
func typedWindows(lim histLimits, n, edits int) []*history {
	out := make([]*history, n)
	for s := range out {
		h := &history{}
		text := strings.Repeat("func main() { fmt.Println(\"hello\") }\n", 2048/38)
		h.reset(lim, text, 0, nil)
		for v := 1; v <= edits; v++ {
			at := (v * 37) % ot.UTF16Len(text)
			op := buildOp(at, "x", 0, ot.UTF16Len(text)-at)
			if v%2 == 0 {
				op = buildOp(at, "", 1, ot.UTF16Len(text)-at-1)
			}
			next, _ := ot.Apply(text, op)
			text = next
			h.push(Applied{SessionID: "s", Version: int64(v), UserID: "user-1", ConnID: "conn-1",
				OpID: fmt.Sprintf("lg%d.%d", v, 1733364000000000000+int64(v)), Ops: op, Code: text,
				Hash: "0123456789abcdef", Timestamp: int64(v)})
		}
		out[s] = h
	}
	return out
}

// BenchmarkWindowMemory reports the heap one session's window holds after
// ten minutes of interview-light's typing (two updates a second).
func BenchmarkWindowMemory(b *testing.B) {
	for _, versions := range []int{1024, 512, 256, 128} {
		b.Run(fmt.Sprint(versions), func(b *testing.B) {
			lim := defaultHistLimits
			lim.versions = versions
			const n = 200
			var per float64
			for b.Loop() {
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				w := typedWindows(lim, n, 1200)
				runtime.GC()
				runtime.ReadMemStats(&m1)
				per = float64(m1.HeapAlloc-m0.HeapAlloc) / n
				acc := 0
				for _, h := range w {
					acc += h.bytes
				}
				b.ReportMetric(float64(acc)/n, "accounted-B/session")
				runtime.KeepAlive(w)
			}
			b.ReportMetric(per, "heap-B/session")
		})
	}
}

// BenchmarkSweepIdle measures one tick of the engine's sweep over the
// loaded sessions of a big instance (16,000, about a third of 50,000
// connections in sessions of two), which nobody edits: its CPU per second
// of an idle instance, reported as ns/tick and ns/session. Before each
// tick a 64 MiB buffer is walked, so the sessions are not in the CPU's
// cache, as a second of other work leaves them; ns/op counts that walk
// too (it keeps b.N small), the tick's own metrics do not.
func BenchmarkSweepIdle(b *testing.B) {
	in := newInfra(b, natstest.Start(b))
	e := newEngine(b, in, "a")
	const n = 16000
	for range n {
		open(b, e, newSessionID(), -1)
	}
	settle(b, "the sessions to settle")
	sw := sweeper{reconnects: in.NC.Stats().Reconnects, fills: e.subs.Fills()}
	evict := make([]byte, 64<<20)
	var ticks time.Duration
	for b.Loop() {
		for i := 0; i < len(evict); i += 64 {
			evict[i]++
		}
		start := time.Now()
		e.sweepOnce(&sw, start)
		ticks += time.Since(start)
	}
	b.ReportMetric(float64(ticks.Nanoseconds())/float64(b.N), "ns/tick")
	b.ReportMetric(float64(ticks.Nanoseconds())/float64(b.N)/n, "ns/session")
}
