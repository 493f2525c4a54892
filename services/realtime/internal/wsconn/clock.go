package wsconn

import "time"

// clock is a connection's one timer, for its two deadlines: the next
// keepalive ping (StartWriter) and the next look at a polled reader's
// keepalive window (Start). One runtime timer per connection instead of
// two: it fires at the earlier deadline, and tick does what is due.
// Guarded by the Conn's sendMu.
type clock struct {
	t       *time.Timer // made by the first deadline
	pingAt  time.Time   // zero: no ping due (no writer started, or the end)
	checkAt time.Time   // zero: no keepalive check due
}

// setPing sets the next ping's time (zero: none). The caller holds sendMu.
func (c *Conn) setPingLocked(at time.Time) {
	c.clk.pingAt = at
	c.rearmLocked()
}

// setCheck sets the next keepalive check's time (zero: none).
func (c *Conn) setCheck(at time.Time) {
	c.sendMu.Lock()
	c.clk.checkAt = at
	c.rearmLocked()
	c.sendMu.Unlock()
}

// rearmLocked sets the timer to the earlier deadline, or stops it when
// there is none.
func (c *Conn) rearmLocked() {
	k := &c.clk
	next := k.pingAt
	if next.IsZero() || !k.checkAt.IsZero() && k.checkAt.Before(next) {
		next = k.checkAt
	}
	switch {
	case next.IsZero():
		if k.t != nil {
			k.t.Stop()
		}
	case k.t == nil:
		k.t = time.AfterFunc(time.Until(next), c.tick)
	default:
		k.t.Reset(time.Until(next))
	}
}

// tick runs on the timer: it queues the ping and checks the keepalive
// window when their times have come, each of which sets its next time,
// then sets the timer to the earlier one.
func (c *Conn) tick() {
	now := time.Now()
	c.sendMu.Lock()
	k := &c.clk
	ping := !k.pingAt.IsZero() && !now.Before(k.pingAt)
	check := !k.checkAt.IsZero() && !now.Before(k.checkAt)
	if ping {
		k.pingAt = time.Time{}
	}
	if check {
		k.checkAt = time.Time{}
	}
	c.sendMu.Unlock()
	if ping {
		c.ping()
	}
	if check {
		c.checkKeepalive()
	}
	c.sendMu.Lock()
	c.rearmLocked()
	c.sendMu.Unlock()
}
