package oplog

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// replyBacklog is how many messages a reply box's channel holds before
// nats.go drops the next (a slow consumer): a box awaits one answer at a
// time, and one that was not waited for goes to an inbox the box has left
// (renew), so nothing but the awaited answer should ever be there; a send
// drops whatever is.
const replyBacklog = 8

// replyBox receives the acknowledgements of one writer's appends, one at a
// time, on a channel subscription of its own (Retry.Replies). nats.go's
// read loop hands a channel subscription's message straight to the channel,
// so the waiting writer is the goroutine it wakes; a request (RequestMsg)
// goes through the connection's shared reply subscription, whose own
// goroutine is woken first and then hands the answer on: one goroutine
// switch more per append, each a wait for a CPU on a busy machine. A box
// is not safe for concurrent use: its writer holds it for one Publish.
//
// Every send of a box has the same reply subject, its inbox, so the NATS
// server sees as many reply subjects as there are boxes, not one per
// append: a subject it has not seen misses both of its match caches (the
// account's and the sending client's), walks the subscription tree and
// takes the cache's write lock to insert itself, evicting a subject that
// is in use. A box has at most one send awaiting its answer, and JetStream
// answers a send once: a send left without its answer (its wait ran out,
// its context ended, the publish failed) spoils the box, whose next send
// first moves it to a new inbox (renew), so a late answer can never be
// taken for a later send's.
type replyBox struct {
	nc      *nats.Conn
	inbox   string // the reply subject of every send
	sub     *nats.Subscription
	ch      chan *nats.Msg
	spoiled bool        // a send went unanswered: renew before the next
	timer   *time.Timer // stopped between sends
}

func newReplyBox(nc *nats.Conn) (*replyBox, error) {
	b := &replyBox{nc: nc}
	if err := b.subscribe(); err != nil {
		return nil, err
	}
	b.timer = time.NewTimer(time.Hour)
	b.timer.Stop()
	return b, nil
}

// subscribe gives the box a new inbox and a channel subscription to it.
func (b *replyBox) subscribe() error {
	inbox := b.nc.NewInbox()
	ch := make(chan *nats.Msg, replyBacklog)
	sub, err := b.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return err
	}
	b.inbox, b.sub, b.ch, b.spoiled = inbox, sub, ch, false
	return nil
}

// renew moves a spoiled box to a new inbox: the answer its last send did
// not wait for goes to a subject nobody listens on any more.
func (b *replyBox) renew() error {
	_ = b.sub.Unsubscribe()
	b.spoiled = true // until subscribed again
	return b.subscribe()
}

// request sends m with the box's reply subject and waits for its answer as
// nats.go's RequestMsg would (nats.ErrNoResponders when nothing listens on
// m's subject), but at most wait (context.DeadlineExceeded) and no longer
// than ctx. A send that returns without its answer spoils the box.
func (b *replyBox) request(ctx context.Context, m *nats.Msg, wait time.Duration) (*nats.Msg, error) {
	if b.spoiled {
		if err := b.renew(); err != nil {
			return nil, err
		}
	}
	for drained := false; !drained; {
		select {
		case <-b.ch:
		default:
			drained = true
		}
	}
	b.spoiled = true // until answered
	m.Reply = b.inbox
	err := b.nc.PublishMsg(m)
	m.Reply = ""
	if err != nil {
		return nil, err
	}
	b.timer.Reset(wait)
	defer b.timer.Stop()
	select {
	case a := <-b.ch:
		b.spoiled = false
		if len(a.Data) == 0 && a.Header.Get("Status") == "503" {
			return nil, nats.ErrNoResponders
		}
		return a, nil
	case <-b.timer.C:
		return nil, context.DeadlineExceeded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// close ends the box's subscription.
func (b *replyBox) close() { _ = b.sub.Unsubscribe() }

// Replies hands reply boxes to concurrent writers on one connection
// (Retry.Replies): each Publish takes one for its sends and gives it back,
// so there are as many subscriptions as appends were ever in flight at
// once, up to keep kept idle. The zero value is not usable: NewReplies.
type Replies struct {
	nc     *nats.Conn
	mu     sync.Mutex
	free   []*replyBox
	keep   int
	closed bool
}

// NewReplies returns a pool of reply boxes on nc that keeps up to keep of
// them idle; the rest are closed as they come back.
func NewReplies(nc *nats.Conn, keep int) *Replies {
	return &Replies{nc: nc, keep: keep}
}

// get returns an idle box, or a new one.
func (r *Replies) get() (*replyBox, error) {
	r.mu.Lock()
	if n := len(r.free); n > 0 {
		b := r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
		r.mu.Unlock()
		return b, nil
	}
	r.mu.Unlock()
	return newReplyBox(r.nc)
}

// put gives b back: kept for the next writer, or closed when the pool
// has enough idle ones or is closed.
func (r *Replies) put(b *replyBox) {
	r.mu.Lock()
	if !r.closed && len(r.free) < r.keep {
		r.free = append(r.free, b)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	b.close()
}

// Close closes the idle boxes, and those given back from now on.
func (r *Replies) Close() {
	r.mu.Lock()
	free := r.free
	r.free, r.closed = nil, true
	r.mu.Unlock()
	for _, b := range free {
		b.close()
	}
}
