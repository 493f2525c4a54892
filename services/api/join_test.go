package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
	"github.com/pairpad/pairpad/shared/token"
)

func TestJoin(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	clk := newClock(start)
	a := newAPI(t, in, baseEnv().with("TOKEN_TTL", "2h"), clk)
	s := a.createSession(t, "python")
	clk.Advance(time.Minute)

	r := a.do(t, req{method: http.MethodPost, path: "/api/sessions/" + s.ID + "/join", body: `{"userId":"u-1","userName":"  Ada Lovelace  "}`})
	if r.status != http.StatusOK {
		t.Fatalf("join: %d %s", r.status, r.body)
	}
	var j protocol.JoinResponse
	r.json(t, &j)
	wantWS := "ws://" + strings.TrimPrefix(a.srv.URL, "http://")
	if j.SessionID != s.ID || j.UserID != "u-1" || j.WSURL != wantWS || j.ParticipantCount != 0 {
		t.Errorf("join response %+v, want wsUrl %s", j, wantWS)
	}
	c, err := token.Verify([]byte(tokenSecret), j.Token, clk.Now())
	want := token.Claims{SessionID: s.ID, UserID: "u-1", UserName: "Ada Lovelace", Expiry: clk.Now().Add(2 * time.Hour).Unix(), Role: protocol.RoleCandidate,
		Color: protocol.PaletteColor(0)}
	if err != nil || c != want {
		t.Errorf("token claims %+v (%v), want %+v", c, err, want)
	}
	// Join is activity: the janitor must not expire a session people join.
	rec, _, _ := session.NewStore(in.Sessions).Get(ctx, s.ID)
	if !rec.LastActivityAt.Equal(clk.Now()) {
		t.Errorf("lastActivityAt %v, want %v", rec.LastActivityAt, clk.Now())
	}

	long := strings.Repeat("x", 101)
	tests := []struct {
		name, id, body string
		status         int
		code           protocol.Code
		details        []string
	}{
		{"unknown session", "0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11", `{"userId":"u","userName":"n"}`, 404, protocol.CodeSessionNotFound, nil},
		{"non-uuid session", "nope", `{"userId":"u","userName":"n"}`, 404, protocol.CodeSessionNotFound, nil},
		{"missing body", s.ID, ``, 400, protocol.CodeInvalidRequest, nil},
		{"malformed", s.ID, `{"userId":"u",`, 400, protocol.CodeInvalidRequest, nil},
		{"unknown field", s.ID, `{"userId":"u","userName":"n","admin":true}`, 400, protocol.CodeInvalidRequest, []string{"admin"}},
		{"unknown role", s.ID, `{"userId":"u","userName":"n","role":"admin"}`, 400, protocol.CodeInvalidRequest, []string{"role"}},
		{"host key for a candidate", s.ID, `{"userId":"u","userName":"n","hostKey":"k"}`, 400, protocol.CodeInvalidRequest, []string{"hostKey"}},
		{"host key too long", s.ID, `{"userId":"u","userName":"n","role":"observer","hostKey":"` + strings.Repeat("k", 257) + `"}`, 400, protocol.CodeInvalidRequest, []string{"hostKey"}},
		{"wrong type", s.ID, `{"userId":7,"userName":"n"}`, 400, protocol.CodeInvalidRequest, []string{"userId"}},
		{"missing userId", s.ID, `{"userName":"n"}`, 400, protocol.CodeInvalidRequest, []string{"userId"}},
		{"userId too long", s.ID, `{"userId":"` + long + `","userName":"n"}`, 400, protocol.CodeInvalidRequest, []string{"userId"}},
		{"userId control char", s.ID, `{"userId":"a\u0007b","userName":"n"}`, 400, protocol.CodeInvalidRequest, []string{"userId"}},
		{"blank userName", s.ID, `{"userId":"u","userName":"   "}`, 400, protocol.CodeInvalidRequest, []string{"userName"}},
		{"userName too long", s.ID, `{"userId":"u","userName":"` + long[:51] + `"}`, 400, protocol.CodeInvalidRequest, []string{"userName"}},
		{"userName control char", s.ID, `{"userId":"u","userName":"a\nb"}`, 400, protocol.CodeInvalidRequest, []string{"userName"}},
		{"both wrong", s.ID, `{"userId":"","userName":""}`, 400, protocol.CodeInvalidRequest, []string{"userId", "userName"}},
		{"duplicate userId", s.ID, `{"userId":"u1","userId":"u2","userName":"n"}`, 400, protocol.CodeInvalidRequest, []string{"userId"}},
		{"duplicate userName", s.ID, `{"userId":"u1","userName":"n","userName":"m"}`, 400, protocol.CodeInvalidRequest, []string{"userName"}},
		{"userId lone high surrogate", s.ID, `{"userId":"k\ud800","userName":"n"}`, 400, protocol.CodeInvalidRequest, []string{"userId"}},
		{"userId lone low surrogate", s.ID, `{"userId":"k\udc00","userName":"n"}`, 400, protocol.CodeInvalidRequest, []string{"userId"}},
		{"userId invalid UTF-8", s.ID, "{\"userId\":\"k\xff\",\"userName\":\"n\"}", 400, protocol.CodeInvalidRequest, []string{"userId"}},
		{"userName lone surrogate", s.ID, `{"userId":"u","userName":"n\udfff"}`, 400, protocol.CodeInvalidRequest, []string{"userName"}},
		{"trailing garbage", s.ID, `{"userId":"u","userName":"n"}]`, 400, protocol.CodeInvalidRequest, nil},
		{"too large", s.ID, `{"userId":"u","userName":"` + strings.Repeat("n", 65<<10) + `"}`, 413, protocol.CodePayloadTooLarge, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(t, req{method: http.MethodPost, path: "/api/sessions/" + tc.id + "/join", body: tc.body})
			b := r.errorBody(t)
			if r.status != tc.status || b.Error != tc.code {
				t.Fatalf("got %d %+v, want %d %s", r.status, b, tc.status, tc.code)
			}
			for _, d := range tc.details {
				if _, ok := b.Details[d]; !ok {
					t.Errorf("details %v lack %q", b.Details, d)
				}
			}
		})
	}

	t.Run("userName at the limits", func(t *testing.T) {
		name := strings.Repeat("é", 50) // 50 characters, 100 bytes
		r := a.do(t, req{method: http.MethodPost, path: "/api/sessions/" + s.ID + "/join", body: `{"userId":"` + long[:100] + `","userName":"` + name + `"}`})
		if r.status != 200 {
			t.Errorf("status %d: %s", r.status, r.body)
		}
	})

	t.Run("deleted session", func(t *testing.T) {
		if r := a.do(t, req{method: http.MethodDelete, path: "/api/sessions/" + s.ID, header: bearerHeader(adminToken)}); r.status != 204 {
			t.Fatalf("delete: %d", r.status)
		}
		r := a.do(t, req{method: http.MethodPost, path: "/api/sessions/" + s.ID + "/join", body: `{"userId":"u","userName":"n"}`})
		if b := r.errorBody(t); r.status != 404 || b.Error != protocol.CodeSessionNotFound {
			t.Errorf("got %d %+v", r.status, b)
		}
	})
}

