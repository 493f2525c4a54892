package loadgen

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// Reconnection, as the reference client does it: when a connection ends
// without the generator closing it (the server cut it as a slow consumer,
// restarted, or the network dropped it), the user dials again with `since`
// = the last version its editor holds. The server answers connected, then
// replays the updates after that version (its own outstanding update among
// them, which then counts as acknowledged) or sends sync when it cannot;
// once caught up, the user resends its outstanding update with the same
// opId (the server acknowledges a resent opId with its first version and
// does not apply it twice) and whatever it typed meanwhile. Each
// reconnection is counted (Traffic.Reconnects).

// reconnectDelay bounds the backoff between attempts; reconnectRefusals
// is how many refusals in a row (not transient failures, which are tried
// until the run ends) a user takes before it gives up.
const (
	reconnectFirst    = 100 * time.Millisecond
	reconnectMax      = 5 * time.Second
	reconnectRefusals = 3
)

// reconnecting reports whether users reconnect: not when switched off, not
// in the legacy form (no acks, no `since`).
func (f *fleet) reconnecting() bool { return !f.opts.NoReconnect && !f.opts.Legacy }

// watch follows connection c of user u and reconnects u when it ends
// unasked. The goroutine belongs to the fleet and ends at stopReconnecting.
func (f *fleet) watch(u *user, c *Conn) {
	if !f.reconnecting() {
		return
	}
	f.rwg.Go(func() {
		select {
		case <-c.Done():
		case <-f.rctx.Done():
			return
		}
		if c.closing.Load() || errors.Is(c.err, ErrServerDisconnect) || f.rctx.Err() != nil {
			return
		}
		u.mu.Lock()
		u.offline = true
		u.mu.Unlock()
		refused := 0
		for attempt := 0; ; attempt++ {
			// Growing, jittered backoff like socket.io-client's.
			backoff := min(reconnectMax, reconnectFirst<<min(attempt, 6)) + time.Duration(rand.Int64N(int64(reconnectFirst)))
			if sleep(f.rctx, backoff) != nil {
				return
			}
			_, err := u.dialOnce(f.rctx) // on success it watches the new connection
			if err == nil {
				u.mu.Lock()
				u.st.reconnects++
				u.mu.Unlock()
				f.reconnects.Add(1)
				return
			}
			if f.rctx.Err() != nil {
				return
			}
			if !transient(err) {
				refused++
				u.mu.Lock()
				if refused < reconnectRefusals {
					// An overloaded server (or a starved generator) refuses a
					// handshake that is too slow (no CONNECT in time): a real
					// client tries again; a refusal that lasts is given up.
					u.st.errors["info:RECONNECT_REFUSED:"+errorClass(err)]++
					u.mu.Unlock()
					continue
				}
				u.st.errors["reconnect:"+errorClass(err)]++
				u.offline = false // given up: its pending update shows as never acknowledged
				u.mu.Unlock()
				return
			}
		}
	})
}

// away reports whether the user is reconnecting.
func (u *user) away() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.offline
}

// returning reports whether the user is reconnecting or catching up on
// what it missed: a sync asked now would be taken for the catch-up's.
func (u *user) returning() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.offline || u.catchingUp
}

// stopReconnecting ends every watcher and waits for them.
func (f *fleet) stopReconnecting() {
	f.rcancel()
	f.rwg.Wait()
}

// resumeLocked takes the connected of a reconnection: nothing to replay,
// updates to replay (catch up first), or a server that is not where the
// editor left it (start over from its state).
func (u *user) resumeLocked(code string, version int64) {
	u.offline = false
	switch {
	case version > u.ed.rev:
		u.catchingUp, u.catchUpTo = true, version // the replay, or a sync, follows
	case version == u.ed.rev && code == u.ed.server:
		u.goLiveLocked()
	default:
		u.st.errors["info:RECONNECT_RESET"]++
		u.ed.reset(code, version)
		u.goLiveLocked()
	}
}

// goLiveLocked ends a catch-up: the outstanding update is resent with its
// opId, or the buffer sent.
func (u *user) goLiveLocked() {
	u.catchingUp = false
	if !u.ed.pending() {
		u.sendCodeLocked()
		return
	}
	u.resendLocked()
}

// resendLocked sends the outstanding update again, with its opId, against
// the version the editor holds now.
func (u *user) resendLocked() {
	upd, err := u.ed.resend()
	if err != nil {
		u.st.errors["client:EDIT"]++
		u.resyncLocked()
		return
	}
	if err := u.conn.Load().Send(protocol.TypeCodeUpdate, upd); err != nil {
		if errors.Is(err, ErrClosed) && u.f.reconnecting() {
			u.offline = true // dropped again: the next connection resends
			return
		}
		u.st.errors[sendError(err)]++
		u.resyncLocked()
	}
}

// caughtUpLocked goes live once a catch-up has reached its version.
func (u *user) caughtUpLocked() {
	if u.catchingUp && u.ed.rev >= u.catchUpTo {
		u.goLiveLocked()
	}
}

// cutOne drops the connection of one connected user picked at random (see
// Options.CutEvery); false when nobody is connected.
func (f *fleet) cutOne() bool {
	users := f.users()
	for range len(users) {
		u := users[rand.IntN(len(users))]
		if c := u.conn.Load(); c != nil && u.alive() {
			c.Cut()
			return true
		}
	}
	return false
}

// cutting drops a connection every f.opts.CutEvery until ctx ends.
func (f *fleet) cutting(ctx context.Context) {
	t := time.NewTicker(f.opts.CutEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if f.cutOne() {
				f.cuts.Add(1)
			}
		}
	}
}
