package realtime_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/token"
)

// refusal is one handshake the protocol refuses, for both framings.
type refusal struct {
	name   string
	u      user
	status int
	code   protocol.Code
}

func refusals(sid, fullSID string) []refusal {
	expired := token.Sign([]byte(testSecret), token.Claims{SessionID: sid, UserID: "u", UserName: "U", Expiry: time.Now().Add(-time.Minute).Unix()})
	forged := token.Sign([]byte("another secret"), token.Claims{SessionID: sid, UserID: "u", UserName: "U", Expiry: time.Now().Add(time.Hour).Unix()})
	return []refusal{
		{"no session id", user{id: "u", name: "U", noToken: true}, 400, protocol.CodeInvalidRequest},
		{"bad deltaFormat", user{sid: sid, id: "u", name: "U", query: url.Values{"deltaFormat": {"xml"}}}, 400, protocol.CodeInvalidRequest},
		{"bad since", user{sid: sid, id: "u", name: "U", query: url.Values{"since": {"-2"}}}, 400, protocol.CodeInvalidRequest},
		{"no token", user{sid: sid, id: "u", name: "U", noToken: true}, 401, protocol.CodeUnauthorized},
		{"expired token", user{sid: sid, id: "u", noToken: true, query: url.Values{"token": {expired}}}, 401, protocol.CodeUnauthorized},
		{"forged token", user{sid: sid, id: "u", noToken: true, query: url.Values{"token": {forged}}}, 401, protocol.CodeUnauthorized},
		{"token of another user", user{sid: sid, id: "mallory", noToken: true, query: url.Values{"token": {joinToken(sid, "u", "U")}}}, 401, protocol.CodeUnauthorized},
		{"token of another session", user{sid: sid, id: "u", noToken: true, query: url.Values{"token": {joinToken(fullSID, "u", "U")}}}, 401, protocol.CodeUnauthorized},
		{"foreign origin", user{sid: sid, id: "u", name: "U", header: http.Header{"Origin": {"http://evil.example"}}}, 403, protocol.CodeOriginNotAllowed},
		{"unknown session", user{sid: "6a1f0a34-0cf6-4c1e-9a57-3c8e3b1b2d4f", id: "u", name: "U"}, 404, protocol.CodeSessionNotFound},
		{"not a uuid", user{sid: "nope", id: "u", name: "U"}, 404, protocol.CodeSessionNotFound},
		{"session full", user{sid: fullSID, id: "fourth", name: "Fourth"}, 409, protocol.CodeSessionFull},
	}
}

// fill connects SESSION_MAX_USERS (3) users to a session.
func fill(t *testing.T, base, sid string) {
	t.Helper()
	for _, id := range []string{"one", "two", "three"} {
		connectPlain(t, base, user{sid: sid, id: id, name: id}).waitFor(t, protocol.TypeConnected)
	}
}

func TestHandshakeRefusalsPlain(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	sid, fullSID := cl.newSession(protocol.LangPython).ID, cl.newSession(protocol.LangPython).ID
	fill(t, inst.url, fullSID)
	for _, tc := range refusals(sid, fullSID) {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := tryPlain(t, inst.url, tc.u)
			if err == nil {
				t.Fatal("the handshake was accepted")
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("got %s, want %d", body(resp), tc.status)
			}
			var b protocol.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || b.Error != tc.code || b.StatusCode != tc.status || b.Message == "" {
				t.Fatalf("body %+v (%v), want %s", b, err, tc.code)
			}
		})
	}
	t.Run("a present user may open another tab", func(t *testing.T) {
		connectPlain(t, inst.url, user{sid: fullSID, id: "two", name: "two"}).waitFor(t, protocol.TypeConnected)
	})
	t.Run("anonymous is refused unless allowed", func(t *testing.T) {
		anon := cl.start(instanceOpts{env: map[string]string{"WS_ALLOW_ANONYMOUS": "true"}})
		c := connectPlain(t, anon.url, user{sid: sid, id: "guest", name: "  Guest  ", noToken: true})
		if got := decode[protocol.Connected](t, c.waitFor(t, protocol.TypeConnected).Payload); got.Users[0].Name != "Guest" {
			t.Fatalf("connected %+v", got)
		}
		_, resp, _ := tryPlain(t, anon.url, user{sid: sid, id: "guest", name: "bad\x01name", noToken: true})
		if resp == nil || resp.StatusCode != 400 {
			t.Fatalf("control character in name: %s", body(resp))
		}
	})
	t.Run("not an upgrade", func(t *testing.T) {
		resp, err := http.Get(strings.Replace(inst.url, "ws", "http", 1) + "/ws?sessionId=" + sid)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b := decode[protocol.ErrorBody](t, readAll(t, resp)); resp.StatusCode != 400 || b.Error != protocol.CodeInvalidRequest {
			t.Fatalf("got %d %+v", resp.StatusCode, b)
		}
	})
}

