package broker

import (
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Dispatcher runs the handlers of many core NATS subscriptions on a fixed
// set of goroutines, instead of the goroutine nats.go starts for each
// asynchronous subscription: realtime holds two subscriptions per session
// (its peer events and its document's applied entries), and a thousand
// sessions would otherwise be two thousand goroutines that mostly sleep.
//
// Each subscription is a nats.go channel subscription into one of the
// dispatcher's queues, picked by its subject, and each queue has one
// goroutine: the messages of one subject are handled one at a time, in
// the order NATS delivered them. Handlers must be short (take a lock and
// queue), since the subscriptions sharing a queue wait for each other.
//
// A full queue is the slow-consumer policy: nats.go drops the message
// rather than wait (it never blocks its reader), counts it in that
// subscription's Sub.Dropped and reports nats.ErrSlowConsumer to the
// connection's error handler. A subscriber that must not miss anything
// (the document's replica) watches Dropped and reads what it missed from
// JetStream; one that carries ephemera (cursors) lives with the loss.
type Dispatcher struct {
	seed   maphash.Seed
	queues []*dispatchQueue
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	// fills counts the times a worker found its queue full or one short
	// of it (Fills).
	fills atomic.Uint64
}

// dispatchQueue is one goroutine's share of the subscriptions.
type dispatchQueue struct {
	ch   chan *nats.Msg
	mu   sync.RWMutex
	subs map[*nats.Subscription]func(*nats.Msg)
}

// Sub is one subscription of a Dispatcher.
type Sub struct {
	q  *dispatchQueue
	ns *nats.Subscription
}

// Defaults of NewDispatcher: a few goroutines per core, so one handler
// waiting on a lock holds up a fraction of the subscriptions, and queues
// that hold seconds of a thousand busy sessions' edits (2,000 a second
// spread over at least 4 queues).
const (
	DefaultDispatchQueue = 4096
	minDispatchWorkers   = 4
)

// NewDispatcher starts workers goroutines (0: twice GOMAXPROCS, at least
// 4), each with a queue of queueLen messages (0: DefaultDispatchQueue);
// Close ends them.
func NewDispatcher(workers, queueLen int) *Dispatcher {
	if workers <= 0 {
		workers = max(minDispatchWorkers, 2*runtime.GOMAXPROCS(0))
	}
	if queueLen <= 0 {
		queueLen = DefaultDispatchQueue
	}
	d := &Dispatcher{seed: maphash.MakeSeed(), stop: make(chan struct{})}
	for range workers {
		q := &dispatchQueue{ch: make(chan *nats.Msg, queueLen), subs: map[*nats.Subscription]func(*nats.Msg){}}
		d.queues = append(d.queues, q)
		d.wg.Add(1)
		go d.work(q)
	}
	return d
}

func (d *Dispatcher) work(q *dispatchQueue) {
	defer d.wg.Done()
	for {
		select {
		case <-d.stop:
			return
		case m := <-q.ch:
			if len(q.ch) >= cap(q.ch)-1 {
				d.fills.Add(1)
			}
			q.mu.RLock()
			fn := q.subs[m.Sub]
			q.mu.RUnlock()
			if fn != nil { // nil: unsubscribed while the message waited
				fn(m)
			}
		}
	}
}

// errDispatcherClosed is Subscribe's answer after Close.
var errDispatcherClosed = errors.New("dispatcher closed")

// Subscribe subscribes nc to subject and runs fn for each message on the
// subject's queue. No message is handled before Subscribe has returned
// the subscription, and none is lost between the subscription and its
// handler.
func (d *Dispatcher) Subscribe(nc *nats.Conn, subject string, fn func(*nats.Msg)) (*Sub, error) {
	select {
	case <-d.stop:
		return nil, errDispatcherClosed
	default:
	}
	q := d.queues[maphash.String(d.seed, subject)%uint64(len(d.queues))]
	// The worker looks its handler up under q.mu: holding it until the
	// handler is registered makes a message that arrives at once wait
	// for it instead of finding none.
	q.mu.Lock()
	defer q.mu.Unlock()
	ns, err := nc.ChanSubscribe(subject, q.ch)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	q.subs[ns] = fn
	return &Sub{q: q, ns: ns}, nil
}

// Unsubscribe ends the subscription; messages of it still queued are
// dropped. A handler already running may finish after it returns.
func (s *Sub) Unsubscribe() error {
	s.q.mu.Lock()
	delete(s.q.subs, s.ns)
	s.q.mu.Unlock()
	return s.ns.Unsubscribe()
}

// Dropped is how many messages of the subscription were dropped because
// its queue was full (an error once it is unsubscribed or its connection
// closed).
func (s *Sub) Dropped() (int, error) { return s.ns.Dropped() }

// Fills changes after a subscription of the dispatcher has dropped a
// message (Sub.Dropped), so a watcher of many subscriptions need not read
// each one's count while it stays the same. nats.go drops a message only
// when the queue is full; only the queue's worker empties it, and it takes
// one message at a time, so after a drop the queue holds at least all but
// one of its capacity until that worker's next receive, which counts a
// fill here. (A fill without a drop counts too: it only means a look.)
func (d *Dispatcher) Fills() uint64 { return d.fills.Load() }

// Close ends the workers; messages still queued are not handled. Callers
// unsubscribe first. It is safe to call more than once.
func (d *Dispatcher) Close() {
	d.once.Do(func() { close(d.stop) })
	d.wg.Wait()
}
