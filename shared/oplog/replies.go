package oplog

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// replyBacklog is how many answers a reply box holds before nats.go drops
// the next (a slow consumer): one per send, and a send drains what earlier
// ones left behind, so only answers that arrive late, past their try, ever
// wait there.
const replyBacklog = 8

// replyBox receives the acknowledgements of one writer's appends, one at a
// time, on a channel subscription of its own (Retry.Replies). nats.go's
// read loop hands a channel subscription's message straight to the channel,
// so the waiting writer is the goroutine it wakes; a request (RequestMsg)
// goes through the connection's shared reply subscription, whose own
// goroutine is woken first and then hands the answer on: one goroutine
// switch more per append, each a wait for a CPU on a busy machine. A box
// is not safe for concurrent use: its writer holds it for one Publish.
type replyBox struct {
	nc     *nats.Conn
	prefix string // the box's inbox and a dot; a send's reply subject ends with its number
	sub    *nats.Subscription
	ch     chan *nats.Msg
	n      uint64
	timer  *time.Timer // stopped between sends
}

func newReplyBox(nc *nats.Conn) (*replyBox, error) {
	inbox := nc.NewInbox()
	ch := make(chan *nats.Msg, replyBacklog)
	sub, err := nc.ChanSubscribe(inbox+".*", ch)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &replyBox{nc: nc, prefix: inbox + ".", sub: sub, ch: ch, timer: t}, nil
}

// request sends m with a reply subject of the box's and waits for its
// answer as nats.go's RequestMsg would (nats.ErrNoResponders when nothing
// listens on m's subject), but at most wait (context.DeadlineExceeded) and
// no longer than ctx. Answers to earlier sends, late past their own wait,
// are told apart by their subject and dropped.
func (b *replyBox) request(ctx context.Context, m *nats.Msg, wait time.Duration) (*nats.Msg, error) {
	for drained := false; !drained; {
		select {
		case <-b.ch:
		default:
			drained = true
		}
	}
	b.n++
	reply := b.prefix + strconv.FormatUint(b.n, 10)
	m.Reply = reply
	err := b.nc.PublishMsg(m)
	m.Reply = ""
	if err != nil {
		return nil, err
	}
	b.timer.Reset(wait)
	defer b.timer.Stop()
	for {
		select {
		case a := <-b.ch:
			if a.Subject != reply {
				continue // a late answer to an earlier send
			}
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