func TestJoinWSURL(t *testing.T) {
	_, in := startNATS(t)
	clk := newClock(start)
	plain := newAPI(t, in, baseEnv(), clk)
	trusting := newAPI(t, in, baseEnv().with("TRUST_PROXY", "true"), clk)
	fixed := newAPI(t, in, baseEnv().with("WS_URL", "wss://rt.example.com/"), clk)
	s := plain.createSession(t, "python")
	fwd := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pairpad.example.com, inner.local"}

	tests := []struct {
		name   string
		a      *testAPI
		host   string
		header map[string]string
		want   string
	}{
		{"from the Host header", plain, "pairpad.test:8080", nil, "ws://pairpad.test:8080"},
		{"forwarded headers ignored without TRUST_PROXY", plain, "pairpad.test", fwd, "ws://pairpad.test"},
		{"forwarded headers honoured with TRUST_PROXY", trusting, "pairpad.test", fwd, "wss://pairpad.example.com"},
		{"forwarded proto only", trusting, "pairpad.test", map[string]string{"X-Forwarded-Proto": "https"}, "wss://pairpad.test"},
		{"forged forwarded host rejected", trusting, "pairpad.test", map[string]string{"X-Forwarded-Host": "evil.com/path?x"}, "ws://pairpad.test"},
		{"WS_URL wins", fixed, "pairpad.test", fwd, "wss://rt.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.a.do(t, req{method: http.MethodPost, path: "/api/sessions/" + s.ID + "/join",
				body: `{"userId":"u","userName":"n"}`, host: tc.host, header: tc.header})
			var j protocol.JoinResponse
			r.json(t, &j)
			if r.status != 200 || j.WSURL != tc.want {
				t.Errorf("got %d wsUrl %q, want %q", r.status, j.WSURL, tc.want)
			}
		})
	}
}
