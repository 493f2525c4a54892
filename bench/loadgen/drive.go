package loadgen

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rates is how often each user acts, per second; 0 switches a kind off.
type Rates struct {
	Code   float64 `json:"codePerSec"`
	Cursor float64 `json:"cursorPerSec"`
}

// driving is a running set of pacers.
type driving struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// drive makes every connected user type and move its cursor at rates, each
// on its own random phase so sends spread evenly. The users are split over
// one pacer per core (GOMAXPROCS), each a goroutine with one timer: a
// per-user goroutine and timer would cost the generator a wakeup per send
// and a timer per connection on top of the sends themselves.
func (f *fleet) drive(ctx context.Context, rates Rates) *driving {
	ctx, cancel := context.WithCancel(ctx)
	d := &driving{cancel: cancel}
	pacers := make([]pacer, runtime.GOMAXPROCS(0))
	now := time.Now()
	n := 0
	for _, u := range f.users() {
		if !u.alive() {
			continue
		}
		pacers[n%len(pacers)].add(u.paced(f.ratesFor(u, rates)), now, rand.Int64N)
		n++
	}
	for i := range pacers {
		d.wg.Go(func() { pacers[i].run(ctx) })
	}
	return d
}

// stop ends every driver and waits for them.
func (d *driving) stop() {
	d.cancel()
	d.wg.Wait()
}

// ratesFor is what user u does at rates: everything, or with typists set
// (interview-light), typing only for the first typists of each session and
// moving the cursor only for the others.
func (f *fleet) ratesFor(u *user, rates Rates) Rates {
	if f.typists <= 0 {
		return rates
	}
	if u.slot < f.typists {
		return Rates{Code: rates.Code}
	}
	return Rates{Cursor: rates.Cursor}
}

func every(rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate)
}

// paced is u's schedule at rates: a user that does not reconnect stops
// when its connection ends.
func (u *user) paced(rates Rates) *paced {
	e := &paced{
		every: [2]time.Duration{kindCode: every(rates.Code), kindCursor: every(rates.Cursor)},
		act: func(kind int) {
			if kind == kindCode {
				u.typeKey()
			} else {
				u.moveCursor()
			}
		},
		late: func(d time.Duration) {
			if u.f.measuring.Load() {
				u.mu.Lock()
				u.st.lag.Add(d)
				u.mu.Unlock()
			}
		},
	}
	if !u.f.reconnecting() { // a reconnecting user keeps typing while offline
		e.ended = u.conn.Load().Done()
	}
	return e
}

// startWindow measures every send from now on.
func (f *fleet) startWindow() time.Time {
	f.windowEnd.Store(math.MaxInt64)
	f.windowStart.Store(f.clock.Now())
	f.measuring.Store(true)
	now := time.Now()
	f.windowAt.Store(now.UnixNano())
	return now
}

// endWindow stops measuring sends; receipts of measured sends still count
// until harvest.
func (f *fleet) endWindow() time.Time {
	f.windowEnd.Store(f.clock.Now())
	f.measuring.Store(false)
	return time.Now()
}

// settle waits, up to timeout, until no user waits for an ack and every
// measured send has reached every other member; it returns whether it did.
func (f *fleet) settle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		done := true
		for _, s := range f.sessionsNow() {
			if !s.settled(f.reconnects.Load() == 0) {
				done = false
				break
			}
		}
		if done {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *fleet) sessionsNow() []*session {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return append([]*session(nil), f.sessions...)
}

// settled reports whether every measured send of the session's members has
// been received by the other connected members and nobody waits for an ack.
func (s *session) settled(cursors bool) bool {
	for _, u := range s.users {
		if u.away() {
			return false // reconnecting: it will catch up
		}
	}
	members := s.connected()
	if len(members) < 2 {
		return true
	}
	var sent, recv [2]int64
	for _, u := range members {
		if u.busy() {
			return false
		}
		sent[kindCode] += u.sent[kindCode].Load()
		sent[kindCursor] += u.sent[kindCursor].Load()
		u.mu.Lock()
		recv[kindCode] += u.st.recv[kindCode]
		recv[kindCursor] += u.st.recv[kindCursor]
		u.mu.Unlock()
	}
	others := int64(len(members) - 1)
	return recv[kindCode] >= sent[kindCode]*others && (!cursors || recv[kindCursor] >= sent[kindCursor]*others)
}

