package api_test

import (
	"net/http"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

func TestAdminAuth(t *testing.T) {
	_, in := startNATS(t)
	clk := newClock(start)
	open := newAPI(t, in, baseEnv(), clk)
	closed := newAPI(t, in, baseEnv().with("ADMIN_TOKEN", ""), clk)
	s := open.createSession(t, "python")

	tests := []struct {
		name   string
		a      *testAPI
		header map[string]string
		want   int
	}{
		{"unset admin token, none sent", closed, nil, 401},
		{"unset admin token, empty bearer", closed, bearerHeader(""), 401},
		{"unset admin token, any bearer", closed, bearerHeader(adminToken), 401},
		{"no header", open, nil, 401},
		{"wrong token", open, bearerHeader("nope"), 401},
		{"prefix of the token", open, bearerHeader(adminToken[:5]), 401},
		{"basic scheme", open, map[string]string{"Authorization": "Basic " + adminToken}, 401},
		{"token without scheme", open, map[string]string{"Authorization": adminToken}, 401},
		{"right token", open, bearerHeader(adminToken), 200},
		{"right token, lower-case scheme", open, map[string]string{"Authorization": "bearer " + adminToken}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.a.do(t, req{method: http.MethodGet, path: "/api/sessions", header: tc.header})
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			if tc.want == 401 {
				if b := r.errorBody(t); b.Error != protocol.CodeUnauthorized || r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("body %+v, WWW-Authenticate %q", b, r.header.Get("WWW-Authenticate"))
				}
			}
			// DELETE is guarded the same way; only the right token may end the session.
			if tc.want == 401 {
				if d := tc.a.do(t, req{method: http.MethodDelete, path: "/api/sessions/" + s.ID, header: tc.header}); d.status != 401 {
					t.Errorf("DELETE status %d, want 401", d.status)
				}
			}
		})
	}
}
