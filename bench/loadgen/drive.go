package loadgen

import (
	"context"
	"math"
	"math/rand/v2"
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

// driving is a running set of user drivers.
type driving struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// drive starts one goroutine per connected user that types and moves its
// cursor at rates, each on its own random phase so sends spread evenly.
func (f *fleet) drive(ctx context.Context, rates Rates) *driving {
	ctx, cancel := context.WithCancel(ctx)
	d := &driving{cancel: cancel}
	for _, u := range f.users() {
		if !u.alive() {
			continue
		}
		d.wg.Go(func() { u.driveLoop(ctx, f.ratesFor(u, rates)) })
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

func (u *user) driveLoop(ctx context.Context, rates Rates) {
	codeEvery, cursorEvery := every(rates.Code), every(rates.Cursor)
	now := time.Now()
	far := now.Add(365 * 24 * time.Hour)
	nextCode, nextCursor := far, far
	if codeEvery > 0 {
		nextCode = now.Add(time.Duration(rand.Int64N(int64(codeEvery))))
	}
	if cursorEvery > 0 {
		nextCursor = now.Add(time.Duration(rand.Int64N(int64(cursorEvery))))
	}
	timer := time.NewTimer(time.Until(earliest(nextCode, nextCursor)))
	defer timer.Stop()
	var ended <-chan struct{} // a reconnecting user keeps typing while offline
	if !u.f.reconnecting() {
		ended = u.conn.Load().Done()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ended:
			return
		case <-timer.C:
		}
		now := time.Now()
		if u.f.measuring.Load() {
			u.mu.Lock()
			u.st.lag.Add(now.Sub(earliest(nextCode, nextCursor)))
			u.mu.Unlock()
		}
		if !now.Before(nextCode) {
			u.typeKey()
			nextCode = later(nextCode.Add(codeEvery), now) // a late tick is skipped, not replayed
		}
		if !now.Before(nextCursor) {
			u.moveCursor()
			nextCursor = later(nextCursor.Add(cursorEvery), now)
		}
		timer.Reset(time.Until(earliest(nextCode, nextCursor)))
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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
