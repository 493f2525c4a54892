package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/services/api"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/process/processtest"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestSecretsStayOutOfLogs runs the api as its main does (process.Run,
// the access log middleware, debug logging) with ADMIN_TOKEN and
// TOKEN_SECRET set, sends requests that succeed and fail with every
// credential, and checks that no log line holds the admin token, the token
// secret or a join token it handed out.
func TestSecretsStayOutOfLogs(t *testing.T) {
	const admin, secret = "admin-Qw7eRt9yUi", "secret-Op3aSd5fGh"
	var out *processtest.Buffer
	var joinTokens []string
	t.Run("run", func(t *testing.T) {
		p := runAPIProcess(t, map[string]string{
			"ADMIN_TOKEN": admin, "TOKEN_SECRET": secret, "LOG_LEVEL": "debug",
			"RATE_LIMIT_CREATE": "3/1h", // one 429 on the way
		})
		base := p.Base()
		out = p.Logs
		call := func(method, path, body, bearer string) (int, []byte) {
			t.Helper()
			req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		code, body := call(http.MethodPost, "/api/sessions", `{"language":"python"}`, "")
		var s protocol.Session
		if err := json.Unmarshal(body, &s); err != nil || code != http.StatusCreated {
			t.Fatalf("create: %d %s", code, body)
		}
		for _, user := range []string{"u1", "u2"} {
			code, body := call(http.MethodPost, "/api/sessions/"+s.ID+"/join", `{"userId":"`+user+`","userName":"N"}`, "")
			var jr protocol.JoinResponse
			if err := json.Unmarshal(body, &jr); err != nil || code != http.StatusOK {
				t.Fatalf("join: %d %s", code, body)
			}
			joinTokens = append(joinTokens, jr.Token)
		}
		for _, c := range []struct {
			method, path, body, bearer string
			want                       int
		}{
			{http.MethodGet, "/api/sessions/" + s.ID + "/history", "", joinTokens[0], 200},
			{http.MethodGet, "/api/sessions/" + s.ID + "/history", "", admin, 200},
			{http.MethodGet, "/api/sessions/" + s.ID + "/history", "", joinTokens[1] + "x", 401},
			{http.MethodGet, "/api/sessions", "", admin, 200},
			{http.MethodGet, "/api/sessions", "", admin + "x", 401},
			{http.MethodGet, "/api/sessions", "", secret, 401},
			{http.MethodPost, "/api/sessions", `{"language":"` + secret + `"}`, "", 400},
			{http.MethodPost, "/api/sessions", `{"language":"python"}`, "", 201},
			{http.MethodPost, "/api/sessions", `{"language":"python"}`, "", 429},
			{http.MethodDelete, "/api/sessions/" + s.ID, "", admin, 204},
			{http.MethodGet, "/api/sessions/" + s.ID + "/history", "", joinTokens[0], 404},
		} {
			if code, body := call(c.method, c.path, c.body, c.bearer); code != c.want {
				t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, body, c.want)
			}
		}
	}) // the process has stopped: every line is written
	logs := out.String()
	if !strings.Contains(logs, `"msg":"stopped"`) || !strings.Contains(logs, `"msg":"http request"`) {
		t.Fatalf("the log is missing lines:\n%s", logs)
	}
	for _, s := range append([]string{admin, secret}, joinTokens...) {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the secret %q", s)
		}
	}
}

// runAPIProcess runs the api the way cmd/api does, on a free port over its
// own NATS, and returns it once it is ready; it is stopped when the test ends.
func runAPIProcess(t *testing.T, env map[string]string) processtest.Process {
	t.Helper()
	s := natstest.Start(t)
	vars := map[string]string{"NATS_URL": s.ClientURL()}
	for k, v := range env {
		vars[k] = v
	}
	p := processtest.Start(t, vars, process.Options{
		Process:    "api",
		Middleware: httpx.Middleware,
		Build: func(ctx context.Context, d process.Deps) (process.Service, error) {
			return api.New(ctx, d)
		},
	})
	waitFor(t, "the api to be ready", func() bool {
		resp, err := http.Get(p.Base() + "/api/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}
