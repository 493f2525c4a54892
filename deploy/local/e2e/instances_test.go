package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
)

// layout is api, two realtime instances and a janitor as separate
// processes on one NATS server.
type layout struct {
	api, rt1, rt2, janitor *proc
}

func startLayout(t *testing.T, natsURL string, extra map[string]string) layout {
	t.Helper()
	env := map[string]string{"NATS_URL": natsURL, "TOKEN_SECRET": "e2e-secret", "ADMIN_TOKEN": "e2e-admin", "PRESENCE_TIMEOUT": "3s"}
	for k, v := range extra {
		env[k] = v
	}
	return layout{
		api: startProc(t, "api", env), rt1: startProc(t, "realtime", env), rt2: startProc(t, "realtime", env),
		janitor: startProc(t, "janitor", env),
	}
}

// A realtime process killed with SIGKILL loses its users from presence on
// the other instance within PRESENCE_TIMEOUT.
func TestKilledInstanceLeavesPresence(t *testing.T) {
	s := natstest.Start(t)
	l := startLayout(t, s.ClientURL(), nil)
	sess := createSession(t, l.api.Base())
	a := dialWS(t, l.api.Base(), l.rt1.Base(), sess.ID, "alice", nil)
	a.waitFor(protocol.TypeConnected, 10*time.Second, nil)
	b := dialWS(t, l.api.Base(), l.rt2.Base(), sess.ID, "bob", nil)
	b.waitFor(protocol.TypeConnected, 10*time.Second, nil)
	a.waitFor(protocol.TypeUserJoined, 10*time.Second, func(e protocol.Envelope) bool {
		return decode[protocol.User](t, e).ID == "bob"
	})

	killed := time.Now()
	l.rt2.Kill()
	left := a.waitFor(protocol.TypeUserLeft, 3*time.Second+5*time.Second, func(e protocol.Envelope) bool { return e.UserID == "bob" })
	if r := decode[protocol.UserLeft](t, left); r.Reason != protocol.LeftTimeout {
		t.Errorf("user-left reason = %q, want timeout", r.Reason)
	}
	t.Logf("bob left presence %s after SIGKILL (PRESENCE_TIMEOUT=3s)", time.Since(killed).Round(100*time.Millisecond))
	a.waitFor(protocol.TypePresenceUpdate, 5*time.Second, func(e protocol.Envelope) bool {
		users := decode[protocol.PresenceUpdate](t, e).Users
		return len(users) == 1 && users[0].ID == "alice"
	})
}

// DELETE through the api ends the session for clients on every instance, and
// the janitor expires an idle session but never one with a user connected.
func TestSessionEndsEverywhere(t *testing.T) {
	s := natstest.Start(t)
	l := startLayout(t, s.ClientURL(), map[string]string{"SESSION_IDLE_TIMEOUT": "2s", "JANITOR_INTERVAL": "500ms"})

	busy := createSession(t, l.api.Base())
	idle := createSession(t, l.api.Base())
	a := dialWS(t, l.api.Base(), l.rt1.Base(), busy.ID, "alice", nil)
	a.waitFor(protocol.TypeConnected, 10*time.Second, nil)
	b := dialWS(t, l.api.Base(), l.rt2.Base(), busy.ID, "bob", nil)
	b.waitFor(protocol.TypeConnected, 10*time.Second, nil)

	deadline := time.Now().Add(15 * time.Second)
	for rest(t, "GET", l.api.Base()+"/api/sessions/"+idle.ID, "", nil, nil) != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("the idle session was not expired")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := rest(t, "GET", l.api.Base()+"/api/sessions/"+busy.ID, "", nil, nil); code != http.StatusOK {
		t.Fatalf("a session with users connected was expired: %d", code)
	}

	if code := rest(t, "DELETE", l.api.Base()+"/api/sessions/"+busy.ID, "e2e-admin", nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	for _, c := range []*wsClient{a, b} {
		ended := decode[protocol.SessionEnded](t, c.waitFor(protocol.TypeSessionEnded, 10*time.Second, nil))
		if ended.Reason != protocol.EndedDeleted {
			t.Errorf("session-ended reason = %q, want deleted", ended.Reason)
		}
		if err := c.closed(10 * time.Second); err == nil {
			t.Error("connection still open after session-ended")
		}
	}
}
