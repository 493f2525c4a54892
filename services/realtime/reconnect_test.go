package realtime_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestRateLimitsSurviveReconnect: connect → language-changed → close in a
// loop cannot change the language more than once per 5 s: the user's
// buckets outlive the connection (and the room, which goes with the
// last connection). The clock is frozen, so no bucket refills on its own.
func TestRateLimitsSurviveReconnect(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	clk := &clock{t: time.Now()}
	inst := cl.start(instanceOpts{now: clk.now})
	sid := cl.newSession(protocol.LangPython).ID

	langs := []protocol.Language{protocol.LangJavaScript, protocol.LangTypeScript}
	changed, refused := 0, 0
	for i := 0; i < 6; i++ {
		c := connectPlain(t, inst.url, user{sid: sid, id: "cycler", name: "Cycler"})
		c.waitFor(t, protocol.TypeConnected)
		c.send(t, protocol.TypeLanguageChanged, langs[i%2])
		e := c.nextOf(t, protocol.TypeLanguageChanged, protocol.TypeError)
		switch e.Type {
		case protocol.TypeLanguageChanged:
			changed++
		default:
			if p := decode[protocol.ErrorPayload](t, e.Payload); p.Error != protocol.CodeRateLimited || p.Details["type"] != protocol.TypeLanguageChanged {
				t.Fatalf("cycle %d: %+v", i, p)
			}
			refused++
		}
		c.leave(websocket.CloseNormalClosure)
	}
	if changed != 1 || refused != 5 {
		t.Fatalf("%d language changes and %d refusals in 6 cycles within 5 s, want 1 and 5", changed, refused)
	}
	// The window passes: the next cycle may change it again.
	clk.advance(5 * time.Second)
	c := connectPlain(t, inst.url, user{sid: sid, id: "cycler", name: "Cycler"})
	c.waitFor(t, protocol.TypeConnected)
	c.send(t, protocol.TypeLanguageChanged, protocol.LangPython)
	if l := decode[protocol.Language](t, c.nextOf(t, protocol.TypeLanguageChanged, protocol.TypeError).Payload); l != protocol.LangPython {
		t.Fatalf("after 5 s: %q", l)
	}
}

// TestHandshakeRate: WS_HANDSHAKES_PER_USER bounds how often one user opens
// connections to a session, on both endpoints (429 RATE_LIMIT_EXCEEDED with
// Retry-After, or a CONNECT_ERROR); other users are not affected, and the
// window refills.
func TestHandshakeRate(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	clk := &clock{t: time.Now()}
	inst := cl.start(instanceOpts{now: clk.now, env: map[string]string{"WS_HANDSHAKES_PER_USER": "3/1m"}})
	sid := cl.newSession(protocol.LangPython).ID
	u := user{sid: sid, id: "looper", name: "Looper"}
	for i := 0; i < 3; i++ {
		c := connectPlain(t, inst.url, u)
		c.waitFor(t, protocol.TypeConnected)
		c.leave(websocket.CloseNormalClosure)
	}
	_, resp, err := tryPlain(t, inst.url, u)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th handshake: %v, %v", err, resp)
	}
	// One handshake comes back every 20 s.
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 20 || ra > 21 {
		t.Fatalf("Retry-After %q, want the 20 s until the next handshake", resp.Header.Get("Retry-After"))
	}
	if b := decode[protocol.ErrorBody](t, readAll(t, resp)); b.Error != protocol.CodeRateLimited || b.Details["type"] != "handshake" {
		t.Fatalf("4th handshake: %+v", b)
	}
	if _, refused := connectSIO(t, inst.url, u, nil); refused == nil || refused.Error != protocol.CodeRateLimited {
		t.Fatalf("socket.io handshake: %+v", refused)
	}
	other := connectPlain(t, inst.url, user{sid: sid, id: "other", name: "Other"})
	other.waitFor(t, protocol.TypeConnected)
	clk.advance(20 * time.Second) // a third of the window: one handshake back
	c := connectPlain(t, inst.url, u)
	c.waitFor(t, protocol.TypeConnected)
}
