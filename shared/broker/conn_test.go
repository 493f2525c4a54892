package broker_test

import (
	"context"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConnection compares a connection to an embedded server over
// loopback TCP with one in memory (ConnOptions.InProcess, the all-in-one's),
// on the paths realtime takes per event: an op log append answered by
// JetStream and republished to a subscriber (one at a time: ns/op is its
// round trip; and from 8 publishers at once), and a core publish with a
// subscriber, from 8 publishers. cpu-ns/op is the process's CPU time (both
// ends, the server's too) per message.
func BenchmarkConnection(b *testing.B) {
	for _, mode := range []string{"tcp", "inprocess"} {
		b.Run(mode, func(b *testing.B) {
			srv := natstest.Start(b)
			o := broker.ConnOptions{Name: "bench"}
			if mode == "inprocess" {
				o.InProcess = srv
			}
			nc, err := broker.Connect(srv.ClientURL(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := broker.WaitConnected(ctx, nc); err != nil {
				b.Fatal(err)
			}
			js, err := jetstream.New(nc)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.*.ops"},
				RePublish: &jetstream.RePublish{Source: "b.*.ops", Destination: "b.{{wildcard(1)}}.applied"}}); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 200)
			run := func(b *testing.B, subject string, parallel bool, send func(string) error) {
				var wg sync.WaitGroup
				sub, err := nc.Subscribe(subject, func(*nats.Msg) { wg.Done() })
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = sub.Unsubscribe() }()
				if err := nc.Flush(); err != nil {
					b.Fatal(err)
				}
				wg.Add(b.N)
				cpu := cpuTime(b)
				b.ResetTimer()
				if parallel {
					b.SetParallelism(4) // 8 publishers on 2 cores
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := send(subject); err != nil {
								b.Error(err)
								wg.Done()
							}
						}
					})
				} else {
					for range b.N {
						if err := send(subject); err != nil {
							b.Fatal(err)
						}
					}
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
			}
			appendOp := func(string) error {
				_, err := js.Publish(ctx, "b.s.ops", data)
				return err
			}
			b.Run("append", func(b *testing.B) { run(b, "b.*.applied", false, appendOp) })
			b.Run("append-parallel", func(b *testing.B) { run(b, "b.*.applied", true, appendOp) })
			b.Run("publish-parallel", func(b *testing.B) {
				run(b, "c.*.events", true, func(string) error { return nc.Publish("c.s.events", data) })
			})
		})
	}
}

// A connection in memory delivers everything in order, 20 MB of it at
// once, and what was published before Close reaches the server.
func TestConnectInProcess(t *testing.T) {
	srv := natstest.Start(t)
	watcher := natstest.Connect(t, srv)
	const n, size = 20000, 1024
	got := make(chan int, n)
	sub, err := watcher.Subscribe("inproc", func(m *nats.Msg) {
		got <- int(m.Data[0]) | int(m.Data[1])<<8 | int(m.Data[2])<<16
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	flush(t, watcher)
	nc, err := broker.Connect(srv.ClientURL(), broker.ConnOptions{Name: "inproc", InProcess: srv})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := broker.WaitConnected(ctx, nc); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	for i := range n {
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := nc.Publish("inproc", data); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close() // no flush first: Close sends what was published
	for i := range n {
		select {
		case v := <-got:
			if v != i {
				t.Fatalf("message %d is %d", i, v)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d messages", i, n)
		}
	}
}

// BenchmarkPeerFlushDelay publishes small messages at a steady 2,000 a
// second (an instance's share of target 5's cursor moves) on a NoEcho
// connection to a subscriber on another, as realtime's peer events go,
// without and with ConnOptions.FlushDelay. cpu-ns/op is the process's CPU
// time (client, server and subscriber) per message: at this pace the
// client's flusher otherwise writes each message alone, and the server
// reads and forwards each alone.
func BenchmarkPeerFlushDelay(b *testing.B) {
	const every = 500 * time.Microsecond
	for _, delay := range []time.Duration{0, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond} {
		b.Run("delay="+delay.String(), func(b *testing.B) {
			srv := natstest.Start(b)
			sub, err := broker.Connect(srv.ClientURL(), broker.ConnOptions{Name: "sub"})
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			got := make(chan struct{}, 1)
			var n int
			if _, err := sub.Subscribe("session.*.events", func(*nats.Msg) {
				if n++; n == b.N {
					got <- struct{}{}
				}
			}); err != nil {
				b.Fatal(err)
			}
			if err := sub.Flush(); err != nil {
				b.Fatal(err)
			}
			pub, err := broker.Connect(srv.ClientURL(), broker.ConnOptions{Name: "peers", NoEcho: true, FlushDelay: delay})
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			data := []byte(`{"kind":"cursor","userId":"u-123456","envelope":{"position":{"line":12,"column":4}},"sent":1733390000000}`)
			b.ResetTimer()
			cpu, start := cpuTime(b), time.Now()
			for i := range b.N {
				time.Sleep(time.Until(start.Add(time.Duration(i) * every)))
				if err := pub.Publish("session.s"+strconv.Itoa(i%500)+".events", data); err != nil {
					b.Fatal(err)
				}
			}
			<-got
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