// connected returns the members whose connection is open.
func (s *session) connected() []*user {
	var out []*user
	for _, u := range s.users {
		if u.alive() {
			out = append(out, u)
		}
	}
	return out
}

// harvest collects and resets what every user measured since the last
// harvest, over a window of the given length.
func (f *fleet) harvest(window time.Duration) Traffic {
	t := Traffic{Seconds: round3(window.Seconds()), Sent: map[string]int64{}, Latency: map[string]Summary{},
		Errors: map[string]int64{}}
	var code, cursor, ack, lag []Samples
	var expected, delivered [2]int64
	for _, s := range f.sessionsNow() {
		others := int64(len(s.connected()) - 1)
		for _, u := range s.users {
			st, sent, pending := u.harvest()
			code, cursor, ack, lag = append(code, st.code), append(cursor, st.cursor), append(ack, st.ack), append(lag, st.lag)
			t.Sent["code-update"] += sent[kindCode]
			t.Sent["cursor-update"] += sent[kindCursor]
			if others > 0 {
				expected[kindCode] += sent[kindCode] * others
				expected[kindCursor] += sent[kindCursor] * others
			}
			delivered[kindCode] += st.recv[kindCode]
			delivered[kindCursor] += st.recv[kindCursor]
			t.Reconnects += st.reconnects
			for k, v := range st.errors {
				t.Errors[k] += v
			}
			if pending {
				t.PendingAcks++
			}
		}
	}
	t.Expected = expected[kindCode] + expected[kindCursor]
	t.Delivered = delivered[kindCode] + delivered[kindCursor]
	t.Lost = max(0, t.Expected-t.Delivered)
	t.LostCursors = max(0, expected[kindCursor]-delivered[kindCursor])
	t.LostCode = max(0, expected[kindCode]-delivered[kindCode])
	t.Cuts = f.cuts.Swap(0)
	all := Merge(append(append([]Samples(nil), code...), cursor...)...)
	t.Latency["all"] = all.Summarize()
	raw := map[string]Samples{"code-update": Merge(code...), "cursor-update": Merge(cursor...),
		"code-ack": Merge(ack...), "lag": Merge(lag...)}
	for _, k := range []string{"code-update", "cursor-update", "code-ack"} {
		t.Latency[k] = raw[k].Summarize()
	}
	t.TimerLag = raw["lag"].Summarize()
	if f.opts.KeepRaw {
		t.Raw = raw
	}
	if secs := window.Seconds(); secs > 0 {
		t.SentPerSec = round1(float64(t.Sent["code-update"]+t.Sent["cursor-update"]) / secs)
		t.DeliveredPerSec = round1(float64(t.Delivered) / secs)
	}
	return t
}

// trafficFailures lists what makes a window fail: server errors, client
// OT problems, lost deliveries, missing acks.
func trafficFailures(t Traffic) []string {
	var out []string
	for k, v := range t.Errors {
		if !strings.HasPrefix(k, "info:") {
			out = append(out, k+": "+itoa(v))
		}
	}
	switch {
	case t.Reconnects > 0 && t.LostCode > 0:
		// cursor-updates sent while a member was away are not replayed
		out = append(out, "lost code-update deliveries: "+itoa(t.LostCode))
	case t.Reconnects == 0 && t.Lost > 0:
		out = append(out, "lost deliveries: "+itoa(t.Lost))
	}
	if t.PendingAcks > 0 {
		out = append(out, "updates never acknowledged: "+itoa(t.PendingAcks))
	}
	return out
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
