package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
)

// editor is a client that inserts unique tokens at the front of the document,
// each against the state its last sync gave it, so concurrent edits must be
// transformed by the server.
type editor struct {
	t       *testing.T
	name    string
	c       *wsClient
	text    string
	version int64
	n       int
	pending map[string]any // the update sent but not yet acknowledged
	pendID  string
}

// settle syncs both editors until they are at the same version: each
// instance delivers the other's updates in its own time.
func settle(t *testing.T, a, b *editor) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		a.sync()
		b.sync()
		if a.version == b.version || time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *editor) sync() {
	e.t.Helper()
	e.c.send(protocol.TypeSync, nil)
	s := decode[protocol.Sync](e.t, e.c.waitFor(protocol.TypeSync, 10*time.Second, nil))
	e.text, e.version = s.Code, s.Version
}

// send inserts the next token without waiting for its ack.
func (e *editor) send() {
	e.n++
	tok := fmt.Sprintf("[%s%d]", e.name, e.n)
	ops := []any{tok}
	if len(e.text) > 0 {
		ops = append(ops, len(e.text))
	}
	e.pendID = fmt.Sprintf("%s-%d", e.name, e.n)
	e.pending = map[string]any{"delta": map[string]any{"ops": ops}, "version": e.version, "opId": e.pendID}
	e.c.send(protocol.TypeCodeUpdate, e.pending)
}

// awaitAck waits for the pending update's ack; an update refused while NATS
// is unavailable is answered with an error, and then resent as a client would.
func (e *editor) awaitAck() {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		env := e.c.waitMatch("code-ack of "+e.pendID, time.Until(deadline), func(env protocol.Envelope) bool {
			return (env.Type == protocol.TypeCodeAck && decode[protocol.CodeAck](e.t, env).OpID == e.pendID) ||
				env.Type == protocol.TypeError
		})
		if env.Type == protocol.TypeCodeAck {
			e.pending = nil
			return
		}
		if p := decode[protocol.ErrorPayload](e.t, env); p.Error != protocol.CodeInternal && p.Error != protocol.CodeServiceUnavailable {
			e.t.Fatalf("%s: update %s refused: %+v", e.name, e.pendID, p)
		}
		time.Sleep(300 * time.Millisecond)
		e.c.send(protocol.TypeCodeUpdate, e.pending)
	}
}

// A realtime instance killed mid-session and a NATS restart (file store)
// lose no acknowledged update; a client that reconnects with since and
// resends its pending update converges, and nothing is applied twice.
func TestKillInstanceAndRestartNATS(t *testing.T) {
	store, port := t.TempDir(), natstest.FreePort(t)
	srv := natstest.Start(t, natstest.Options{StoreDir: store, Port: port})
	l := startLayout(t, srv.ClientURL(), nil)
	sess := createSession(t, l.api.Base())
	ops := url.Values{"deltaFormat": {"ops"}}
	a := &editor{t: t, name: "A", c: dialWS(t, l.api.Base(), l.rt1.Base(), sess.ID, "alice", ops)}
	b := &editor{t: t, name: "B", c: dialWS(t, l.api.Base(), l.rt2.Base(), sess.ID, "bob", ops)}
	a.c.waitFor(protocol.TypeConnected, 10*time.Second, nil)
	b.c.waitFor(protocol.TypeConnected, 10*time.Second, nil)

	for i := 0; i < 5; i++ { // concurrent: both send from the same stale state
		a.sync()
		b.sync()
		a.send()
		b.send()
		a.awaitAck()
		b.awaitAck()
	}
	a.sync()
	b.sync()
	a.send() // in flight when its instance dies
	b.send()
	l.rt1.Kill()
	b.awaitAck()

	srv.Shutdown()
	srv.WaitForShutdown()
	natstest.Start(t, natstest.Options{StoreDir: store, Port: port})
	l.rt2.waitReady(t, 30*time.Second)
	l.api.waitReady(t, 30*time.Second)

	// alice reconnects to the surviving instance and resends her pending update.
	a.c.Close()
	since := url.Values{"deltaFormat": {"ops"}, "since": {fmt.Sprint(a.version)}}
	a.c = dialWS(t, l.api.Base(), l.rt2.Base(), sess.ID, "alice", since)
	a.c.waitFor(protocol.TypeConnected, 15*time.Second, nil)
	a.c.send(protocol.TypeCodeUpdate, a.pending)
	a.awaitAck()
	for i := 0; i < 3; i++ {
		a.sync()
		b.sync()
		a.send()
		b.send()
		a.awaitAck()
		b.awaitAck()
	}
	settle(t, a, b)
	if a.text != b.text || a.version != b.version {
		t.Fatalf("diverged: alice v%d %q, bob v%d %q", a.version, a.text, b.version, b.text)
	}
	for _, e := range []*editor{a, b} {
		for i := 1; i <= e.n; i++ {
			tok := fmt.Sprintf("[%s%d]", e.name, i)
			if got := strings.Count(a.text, tok); got != 1 {
				t.Errorf("%s appears %d times in %q, want exactly once", tok, got, a.text)
			}
		}
	}
	if want := int64(a.n + b.n); a.version != want {
		t.Errorf("version = %d, want %d (one per applied update)", a.version, want)
	}
}
