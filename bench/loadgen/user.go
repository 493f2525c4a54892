package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// user is one simulated participant: a connection, a document editor, and
// what it measured. The reader goroutine and the driver share it through mu.
type user struct {
	f       *fleet
	s       *session
	idx     int
	slot    int // its place in the session: typists come first
	id      string
	name    string
	wsURL   string
	token   string
	conn    atomic.Pointer[Conn] // the current connection; replaced by a reconnection
	cursors sendRing             // send times of its cursor updates, read by receivers

	cursorSeq atomic.Uint64
	sent      [2]atomic.Int64 // in-window sends: code, cursor

	mu        sync.Mutex
	ed        *editor
	codeSeq   uint64
	st        userStats
	resyncing bool     // a sync was asked for after a problem; updates wait for it
	checking  bool     // a convergence check waits for the sync answer
	answer    *syncAns // the sync answer during a check

	// What the server may leave out for a reader that lags behind (see
	// collapsed and caughtUp in events.go): the newest cursor seq received
	// from each sender on this connection, and the newest version seen.
	lastCursor  map[string]uint64
	lastVersion int64

	// Reconnection (see reconnect.go): the editor's state survives the
	// connection; offline until the next connected, then catching up on
	// the replayed updates until the editor reaches catchUpTo.
	everConnected bool
	offline       bool
	catchingUp    bool
	catchUpTo     int64
}

// userStats is what a user measured; guarded by user.mu.
type userStats struct {
	code, cursor, ack Samples
	lag               Samples  // how late the driver's timer fired: the generator's own health
	recv              [2]int64 // receipts of in-window sends: code, cursor
	errors            map[string]int64
	reconnects        int64
}

type syncAns struct {
	code    string
	version int64
	local   string // the editor's text when the answer came
	rev     int64
}

const (
	kindCode   = 0
	kindCursor = 1
)

func newUser(f *fleet, s *session, idx int, wsURL string) *user {
	id := fmt.Sprintf("lg%d", idx)
	return &user{
		f: f, s: s, idx: idx, id: id, name: "Load " + id, wsURL: wsURL,
		ed: newEditor(id, f.opts.DeltaFormat == "ops", f.opts.Legacy),
		st: userStats{errors: map[string]int64{}},
	}
}

// dial connects the user and starts its reader; it returns the handshake
// time of the attempt that succeeded and the errors of those retried before.
func (u *user) dial(ctx context.Context) (time.Duration, []string, error) {
	var retried []string
	for attempt := 0; ; attempt++ {
		d, err := u.dialOnce(ctx)
		if err == nil || attempt >= u.f.opts.DialRetries || !transient(err) {
			return d, retried, err
		}
		retried = append(retried, errorClass(err))
		// Back off like socket.io-client's reconnection: growing, jittered.
		backoff := time.Duration(100<<attempt)*time.Millisecond + time.Duration(rand.Int64N(int64(100*time.Millisecond)))
		if err := sleep(ctx, backoff); err != nil {
			return 0, retried, err
		}
	}
}

// transient reports whether a failed handshake is worth retrying: the
// server failed or was busy, rather than refusing us for a reason.
func transient(err error) bool {
	switch errorClass(err) {
	case "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT":
		return true
	}
	var re *RefusedError
	return !errors.As(err, &re) && !errors.Is(err, context.Canceled)
}

func (u *user) dialOnce(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	cfg := ConnConfig{
		URL: u.wsURL, Framing: u.f.opts.Framing, Legacy: u.f.opts.Legacy,
		SessionID: u.s.id, UserID: u.id, UserName: u.name, Token: u.token, DeltaFormat: u.f.opts.DeltaFormat,
	}
	u.mu.Lock()
	if u.everConnected {
		cfg.Resume, cfg.Since = true, u.ed.rev
	}
	u.mu.Unlock()
	c, ev, err := Dial(ctx, u.f.dialer, u.f.clock, cfg)
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	u.conn.Store(c) // before connected: going live sends on it
	if ev.Type == protocol.TypeConnected {
		u.onConnected(ev.Payload)
	}
	c.Run(u.handle)
	u.f.watch(u, c)
	return d, nil
}

