package broker_test

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
)

func flush(t testing.TB, nc *nats.Conn) {
	t.Helper()
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func dispatcher(t testing.TB, workers, queueLen int) *broker.Dispatcher {
	d := broker.NewDispatcher(workers, queueLen)
	t.Cleanup(d.Close)
	return d
}

// Messages of many subjects shared by few workers each arrive in the
// order they were published, none lost.
func TestDispatcherKeepsOrderPerSubject(t *testing.T) {
	srv := natstest.Start(t)
	sub, pub := natstest.Connect(t, srv), natstest.Connect(t, srv)
	d := dispatcher(t, 2, 10000)
	const subjects, each = 50, 100
	var mu sync.Mutex
	got := map[string][]int{}
	done := make(chan struct{})
	total := 0
	var subs []*broker.Sub
	before := runtime.NumGoroutine()
	for i := range subjects {
		subj := fmt.Sprintf("order.%d", i)
		s, err := d.Subscribe(sub, subj, func(m *nats.Msg) {
			n, _ := strconv.Atoi(string(m.Data))
			mu.Lock()
			defer mu.Unlock()
			got[m.Subject] = append(got[m.Subject], n)
			if total++; total == subjects*each {
				close(done)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	flush(t, sub)
	if n := runtime.NumGoroutine() - before; n >= 10 {
		t.Errorf("%d subscriptions hold %d goroutines", subjects, n)
	}
	for n := range each {
		for i := range subjects {
			if err := pub.Publish(fmt.Sprintf("order.%d", i), []byte(strconv.Itoa(n))); err != nil {
				t.Fatal(err)
			}
		}
	}
	flush(t, pub)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		t.Fatalf("got %d of %d messages", total, subjects*each)
	}
	mu.Lock()
	defer mu.Unlock()
	for subj, ns := range got {
		for i, n := range ns {
			if n != i {
				t.Fatalf("%s: message %d is %d, want %d (out of order)", subj, i, n, i)
			}
		}
	}
	for _, s := range subs {
		if n, err := s.Dropped(); err != nil || n != 0 {
			t.Errorf("dropped %d, %v", n, err)
		}
	}
}

// A full queue drops what does not fit and counts it on the subscription
// it was for; the subscription goes on receiving once there is room, and
// the connection's error handler hears of the slow consumer.
func TestDispatcherDropsWhenFull(t *testing.T) {
	srv := natstest.Start(t)
	slow := make(chan error, 1)
	nc, err := nats.Connect(srv.ClientURL(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case slow <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	const queueLen, burst = 4, 20
	d := dispatcher(t, 1, queueLen)
	started, release := make(chan struct{}), make(chan struct{})
	var handled atomic.Int64
	after := make(chan struct{})
	s, err := d.Subscribe(nc, "full", func(m *nats.Msg) {
		switch string(m.Data) {
		case "block":
			close(started)
			<-release
		case "after":
			close(after)
		default:
			handled.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, nc)
	if err := nc.Publish("full", []byte("block")); err != nil {
		t.Fatal(err)
	}
	<-started
	for range burst {
		if err := nc.Publish("full", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// The same connection's flush returns after its reader has handled
	// every message published before it.
	flush(t, nc)
	if n, err := s.Dropped(); err != nil || n != burst-queueLen {
		t.Fatalf("dropped %d (%v), want %d", n, err, burst-queueLen)
	}
	if n := d.Fills(); n != 0 {
		t.Fatalf("%d fills counted while the worker was held, before it took anything from the full queue", n)
	}
	select {
	case err := <-slow:
		if err != nats.ErrSlowConsumer {
			t.Errorf("error handler got %v, want %v", err, nats.ErrSlowConsumer)
		}
	case <-time.After(10 * time.Second):
		t.Error("the error handler heard of no slow consumer")
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for handled.Load() < queueLen { // the queue empties
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of the %d queued", handled.Load(), queueLen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := nc.Publish("full", []byte("after")); err != nil {
		t.Fatal(err)
	}
	flush(t, nc)
	select {
	case <-after:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription got nothing after its queue emptied")
	}
	if n := handled.Load(); n != queueLen {
		t.Errorf("handled %d of the burst, want the %d that fit", n, queueLen)
	}
	if d.Fills() == 0 {
		t.Error("the drops left Fills unchanged")
	}
}

// Messages queued for a subscription that ends are not handled; a later
// subscription to the same subject gets only its own.
func TestDispatcherUnsubscribeDropsQueued(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	d := dispatcher(t, 1, 100)
	started, release := make(chan struct{}), make(chan struct{})
	block, err := d.Subscribe(nc, "block", func(*nats.Msg) { close(started); <-release })
	if err != nil {
		t.Fatal(err)
	}
	var gone atomic.Int64
	old, err := d.Subscribe(nc, "gone", func(*nats.Msg) { gone.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	flush(t, nc)
	if err := nc.Publish("block", nil); err != nil {
		t.Fatal(err)
	}
	<-started
	for range 3 {
		if err := nc.Publish("gone", nil); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, nc) // the three wait in the queue behind "block"
	if err := old.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	if _, err := d.Subscribe(nc, "gone", func(m *nats.Msg) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	flush(t, nc)
	if err := nc.Publish("gone", []byte("new")); err != nil {
		t.Fatal(err)
	}
	flush(t, nc)
	close(release)
	select {
	case m := <-got:
		if m != "new" {
			t.Errorf("the new subscription got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new subscription got nothing")
	}
	if n := gone.Load(); n != 0 {
		t.Errorf("the ended subscription handled %d messages", n)
	}
	if err := block.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
}

// Close ends the workers; Subscribe refuses afterwards.
func TestDispatcherClose(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	before := runtime.NumGoroutine()
	d := broker.NewDispatcher(4, 10)
	if n := runtime.NumGoroutine(); n < before+4 {
		t.Fatalf("%d goroutines after NewDispatcher(4), %d before", n, before)
	}
	d.Close()
	d.Close()
	if _, err := d.Subscribe(nc, "x", func(*nats.Msg) {}); err == nil {
		t.Error("Subscribe after Close succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkSubscriptions delivers messages round-robin to 1,000
// subscriptions, one nats.go goroutine each (async) or a dispatcher's
// few; "goroutines" is how many the subscriptions hold, cpu-ns/op the
// process's CPU time (the server's too) per message.
func BenchmarkSubscriptions(b *testing.B) {
	const subjects = 1000
	for _, mode := range []string{"async", "dispatcher"} {
		b.Run(mode, func(b *testing.B) {
			srv := natstest.Start(b)
			sub, pub := natstest.Connect(b, srv), natstest.Connect(b, srv)
			d := dispatcher(b, 2*runtime.GOMAXPROCS(0), 4096)
			base := runtime.NumGoroutine()
			var wg sync.WaitGroup
			fn := func(*nats.Msg) { wg.Done() }
			for i := range subjects {
				subj := "bench." + strconv.Itoa(i)
				var err error
				if mode == "async" {
					_, err = sub.Subscribe(subj, fn)
				} else {
					_, err = d.Subscribe(sub, subj, fn)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			flush(b, sub)
			held := runtime.NumGoroutine() - base
			data := make([]byte, 100)
			cpu := cpuTime(b)
			b.ResetTimer()
			const batch = 256 // in flight at once: under the dispatcher's queues
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				wg.Add(n)
				for j := range n {
					if err := pub.Publish("bench."+strconv.Itoa((i+j)%subjects), data); err != nil {
						b.Fatal(err)
					}
				}
				wg.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(held), "goroutines")
		})
	}
}
