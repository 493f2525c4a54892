package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

func codeUpdate(text string, version int64, opID string) map[string]any {
	return map[string]any{"delta": map[string]any{"fullCode": text}, "version": version, "opId": opID}
}

// The all-in-one serves everything on one port with an embedded NATS whose
// state survives a restart, and the real nats CLI sees what the docs say.
func TestAllInOneRestartAndNATSCLI(t *testing.T) {
	env := map[string]string{
		"NATS_LISTEN": "127.0.0.1:-1", "DATA_DIR": t.TempDir(),
		"TOKEN_SECRET": "e2e-secret", "ADMIN_TOKEN": "e2e-admin",
	}
	p := startProc(t, "pairpad", env)
	m := regexp.MustCompile(`"msg":"embedded nats started"[^\n]*?"nats_url":"([^"]+)"`).FindStringSubmatch(p.Out.String())
	if m == nil {
		t.Fatalf("no embedded nats URL in the log:\n%s", p.Out.String())
	}
	server := m[1]

	s := createSession(t, p.Base())
	c := dialWS(t, p.Base(), p.Base(), s.ID, "ada", nil)
	c.waitFor(protocol.TypeConnected, 10*time.Second, nil)
	c.send(protocol.TypeCodeUpdate, codeUpdate("print('hi')\n", 0, "op-1"))
	ack := decode[protocol.CodeAck](t, c.waitFor(protocol.TypeCodeAck, 10*time.Second, nil))
	if ack.Version != 1 || ack.OpID != "op-1" {
		t.Fatalf("ack = %+v, want version 1 op-1", ack)
	}
	c.send(protocol.TypeRunOutput, map[string]any{"runId": "run-1", "language": "python", "stdout": "hi\n",
		"stderr": "", "exitCode": 0, "durationMs": 3})
	c.waitFor(protocol.TypeRunOutput, 10*time.Second, nil)

	// What docs/operations.md tells an operator to run.
	if out := natsCLI(t, server, "kv", "ls"); !containsAll(out, "sessions", "documents", "presence") {
		t.Errorf("nats kv ls: missing buckets:\n%s", out)
	}
	if out := natsCLI(t, server, "kv", "get", "sessions", s.ID, "--raw"); !containsAll(out, s.ID, `"language":"python"`) {
		t.Errorf("nats kv get sessions: got\n%s", out)
	}
	if out := natsCLI(t, server, "kv", "get", "documents", s.ID+".run", "--raw"); !containsAll(out, `"runId":"run-1"`, `"userId":"ada"`) {
		t.Errorf("nats kv get documents %s.run: got\n%s", s.ID, out)
	}
	if out := natsCLI(t, server, "kv", "ls", "presence"); !strings.Contains(out, s.ID) {
		t.Errorf("nats kv ls presence: no key of %s:\n%s", s.ID, out)
	}
	if out := natsCLI(t, server, "stream", "info", "SESSION_OPS"); !strings.Contains(out, "session.*.ops") {
		t.Errorf("nats stream info SESSION_OPS:\n%s", out)
	}
	if out := natsCLI(t, server, "micro", "ls"); !containsAll(out, "api", "realtime", "janitor") {
		t.Errorf("nats micro ls: got\n%s", out)
	}
	if out := natsCLI(t, server, "req", "pairpad.api.sessions.get", s.ID); !strings.Contains(out, s.ID) {
		t.Errorf("nats req pairpad.api.sessions.get: got\n%s", out)
	}

	c.Close()
	p.Stop(t)
	p2 := startProc(t, "pairpad", env)
	var got protocol.Session
	if code := rest(t, "GET", p2.Base()+"/api/sessions/"+s.ID, "", nil, &got); code != http.StatusOK || got.ID != s.ID {
		t.Fatalf("after restart: GET session = %d %+v", code, got)
	}
	c2 := dialWS(t, p2.Base(), p2.Base(), s.ID, "ada", nil)
	conn := decode[protocol.Connected](t, c2.waitFor(protocol.TypeConnected, 10*time.Second, nil))
	if conn.Code != "print('hi')\n" || conn.Version != 1 {
		t.Errorf("after restart: connected = %q v%d, want the acknowledged edit", conn.Code, conn.Version)
	}
	if conn.LastRun == nil || conn.LastRun.RunID != "run-1" || conn.LastRun.Stdout != "hi\n" {
		t.Errorf("after restart: lastRun = %+v, want the shared run-1", conn.LastRun)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
