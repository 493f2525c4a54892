package oplog

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
)

// BenchmarkPublishSessions appends to 1,000 sessions' op logs at once from
// 40 writers sharing a pool of reply boxes, as a realtime instance under
// the heavy interview does, with a subscriber on every session's applied
// subject, and reports the NATS server's subject matches per append: the
// publishes its per-connection caches did not answer (the account's
// subscription tree walked or its cache read, Sublist.Match), and the hit
// rate of the account's cache of 1,024 subjects. The server runs in the
// benchmark's process: cpu-ns/op is the process's CPU time (the server's
// and the client's) per append, which a busy machine changes less than
// ns/op.
func BenchmarkPublishSessions(b *testing.B) {
	const sessions, writers = 1000, 40
	srv := natstest.Start(b)
	nc, sub := natstest.Connect(b, srv), natstest.Connect(b, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	in, err := broker.Provision(ctx, nc, broker.Layout{})
	if err != nil {
		b.Fatal(err)
	}
	applied := make(chan *nats.Msg, 8192)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range applied {
		}
	}()
	sids := make([]string, sessions)
	for i := range sids {
		sids[i] = uuid.NewString()
		if _, err := sub.ChanSubscribe(broker.AppliedSubject(sids[i]), applied); err != nil {
			b.Fatal(err)
		}
	}
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	rp := NewReplies(nc, writers)
	defer rp.Close()
	last, version := make([]uint64, sessions), make([]int64, sessions)
	stats := func() *server.SublistStats {
		sz, err := srv.Subsz(nil)
		if err != nil {
			b.Fatal(err)
		}
		return sz.SublistStats
	}
	before, cpu := stats(), cpuTime(b)
	var n atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; n.Add(1) <= int64(b.N); i = (i + writers) % sessions {
				version[i]++
				m, err := Encode(sids[i], Entry{Version: version[i], UserID: "u", OpID: "op-" + strconv.FormatInt(version[i], 10), Ops: ot.Op{ot.Insert("x")}})
				if err != nil {
					b.Error(err)
					return
				}
				seq, err := Publish(ctx, in.JS, sids[i], version[i], m, last[i], Retry{Try: 5 * time.Second, Replies: rp})
				if err != nil {
					b.Error(err)
					return
				}
				last[i] = seq
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	after := stats()
	b.ReportMetric(float64(after.NumMatches-before.NumMatches)/float64(b.N), "matches/op")
	b.ReportMetric(after.CacheHitRate, "cache-hits")
	_ = sub.Drain()
	for sub.IsDraining() {
		time.Sleep(10 * time.Millisecond)
	}
	close(applied)
	<-done
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
