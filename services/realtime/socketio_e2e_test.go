package realtime_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/services/realtime"
	"github.com/pairpad/pairpad/services/realtime/sio/siotest"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
	"github.com/pairpad/pairpad/shared/token"
)

const (
	sioSecret = "socketio-e2e-secret"
	sioWait   = 10 * time.Second
)

// sioEnv is a realtime service on embedded NATS, served on a real listener,
// with the sessions store the api would write to.
type sioEnv struct {
	url   string
	in    *broker.Infra
	store *session.Store
}

// startSocketIOEnv starts it with TOKEN_SECRET set and the variables in kv
// (name, value, ...).
func startSocketIOEnv(t *testing.T, kv ...string) *sioEnv {
	t.Helper()
	ns := natstest.Start(t)
	nc := natstest.Connect(t, ns)
	ctx := context.Background()
	in, err := broker.Provision(ctx, nc, broker.Layout{Replicas: 1, PresenceTTL: 10 * time.Second})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	env := map[string]string{"TOKEN_SECRET": sioSecret, "PORT": "0"}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	cfg, err := config.Load("realtime", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	svc, err := realtime.New(ctx, process.Deps{Config: cfg, Infra: in, Log: slog.New(slog.DiscardHandler),
		Metrics: prometheus.NewRegistry(), Now: time.Now})
	if err != nil {
		t.Fatalf("realtime.New: %v", err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return &sioEnv{url: srv.URL, in: in, store: session.NewStore(in.Sessions)}
}

// newSession creates a session the way the api does.
func (e *sioEnv) newSession(t *testing.T) string {
	t.Helper()
	rec, err := e.store.Create(context.Background(), protocol.LangJavaScript, time.Now())
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	return rec.ID
}

// sioJoinToken is what POST /api/sessions/{id}/join hands out.
func sioJoinToken(secret, sid, uid, name string) string {
	return token.Sign([]byte(secret), token.Claims{SessionID: sid, UserID: uid, UserName: name,
		Expiry: time.Now().Add(time.Hour).Unix()})
}

// envelope decodes the first argument of a server event: the protocol's envelope.
func sioEnvelope(t *testing.T, ev siotest.Event) protocol.Envelope {
	t.Helper()
	var env protocol.Envelope
	ev.Decode(t, &env)
	if env.Type != ev.Event {
		t.Fatalf("event %s carries an envelope of type %q: %s", ev.Event, env.Type, ev.Raw)
	}
	return env
}

func sioPayload[T any](t *testing.T, env protocol.Envelope) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(env.Payload, &v); err != nil {
		t.Fatalf("decode %s payload %s: %v", env.Type, env.Payload, err)
	}
	return v
}

// connected connects cl and returns the connected payload it receives.
func sioConnected(t *testing.T, cl *siotest.Client, url string, query, auth map[string]any) protocol.Connected {
	t.Helper()
	cl.Connect(url, query, auth)
	if ev := cl.Next(t, sioWait); ev.Event != "connect" {
		t.Fatalf("got %s, want connect", ev.Raw)
	}
	env := sioEnvelope(t, cl.WaitFor(t, protocol.TypeConnected, sioWait))
	return sioPayload[protocol.Connected](t, env)
}

func sioUserIDs(users []protocol.User) string {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return strings.Join(ids, ",")
}

// waitPresence waits for a presence-update listing exactly the users want.
func sioWaitPresence(t *testing.T, cl *siotest.Client, want string) {
	t.Helper()
	deadline := time.Now().Add(sioWait)
	for time.Now().Before(deadline) {
		ev := cl.WaitFor(t, protocol.TypePresenceUpdate, time.Until(deadline))
		if got := sioUserIDs(sioPayload[protocol.PresenceUpdate](t, sioEnvelope(t, ev)).Users); got == want {
			return
		}
	}
	t.Fatalf("no presence-update with users %s", want)
}

// TestSocketIOEndToEnd drives two real npm socket.io-client processes through
// a session: one authenticates in the CONNECT auth object, the other in the
// query, and each sees what the other does.
func TestSocketIOEndToEnd(t *testing.T) {
	e := startSocketIOEnv(t)
	sid := e.newSession(t)
	alice, bob := siotest.Start(t, ""), siotest.Start(t, "")

	ca := sioConnected(t, alice, e.url, map[string]any{"sessionId": sid},
		map[string]any{"token": sioJoinToken(sioSecret, sid, "alice", "Alice")})
	if ca.SessionID != sid || ca.UserID != "alice" || ca.Version != 0 || ca.Code != "" || ca.Language != protocol.LangJavaScript {
		t.Fatalf("alice connected with %+v", ca)
	}
	cb := sioConnected(t, bob, e.url, map[string]any{"sessionId": sid, "token": sioJoinToken(sioSecret, sid, "bob", "Bob")}, nil)
	if cb.UserID != "bob" || !strings.Contains(sioUserIDs(cb.Users), "alice") {
		t.Fatalf("bob connected with %+v", cb)
	}

	joined := sioEnvelope(t, alice.WaitFor(t, protocol.TypeUserJoined, sioWait))
	if u := sioPayload[protocol.User](t, joined); u.ID != "bob" || u.Name != "Bob" || len(u.Color) != 7 || u.Color[0] != '#' {
		t.Fatalf("user-joined %s", joined.Payload)
	}
	sioWaitPresence(t, alice, "alice,bob")

	// An edit: the sender gets code-ack, the other the update.
	code := "let s = \"héllo 😀\"\n"
	alice.Emit(protocol.TypeCodeUpdate, map[string]any{"type": protocol.TypeCodeUpdate, "sessionId": sid,
		"payload": map[string]any{"delta": map[string]any{"fullCode": code}, "version": 0, "opId": "a-1"}})
	ack := sioPayload[protocol.CodeAck](t, sioEnvelope(t, alice.WaitFor(t, protocol.TypeCodeAck, sioWait)))
	if ack.Version != 1 || ack.OpID != "a-1" {
		t.Fatalf("code-ack %+v", ack)
	}
	upd := sioEnvelope(t, bob.WaitFor(t, protocol.TypeCodeUpdate, sioWait))
	if cu := sioPayload[protocol.CodeUpdate](t, upd); upd.UserID != "alice" || cu.Version != 1 || cu.OpID != "a-1" ||
		cu.Delta.FullCode == nil || *cu.Delta.FullCode != code {
		t.Fatalf("bob got code-update %s from %q", upd.Payload, upd.UserID)
	}

	// A cursor goes to the others, stamped with the sender.
	bob.Emit(protocol.TypeCursorUpdate, map[string]any{"type": protocol.TypeCursorUpdate, "sessionId": sid,
		"payload": map[string]any{"position": map[string]any{"line": 0, "column": 3}}})
	cur := sioEnvelope(t, alice.WaitFor(t, protocol.TypeCursorUpdate, sioWait))
	if c := sioPayload[protocol.CursorUpdate](t, cur); cur.UserID != "bob" || c.Position.Column != 3 {
		t.Fatalf("alice got cursor-update %s from %q", cur.Payload, cur.UserID)
	}

	// A language change reaches everyone, the sender too.
	alice.Emit(protocol.TypeLanguageChanged, map[string]any{"type": protocol.TypeLanguageChanged, "sessionId": sid, "payload": "python"})
	for _, cl := range []*siotest.Client{alice, bob} {
		env := sioEnvelope(t, cl.WaitFor(t, protocol.TypeLanguageChanged, sioWait))
		if l := sioPayload[protocol.Language](t, env); l != protocol.LangPython {
			t.Fatalf("language-changed %s", env.Payload)
		}
	}

	// Garbage is answered with an error and the connection stays up.
	bob.Emit("no-such-type", map[string]any{"type": "no-such-type", "sessionId": sid})
	if p := sioPayload[protocol.ErrorPayload](t, sioEnvelope(t, bob.WaitFor(t, protocol.TypeError, sioWait))); p.Error != protocol.CodeInvalidPayload {
		t.Fatalf("error %+v, want INVALID_PAYLOAD", p)
	}
	bob.Emit(protocol.TypeCursorUpdate, map[string]any{"type": protocol.TypeCursorUpdate, "sessionId": "00000000-0000-4000-8000-000000000000",
		"payload": map[string]any{"position": map[string]any{"line": 0, "column": 0}}})
	if p := sioPayload[protocol.ErrorPayload](t, sioEnvelope(t, bob.WaitFor(t, protocol.TypeError, sioWait))); p.Error != protocol.CodeInvalidSession {
		t.Fatalf("error %+v, want INVALID_SESSION", p)
	}

	// Bob leaves: alice sees user-left and a presence without him.
	bob.Disconnect()
	if ev := bob.WaitFor(t, "disconnect", sioWait); ev.Reason != "io client disconnect" {
		t.Fatalf("bob: %s", ev.Raw)
	}
	left := sioEnvelope(t, alice.WaitFor(t, protocol.TypeUserLeft, sioWait))
	if r := sioPayload[protocol.UserLeft](t, left); left.UserID != "bob" || r.Reason != protocol.LeftManual {
		t.Fatalf("user-left %s from %q, want bob leaving manually", left.Payload, left.UserID)
	}
	sioWaitPresence(t, alice, "alice")

	// The session is deleted: alice hears why, then the server's DISCONNECT,
	// which keeps a socket.io-client from reconnecting.
	e.end(t, sid)
	ended := sioEnvelope(t, alice.WaitFor(t, protocol.TypeSessionEnded, sioWait))
	if r := sioPayload[protocol.SessionEnded](t, ended); r.Reason != protocol.EndedDeleted {
		t.Fatalf("session-ended %s", ended.Payload)
	}
	if ev := alice.WaitFor(t, "disconnect", sioWait); ev.Reason != "io server disconnect" {
		t.Fatalf("alice: %s, want the server's DISCONNECT", ev.Raw)
	}
}

// end deletes a session the way the api's DELETE does, retrying while the
// realtime service's activity touches move its revision.
func (e *sioEnv) end(t *testing.T, sid string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(sioWait)
	for {
		rec, rev, err := e.store.Get(ctx, sid)
		if err == nil {
			if err = session.End(ctx, e.in, rec, rev, protocol.EndedDeleted); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("end session %s: %v", sid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSocketIOHeartbeat keeps a real client idle for longer than both its
// own ping timeout (pingInterval+pingTimeout from the open packet) and the
// server's PRESENCE_TIMEOUT: Engine.IO pings and pongs alone must keep the
// connection and its presence alive. With PRESENCE_TIMEOUT 6s the server
// pings every 2s and the client gives up after 4s without one.
func TestSocketIOHeartbeat(t *testing.T) {
	e := startSocketIOEnv(t, "PRESENCE_TIMEOUT", "6s")
	sid := e.newSession(t)
	alice, bob := siotest.Start(t, ""), siotest.Start(t, "")
	sioConnected(t, alice, e.url, map[string]any{"sessionId": sid}, map[string]any{"token": sioJoinToken(sioSecret, sid, "alice", "Alice")})

	time.Sleep(7 * time.Second)

	for _, ev := range alice.Events() {
		if ev.Event == "disconnect" || ev.Event == protocol.TypeError {
			t.Fatalf("idle client got %s", ev.Raw)
		}
	}
	cb := sioConnected(t, bob, e.url, map[string]any{"sessionId": sid}, map[string]any{"token": sioJoinToken(sioSecret, sid, "bob", "Bob")})
	if got := sioUserIDs(cb.Users); got != "alice,bob" {
		t.Fatalf("bob sees users %s, want alice still present", got)
	}
	joined := sioEnvelope(t, alice.WaitFor(t, protocol.TypeUserJoined, sioWait))
	if u := sioPayload[protocol.User](t, joined); u.ID != "bob" {
		t.Fatalf("user-joined %s", joined.Payload)
	}
}

// TestSocketIOConnectErrors checks that refused handshakes reach the client
// as connect_error with the protocol's code in err.data.error.
func TestSocketIOConnectErrors(t *testing.T) {
	e := startSocketIOEnv(t)
	sid := e.newSession(t)
	unknown := "3f2b8c1e-5d4a-4b6f-9e7d-2a1c0b9f8e7d"
	tests := []struct {
		name        string
		query, auth map[string]any
		want        protocol.Code
	}{
		{"unknown session", map[string]any{"sessionId": unknown}, map[string]any{"token": sioJoinToken(sioSecret, unknown, "u1", "U")}, protocol.CodeSessionNotFound},
		{"token from another secret", map[string]any{"sessionId": sid}, map[string]any{"token": sioJoinToken("not-the-secret", sid, "u1", "U")}, protocol.CodeUnauthorized},
		{"garbage token in query", map[string]any{"sessionId": sid, "token": "v1.garbage.sig"}, nil, protocol.CodeUnauthorized},
		{"token for another session", map[string]any{"sessionId": sid}, map[string]any{"token": sioJoinToken(sioSecret, unknown, "u1", "U")}, protocol.CodeUnauthorized},
		{"no token", map[string]any{"sessionId": sid, "userId": "u1"}, nil, protocol.CodeUnauthorized},
	}
	cl := siotest.Start(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl.Connect(e.url, tt.query, tt.auth)
			ev := cl.WaitFor(t, "connect_error", sioWait)
			if ev.ErrorCode() != string(tt.want) || ev.Message == "" {
				t.Fatalf("got %s, want connect_error with data.error %s and a message", ev.Raw, tt.want)
			}
		})
	}
	for _, ev := range cl.Events() {
		if ev.Event == "connect" {
			t.Errorf("a refused client connected: %s", ev.Raw)
		}
	}
}

// TestSocketIOTransports checks that only EIO=4 over WebSocket is served,
// and that the others learn why from a 400.
func TestSocketIOTransports(t *testing.T) {
	e := startSocketIOEnv(t)
	tests := []struct{ query, want string }{
		{"EIO=4&transport=polling", "websocket"},
		{"EIO=4&transport=polling&sid=abc", "websocket"},
		{"EIO=3&transport=websocket", "EIO"},
		{"transport=websocket", "EIO"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res, err := http.Get(e.url + "/socket.io/?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tt.want) {
				t.Fatalf("GET /socket.io/?%s = %d %s, want 400 mentioning %q", tt.query, res.StatusCode, body, tt.want)
			}
		})
	}
}

// TestSocketIOInterview drives an interview through real npm
// socket.io-client processes: the interviewer's notes reach the observer
// and never the candidate, the observer's edit is FORBIDDEN, a run reaches
// everyone, and the end disconnects everyone and refuses new connections.
func TestSocketIOInterview(t *testing.T) {
	e := startSocketIOEnv(t)
	sid := e.newSession(t)
	iv, cand, ob := siotest.Start(t, ""), siotest.Start(t, ""), siotest.Start(t, "")
	connect := func(cl *siotest.Client, uid, name string, role protocol.Role) protocol.Connected {
		tok := token.Sign([]byte(sioSecret), token.Claims{SessionID: sid, UserID: uid, UserName: name, Role: role,
			Expiry: time.Now().Add(time.Hour).Unix()})
		return sioConnected(t, cl, e.url, map[string]any{"sessionId": sid}, map[string]any{"token": tok})
	}
	if c := connect(iv, "iv", "Ivy", protocol.RoleInterviewer); c.Notes == nil || c.NotesVersion == nil || c.Role != protocol.RoleInterviewer {
		t.Fatalf("interviewer connected with %+v", c)
	}
	if c := connect(cand, "cand", "Cara", protocol.RoleCandidate); c.Notes != nil || c.NotesVersion != nil || c.Role != protocol.RoleCandidate {
		t.Fatalf("candidate connected with %+v", c)
	}
	connect(ob, "ob", "Otto", protocol.RoleObserver)
	sioWaitPresence(t, iv, "iv,cand,ob")
	emit := func(cl *siotest.Client, typ string, payload any) {
		cl.Emit(typ, map[string]any{"type": typ, "sessionId": sid, "payload": payload})
	}
	sioError := func(cl *siotest.Client) protocol.ErrorPayload {
		return sioPayload[protocol.ErrorPayload](t, sioEnvelope(t, cl.WaitFor(t, protocol.TypeError, sioWait)))
	}

	const secret = "SECRET: strong hire"
	emit(iv, protocol.TypeNotesUpdate, fullCode(secret, 0, "n-1"))
	if a := sioPayload[protocol.CodeAck](t, sioEnvelope(t, iv.WaitFor(t, protocol.TypeNotesAck, sioWait))); a.Version != 1 || a.OpID != "n-1" {
		t.Fatalf("notes-ack %+v", a)
	}
	up := sioPayload[protocol.CodeUpdate](t, sioEnvelope(t, ob.WaitFor(t, protocol.TypeNotesUpdate, sioWait)))
	if up.Version != 1 || up.Delta.FullCode == nil || *up.Delta.FullCode != secret {
		t.Fatalf("observer's notes-update %+v", up)
	}
	emit(ob, protocol.TypeCodeUpdate, fullCode("x", 0, "o-1"))
	if p := sioError(ob); p.Error != protocol.CodeForbidden || p.Details["opId"] != "o-1" {
		t.Fatalf("observer's code-update: %+v, want FORBIDDEN", p)
	}
	emit(cand, protocol.TypeNotesUpdate, fullCode("mine", 0, "c-1"))
	if p := sioError(cand); p.Error != protocol.CodeForbidden {
		t.Fatalf("candidate's notes-update: %+v, want FORBIDDEN", p)
	}
	emit(cand, protocol.TypeRunOutput, runPayload("run-1"))
	for _, cl := range []*siotest.Client{iv, cand, ob} {
		env := sioEnvelope(t, cl.WaitFor(t, protocol.TypeRunOutput, sioWait))
		if r := sioPayload[protocol.RunOutput](t, env); r.RunID != "run-1" || r.UserID != "cand" || env.UserID != "cand" {
			t.Fatalf("run-output %s", env.Payload)
		}
	}
	emit(cand, protocol.TypeSync, nil) // what was queued for the candidate before it has arrived with it
	if s := sioEnvelope(t, cand.WaitFor(t, protocol.TypeSync, sioWait)); strings.Contains(string(s.Payload), "notes") {
		t.Fatalf("candidate's sync carries notes: %s", s.Payload)
	}
	for _, ev := range cand.Events() {
		if ev.Event == protocol.TypeNotesUpdate || ev.Event == protocol.TypeNotesAck || strings.Contains(string(ev.Raw), secret) {
			t.Fatalf("the candidate received %s", ev.Raw)
		}
	}

	if _, err := e.store.EndInterview(context.Background(), sid, time.Now()); err != nil {
		t.Fatalf("end: %v", err)
	}
	for _, cl := range []*siotest.Client{iv, cand, ob} {
		env := sioEnvelope(t, cl.WaitFor(t, protocol.TypeSessionEnded, sioWait))
		if r := sioPayload[protocol.SessionEnded](t, env); r.Reason != protocol.EndedByHost {
			t.Fatalf("session-ended %s, want reason ended", env.Payload)
		}
		if ev := cl.WaitFor(t, "disconnect", sioWait); ev.Reason != "io server disconnect" {
			t.Fatalf("%s, want the server's DISCONNECT", ev.Raw)
		}
	}
	cand.Connect(e.url, map[string]any{"sessionId": sid}, map[string]any{"token": sioJoinToken(sioSecret, sid, "cand", "Cara")})
	if ev := cand.WaitFor(t, "connect_error", sioWait); ev.ErrorCode() != string(protocol.CodeSessionEnded) {
		t.Fatalf("a connection after the end: %s, want connect_error SESSION_ENDED", ev.Raw)
	}
}
