package loadgen

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// handle is the reader goroutine's callback for every server event.
func (u *user) handle(ev Event) {
	switch ev.Type {
	case protocol.TypeCursorUpdate:
		u.onCursor(ev)
	case protocol.TypeCodeUpdate:
		u.onCode(ev)
	case protocol.TypeCodeAck:
		u.onAck(ev)
	case protocol.TypeSync:
		u.onSync(ev.Payload)
	case protocol.TypeConnected:
		u.onConnected(ev.Payload)
	case protocol.TypeError:
		u.onError(ev.Payload)
	case protocol.TypeSessionEnded:
		u.countLocked("SESSION_ENDED")
	case "bad-frame":
		u.countLocked("client:BAD_FRAME")
	}
}

func (u *user) onCursor(ev Event) {
	c, ok := quickCursor(ev.Payload)
	if !ok {
		if err := json.Unmarshal(ev.Payload, &c); err != nil {
			u.countLocked("client:BAD_CURSOR")
			return
		}
	}
	from := u.f.lookup(ev.UserID)
	seq, ok := CursorSeq(c.Position)
	if from == nil || !ok {
		return // not one of ours
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.collapsedLocked(from, ev.UserID, seq)
	sent, ok := from.cursors.get(seq)
	if !ok || !u.inWindow(sent) {
		return
	}
	u.st.cursor.Add(time.Duration(ev.At - sent))
	u.st.recv[kindCursor]++
}

// collapsedLocked counts, as received, the cursor-updates of from that a
// newer one (seq) replaced in the server's queue for this reader: the
// server sends a slow reader the newest cursor of each user only.
func (u *user) collapsedLocked(from *user, id string, seq uint64) {
	prev, had := u.lastCursor[id]
	if had && seq <= prev {
		return
	}
	if u.lastCursor == nil {
		u.lastCursor = map[string]uint64{}
	}
	u.lastCursor[id] = seq
	if !had {
		return
	}
	for s := max(prev+1, seq-min(seq, ringSize)); s < seq; s++ {
		if sent, ok := from.cursors.get(s); ok && u.inWindow(sent) {
			u.st.recv[kindCursor]++
			u.st.errors["info:COLLAPSED_CURSOR"]++
		}
	}
}

// coveredLocked counts, as received, the code-updates a sync stands for
// that were never sent to this reader: the server replaces the updates
// queued for a reader that lags behind by one sync. Every version after
// the newest one seen is another user's update (the reader's own are
// acknowledged before the sync). Their send times are unknown, so the
// ones sent before the window are counted too.
func (u *user) coveredLocked(version int64) {
	if n := version - u.lastVersion; n > 0 {
		u.st.recv[kindCode] += n
		u.st.errors["info:CAUGHT_UP_CODE"] += n
	}
	u.lastVersion = max(u.lastVersion, version)
}

func (u *user) onCode(ev Event) {
	c := ev.code
	if !ev.decoded {
		if err := json.Unmarshal(ev.Payload, &c); err != nil {
			u.countLocked("client:BAD_CODE_UPDATE")
			return
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lastVersion = max(u.lastVersion, c.Version)
	own := ev.UserID == u.id // replayed to us after a reconnection
	if _, sent, ok := ParseOpID(c.OpID); ok && u.inWindow(sent) && !own {
		u.st.code.Add(time.Duration(ev.At - sent))
		u.st.recv[kindCode]++
		u.f.opts.Slow.add(sent, time.Duration(ev.At-sent))
	} else if !ok && u.f.opts.Legacy && u.measuringLegacy() {
		u.st.recv[kindCode]++ // an older server may drop the opId: counted, not timed
	}
	if u.resyncing {
		return // the sync answer will carry this update
	}
	var err error
	if own && u.ed.pending() && c.OpID == u.ed.outOpID {
		err = u.ed.ack(protocol.CodeAck{Version: c.Version, OpID: c.OpID}) // applied before the connection dropped
	} else {
		err = u.ed.remote(c)
	}
	if err != nil {
		u.st.errors["client:OT"]++
		u.resyncLocked()
		return
	}
	u.caughtUpLocked()
}

func (u *user) measuringLegacy() bool { return u.f.measuring.Load() }

func (u *user) onAck(ev Event) {
	a := protocol.CodeAck{Version: ev.code.Version, OpID: ev.code.OpID, Hash: ev.code.Hash}
	if !ev.decoded {
		if err := json.Unmarshal(ev.Payload, &a); err != nil {
			u.countLocked("client:BAD_CODE_ACK")
			return
		}
	}
	u.mu.Lock()
	u.lastVersion = max(u.lastVersion, a.Version)
	if _, sent, ok := ParseOpID(a.OpID); ok && u.inWindow(sent) {
		u.st.ack.Add(time.Duration(ev.At - sent))
	}
	if u.resyncing {
		u.mu.Unlock()
		return
	}
	if err := u.ed.ack(a); errors.Is(err, errStaleAck) {
		u.st.errors["info:STALE_ACK"]++
		if a.Version > u.ed.rev {
			// The ack of an update this copy gave up (a send that
			// failed) that the server applied anyway: this copy lacks
			// that version, and a code-ack carries no ops.
			u.resyncLocked()
		}
		u.mu.Unlock()
		return
	} else if err != nil {
		u.st.errors["client:ACK"]++
		u.resyncLocked()
		u.mu.Unlock()
		return
	}
	u.sendCodeLocked() // the buffer, if the user typed meanwhile
	u.mu.Unlock()
}

func (u *user) onSync(payload json.RawMessage) {
	var s protocol.Sync
	if err := json.Unmarshal(payload, &s); err != nil {
		u.countLocked("client:BAD_SYNC")
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.coveredLocked(s.Version)
	if u.catchingUp && !u.resyncing {
		// The server could not replay from our version: what was pending
		// may or may not be in its text, so it is given up.
		u.st.errors["info:RECONNECT_RESYNC"]++
		u.ed.reset(s.Code, s.Version)
		u.goLiveLocked()
		return
	}
	if u.checking && !u.resyncing {
		u.answer = &syncAns{code: s.Code, version: s.Version, local: u.ed.text, rev: u.ed.rev}
		u.checking = false
		return
	}
	if !u.resyncing {
		// Not asked for: the server caught this reader up instead of
		// sending every update it lagged behind on.
		u.st.errors["info:CATCH_UP_SYNC"]++
		if resync, err := u.ed.catchUp(s.Code, s.Version); err != nil || resync {
			if err != nil {
				u.st.errors["client:OT"]++
			}
			u.resyncLocked()
		}
		return
	}
	u.ed.reset(s.Code, s.Version)
	u.resyncing, u.catchingUp = false, false
}

func (u *user) onError(payload json.RawMessage) {
	code, which := errorWhich(payload)
	r := parseRefusal(payload)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.st.errors[code]++
	if which != "" { // which limit refused it: a breakdown, not another failure
		u.st.errors["info:"+code+":"+which]++
	}
	if !u.ed.pending() || u.resyncing || u.ed.legacy {
		return
	}
	if (r.typ != "" && r.typ != protocol.TypeCodeUpdate) || (r.opID != "" && r.opID != u.ed.outOpID) {
		return // about another event, or an update already acknowledged
	}
	switch code {
	case "SERVICE_UNAVAILABLE", "INTERNAL_SERVER_ERROR", "RATE_LIMIT_EXCEEDED":
		// Not applied, or (an op-log append whose acknowledgement did not
		// come in time) applied after all: kept and resent with its opId,
		// which the server applies once either way (docs/protocol.md, NATS
		// outages), as the reference client does. Its code-ack may still
		// come first; giving it up for a sync instead would leave that ack
		// unusable and this copy a version behind.
		u.st.errors["info:RESENT"]++
		u.resendAfterLocked(r.opID, r.retryAfter)
	default:
		// Refused for good, or "sync and resend": start over from the
		// server's state.
		u.resyncLocked()
	}
}

// resendAfterLocked resends the outstanding update opID after wait,
// unless it was acknowledged or given up meanwhile.
func (u *user) resendAfterLocked(opID string, wait time.Duration) {
	if opID == "" {
		opID = u.ed.outOpID
	}
	if wait <= 0 {
		wait = time.Second
	}
	time.AfterFunc(wait, func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		if !u.ed.pending() || u.ed.outOpID != opID || u.resyncing || u.offline || u.catchingUp {
			return // acknowledged, given up, or resent by a reconnection
		}
		u.resendLocked()
	})
}

// eventRefusal is what an error event says about the event it refuses.
type eventRefusal struct {
	typ, opID  string
	retryAfter time.Duration
}

func parseRefusal(payload json.RawMessage) eventRefusal {
	var p struct {
		Details struct {
			Type         any `json:"type"`
			OpID         any `json:"opId"`
			RetryAfterMs any `json:"retryAfterMs"`
		} `json:"details"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return eventRefusal{}
	}
	var r eventRefusal
	r.typ, _ = p.Details.Type.(string)
	r.opID, _ = p.Details.OpID.(string)
	if ms, ok := p.Details.RetryAfterMs.(float64); ok && ms > 0 {
		r.retryAfter = time.Duration(min(ms, 10000)) * time.Millisecond
	}
	return r
}
