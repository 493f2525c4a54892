package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestInterviewAcrossInstances runs a whole interview through separate api,
// realtime (two instances) and janitor processes: the interviewer joins with
// the host key, the candidate edits on one instance while the interviewer
// takes notes on the other, the candidate may not end it, the interviewer
// ends it, everyone is told on every instance, the session stays readable
// (code, notes, history with names and roles) but not joinable, is never
// expired as idle, and the janitor purges it once SESSION_RETENTION passed.
func TestInterviewAcrossInstances(t *testing.T) {
	const idle, retention = time.Second, 4 * time.Second
	s := natstest.Start(t)
	l := startLayout(t, s.ClientURL(), map[string]string{
		"SESSION_IDLE_TIMEOUT": idle.String(), "JANITOR_INTERVAL": "250ms", "SESSION_RETENTION": retention.String(),
	})
	api := l.api.Base()

	var sess protocol.CreatedSession
	if code := rest(t, "POST", api+"/api/sessions", "", map[string]string{"language": "go", "title": "Screen", "starterCode": "x := 1\n"}, &sess); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	join := func(userID, role, hostKey string) (protocol.JoinResponse, int) {
		var j protocol.JoinResponse
		body := map[string]string{"userId": userID, "userName": "User " + userID}
		if role != "" {
			body["role"], body["hostKey"] = role, hostKey
		}
		return j, rest(t, "POST", api+"/api/sessions/"+sess.ID+"/join", "", body, &j)
	}
	iv, code := join("ivy", "interviewer", sess.HostKey)
	if code != http.StatusOK || iv.Role != protocol.RoleInterviewer {
		t.Fatalf("interviewer join: %d %+v", code, iv)
	}
	cand, code := join("cara", "", "")
	if code != http.StatusOK || cand.Role != protocol.RoleCandidate || cand.Color == iv.Color {
		t.Fatalf("candidate join: %d %+v (interviewer's colour %s)", code, cand, iv.Color)
	}
	if _, code := join("ivy", "", ""); code != http.StatusConflict {
		t.Fatalf("a candidate with the interviewer's userId: %d, want 409", code)
	}

	c := dialToken(t, l.rt1.Base(), sess.ID, "cara", cand.Token, nil)
	i := dialToken(t, l.rt2.Base(), sess.ID, "ivy", iv.Token, nil)
	for _, w := range []*wsClient{c, i} {
		if got := decode[protocol.Connected](t, w.waitFor(protocol.TypeConnected, 10*time.Second, nil)); got.Code != "x := 1\n" || got.Version != 1 {
			t.Fatalf("connected with %q at %d, want the starter code at version 1", got.Code, got.Version)
		}
	}
	c.send(protocol.TypeCodeUpdate, codeUpdate("x := 2\n", 1, "c1"))
	c.waitFor(protocol.TypeCodeAck, 10*time.Second, nil)
	i.waitFor(protocol.TypeCodeUpdate, 10*time.Second, nil)
	i.send(protocol.TypeNotesUpdate, codeUpdate("strong start", 0, "n1"))
	i.waitFor(protocol.TypeNotesAck, 10*time.Second, nil)

	if code := rest(t, "POST", api+"/api/sessions/"+sess.ID+"/end", cand.Token, nil, nil); code != http.StatusForbidden {
		t.Fatalf("the candidate ended the interview: %d", code)
	}
	var ended protocol.Session
	if code := rest(t, "POST", api+"/api/sessions/"+sess.ID+"/end", iv.Token, nil, &ended); code != http.StatusOK || ended.Status != protocol.StatusEnded || ended.EndedAt == nil {
		t.Fatalf("end: %d %+v", code, ended)
	}
	for _, w := range []*wsClient{c, i} {
		if r := decode[protocol.SessionEnded](t, w.waitFor(protocol.TypeSessionEnded, 10*time.Second, nil)); r.Reason != protocol.EndedByHost {
			t.Errorf("session-ended reason %q, want %q", r.Reason, protocol.EndedByHost)
		}
		if err := w.closed(10 * time.Second); err == nil {
			t.Error("connection still open after session-ended")
		}
	}
	// Nothing a candidate's connection received carried the notes.
	c.mu.Lock()
	for _, e := range c.got {
		if strings.Contains(string(e.Payload), "strong start") {
			t.Errorf("the candidate received the notes in %s %s", e.Type, e.Payload)
		}
	}
	c.mu.Unlock()

	// Readable, not joinable, not even over the WebSocket.
	var cur protocol.CurrentCode
	if code := rest(t, "GET", api+"/api/sessions/"+sess.ID+"/code", cand.Token, nil, &cur); code != http.StatusOK || cur.Code != "x := 2\n" || cur.Version != 2 {
		t.Fatalf("code after end: %d %+v", code, cur)
	}
	var notes protocol.CurrentNotes
	if code := rest(t, "GET", api+"/api/sessions/"+sess.ID+"/notes", sess.HostKey, nil, &notes); code != http.StatusOK || notes.Notes != "strong start" {
		t.Fatalf("notes after end: %d %+v", code, notes)
	}
	if code := rest(t, "GET", api+"/api/sessions/"+sess.ID+"/notes", cand.Token, nil, nil); code != http.StatusForbidden {
		t.Fatalf("the candidate read the notes: %d", code)
	}
	var h protocol.History
	if code := rest(t, "GET", api+"/api/sessions/"+sess.ID+"/history", iv.Token, nil, &h); code != http.StatusOK || len(h.Updates) != 2 ||
		h.Updates[1].UserID != "cara" || h.Updates[1].UserName != "User cara" || h.Updates[1].Role != protocol.RoleCandidate {
		t.Fatalf("history after end: %d %+v", code, h)
	}
	if _, code := join("dan", "", ""); code != http.StatusConflict {
		t.Fatalf("join after end: %d, want 409", code)
	}
	q := url.Values{"sessionId": {sess.ID}, "token": {cand.Token}}
	if _, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(l.rt1.Base(), "http")+"/ws?"+q.Encode(), nil); err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("a handshake after end: %v %v, want 409", resp, err)
	}

	// Kept past the idle timeout (the janitor sweeps every 250 ms), purged
	// once the retention has passed, never before.
	for {
		var got protocol.Session
		code := rest(t, "GET", api+"/api/sessions/"+sess.ID, "", nil, &got)
		now := time.Now()
		if code == http.StatusNotFound {
			if now.Before(ended.EndedAt.Add(retention)) {
				t.Fatalf("purged %s after the end, before SESSION_RETENTION (%s)", now.Sub(*ended.EndedAt), retention)
			}
			break
		}
		if code != http.StatusOK || got.Status != protocol.StatusEnded {
			t.Fatalf("GET while retained: %d %+v", code, got)
		}
		if now.After(ended.EndedAt.Add(retention + 20*time.Second)) {
			t.Fatalf("not purged %s after the end (SESSION_RETENTION %s)", now.Sub(*ended.EndedAt), retention)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := rest(t, "GET", api+"/api/sessions/"+sess.ID+"/code", sess.HostKey, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("code after the purge: %d, want 401 (the host key matches nothing any more)", code)
	}
}