func TestHandshakeRefusalsSocketIO(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	sid, fullSID := cl.newSession(protocol.LangPython).ID, cl.newSession(protocol.LangPython).ID
	fill(t, inst.url, fullSID)
	for _, tc := range refusals(sid, fullSID) {
		t.Run(tc.name, func(t *testing.T) {
			c, refused := connectSIO(t, inst.url, tc.u, nil)
			if refused == nil || refused.Error != tc.code || refused.Message == "" {
				t.Fatalf("CONNECT answered %+v, want CONNECT_ERROR %s", refused, tc.code)
			}
			c.waitClosed(t)
		})
	}
	t.Run("auth object", func(t *testing.T) {
		// socket.io-client sends the token (and anything else) in CONNECT's auth.
		auth := map[string]any{"sessionId": sid, "userId": "dora", "token": joinToken(sid, "dora", "Dora"), "since": 0}
		c, refused := connectSIO(t, inst.url, user{noToken: true}, auth)
		if refused != nil {
			t.Fatalf("refused %+v", refused)
		}
		if got := decode[protocol.Connected](t, c.waitFor(t, protocol.TypeConnected).Payload); got.UserID != "dora" || got.Users[0].Name != "Dora" {
			t.Fatalf("connected %+v", got)
		}
		_, refused = connectSIO(t, inst.url, user{noToken: true}, map[string]any{"sessionId": sid, "userId": "dora", "token": 42})
		if refused == nil || refused.Error != protocol.CodeInvalidRequest {
			t.Fatalf("numeric token: %+v", refused)
		}
	})
	httpBase := strings.Replace(inst.url, "ws", "http", 1)
	for _, q := range []string{"EIO=4&transport=polling", "EIO=3&transport=websocket", "EIO=4"} {
		t.Run("plain HTTP "+q, func(t *testing.T) {
			resp, err := http.Get(httpBase + "/socket.io/?" + q)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b := decode[protocol.ErrorBody](t, readAll(t, resp))
			if resp.StatusCode != 400 || b.Error != protocol.CodeInvalidRequest || !strings.Contains(b.Message, "websocket") && !strings.Contains(b.Message, "EIO") {
				t.Fatalf("got %d %+v", resp.StatusCode, b)
			}
		})
	}
	t.Run("polling POST", func(t *testing.T) {
		resp, err := http.Post(httpBase+"/socket.io/?EIO=4&transport=polling", "text/plain", strings.NewReader("40"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b := decode[protocol.ErrorBody](t, readAll(t, resp)); resp.StatusCode != 400 || !strings.Contains(b.Message, "websocket") {
			t.Fatalf("got %d %+v", resp.StatusCode, b)
		}
	})
}

// TestSocketIOHandshakeTimeout: a client that never sends CONNECT is dropped.
func TestSocketIOHandshakeTimeout(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start(instanceOpts{env: map[string]string{"WS_HANDSHAKE_TIMEOUT": "500ms"}})
	sid := cl.newSession(protocol.LangPython).ID
	q := user{sid: sid, id: "slow", name: "Slow"}.values()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	ws, _, err := dialRaw(t, inst.url+"/socket.io/?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	var frames []string
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			break
		}
		frames = append(frames, string(data))
	}
	if len(frames) != 2 || !strings.HasPrefix(frames[0], "0{") || !strings.HasPrefix(frames[1], "44{") {
		t.Fatalf("frames %q, want open then CONNECT_ERROR", frames)
	}
}

func readAll(t testing.TB, resp *http.Response) json.RawMessage {
	t.Helper()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return raw
}

// TestWebRoutes: the demo page and client are served; other paths are NOT_FOUND.
func TestWebRoutes(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	base := strings.Replace(cl.start().url, "ws", "http", 1)
	for path, status := range map[string]int{"/": 200, "/client/client.js": 200, "/nope": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, status)
		}
	}
}
