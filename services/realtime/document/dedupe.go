package document

import (
	"strings"
	"sync/atomic"
	"unsafe"
)

// dedupeConns bounds the connections whose newest update a session's opId
// index remembers; past it the connection that sent least recently is
// forgotten.
const dedupeConns = 64

// opRecord is the newest update a connection of a user sent: its opId and
// the version it got.
type opRecord struct {
	user, conn, op string
	version        int64
}

// opRecordSize is what a record costs beyond its strings.
const opRecordSize = int(unsafe.Sizeof(opRecord{}))

// dedupe is a session's opId index: for each of the newest dedupeConns
// (userId, connId) pairs, the newest update that connection sent, newest
// last. That is the update a client resends: an OT client has one update
// in flight per connection, and after a reconnect it resends it, the same
// opId on a new connection, possibly rebased on a sync. Older updates are
// found by the version they were based on (replica.duplicate): the window
// and the op log hold every update after it. A few dozen records per
// session at most, so a slice scanned from the end beats a map.
type dedupe struct {
	recs []opRecord
	// bytes is what the index holds; total is the engine's sum over its
	// sessions (nil in unit tests and once the session released it).
	bytes int
	total *atomic.Int64
}

// recordBytes is the memory a record holds.
func recordBytes(r opRecord) int {
	return len(r.user) + len(r.conn) + len(r.op)
}

// account adds d to the index's bytes and the engine's total.
func (d *dedupe) account(n int) {
	d.bytes += n
	if d.total != nil {
		d.total.Add(int64(n))
	}
}

// add records that conn of user sent op, applied as version v; an older
// version than the connection's newest is ignored.
func (d *dedupe) add(user, conn, op string, v int64) {
	before := cap(d.recs)
	defer func() { d.account((cap(d.recs) - before) * opRecordSize) }()
	for i := len(d.recs) - 1; i >= 0; i-- {
		r := d.recs[i]
		if r.user != user || r.conn != conn {
			continue
		}
		if v <= r.version {
			return
		}
		copy(d.recs[i:], d.recs[i+1:])
		d.recs = d.recs[:len(d.recs)-1]
		d.account(-recordBytes(r))
		break
	}
	if len(d.recs) >= dedupeConns {
		d.account(-recordBytes(d.recs[0]))
		copy(d.recs, d.recs[1:])
		d.recs = d.recs[:len(d.recs)-1]
	}
	// The opId may be a piece of a decoded frame: a copy lets it go.
	r := opRecord{user: user, conn: conn, op: strings.Clone(op), version: v}
	d.recs = append(d.recs, r)
	d.account(recordBytes(r))
}

// get returns the version a connection's newest update (user, op) got.
func (d *dedupe) get(user, op string) (int64, bool) {
	for i := len(d.recs) - 1; i >= 0; i-- {
		if r := d.recs[i]; r.op == op && r.user == user {
			return r.version, true
		}
	}
	return 0, false
}

// release gives the index's bytes back to the engine for good.
func (d *dedupe) release() {
	d.account(-d.bytes)
	d.total = nil
}