// alive reports whether the user's connection is open.
func (u *user) alive() bool {
	c := u.conn.Load()
	if c == nil {
		return false
	}
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

func (u *user) onConnected(payload json.RawMessage) {
	var c protocol.Connected
	if err := json.Unmarshal(payload, &c); err != nil {
		u.countLocked("client:BAD_CONNECTED")
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lastCursor = nil // a new connection: cursors sent while away are not replayed
	if !u.everConnected || u.ed.legacy {
		u.lastVersion = max(u.lastVersion, c.Version)
		u.everConnected = true
		u.ed.reset(c.Code, c.Version)
		return
	}
	// A resumption: the versions since the last one seen come next, as a
	// replay (each counted as it arrives) or as one sync (coveredLocked
	// counts what it stands for), so the newest version seen stays.
	u.resumeLocked(c.Code, c.Version)
}

// countLocked counts a problem; it takes mu itself.
func (u *user) countLocked(what string) {
	u.mu.Lock()
	u.st.errors[what]++
	u.mu.Unlock()
}

// inWindow reports whether a send at sent is being measured.
func (u *user) inWindow(sent int64) bool {
	return sent >= u.f.windowStart.Load() && sent < u.f.windowEnd.Load()
}

// resyncLocked asks for the server state; the editor resets on the answer.
func (u *user) resyncLocked() {
	if err := u.conn.Load().Send(protocol.TypeSync, nil); err != nil {
		u.st.errors[sendError(err)]++
		u.ed.reset(u.ed.server, u.ed.rev) // give up what is pending; the next update rebases
		return
	}
	u.resyncing = true
}

// typeKey makes one edit and sends it unless an update is outstanding or
// the connection is down (the edit then waits in the buffer).
func (u *user) typeKey() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.resyncing {
		return
	}
	if err := u.ed.edit(); err != nil {
		u.st.errors["client:EDIT"]++
		return
	}
	if u.offline || u.catchingUp {
		return
	}
	u.sendCodeLocked()
}

// sendCodeLocked sends what the editor has to send, if anything.
func (u *user) sendCodeLocked() {
	now := u.f.clock.Now()
	upd, ok, err := u.ed.take(OpID(u.codeSeq+1, now))
	if err != nil {
		u.st.errors["client:EDIT"]++
		return
	}
	if !ok {
		return
	}
	u.codeSeq++
	if err := u.conn.Load().Send(protocol.TypeCodeUpdate, upd); err != nil {
		if errors.Is(err, ErrClosed) && u.f.reconnecting() {
			// The connection just dropped: the update stays outstanding
			// and is resent, with its opId, once reconnected.
			u.offline = true
		} else {
			u.st.errors[sendError(err)]++
			u.resyncLocked() // the update is lost: never wait for its ack
			return
		}
	}
	if u.inWindow(now) {
		u.sent[kindCode].Add(1)
	}
}

// moveCursor sends one cursor update.
func (u *user) moveCursor() {
	seq := u.cursorSeq.Add(1)
	now := u.f.clock.Now()
	u.cursors.put(seq, now)
	if err := u.conn.Load().Send(protocol.TypeCursorUpdate, protocol.CursorUpdate{Position: CursorPosition(seq)}); err != nil {
		if errors.Is(err, ErrClosed) && u.f.reconnecting() {
			return // a cursor position is not worth keeping: the next one replaces it
		}
		u.countLocked(sendError(err))
		return
	}
	if u.inWindow(now) {
		u.sent[kindCursor].Add(1)
	}
}

// harvest takes what the user measured and resets it.
func (u *user) harvest() (userStats, [2]int64, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.st
	u.st = userStats{errors: map[string]int64{}}
	if u.offline && u.f.reconnecting() {
		st.errors["info:OFFLINE_AT_HARVEST"]++
	}
	sent := [2]int64{u.sent[kindCode].Swap(0), u.sent[kindCursor].Swap(0)}
	return st, sent, u.ed.pending()
}

// busy reports whether the user waits for an ack or a sync answer, or has
// typed something not sent yet.
func (u *user) busy() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ed.pending() || u.ed.buffer != nil || u.resyncing || u.offline || u.catchingUp
}

// sendError labels a failed send: a full queue means the server stopped
// reading from this connection.
func sendError(err error) string {
	if errors.Is(err, ErrQueueFull) {
		return "client:SEND_QUEUE_FULL"
	}
	return "client:SEND"
}
