package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// wsClient is a real plain-WebSocket client that records every envelope.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	mu   sync.Mutex
	got  []protocol.Envelope
	seen int // envelopes already consumed by waitFor
	cond *sync.Cond
	done chan struct{}
	err  error
}

// dialWS joins sessionID as userID through the api at apiBase and connects
// to the realtime instance at rtBase.
func dialWS(t *testing.T, apiBase, rtBase, sessionID, userID string, extra url.Values) *wsClient {
	t.Helper()
	join := joinSession(t, apiBase, sessionID, userID)
	return dialToken(t, rtBase, sessionID, userID, join.Token, extra)
}

// dialToken connects to the realtime instance at rtBase with a join token.
func dialToken(t *testing.T, rtBase, sessionID, userID, token string, extra url.Values) *wsClient {
	t.Helper()
	q := url.Values{"sessionId": {sessionID}, "userId": {userID}, "userName": {"User " + userID}, "token": {token}}
	for k, v := range extra {
		q[k] = v
	}
	u := "ws" + strings.TrimPrefix(rtBase, "http") + "/ws?" + q.Encode()
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("dial %s: %v %s", u, err, body)
	}
	c := &wsClient{t: t, conn: conn, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.read()
	t.Cleanup(c.Close)
	return c
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.err = err
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		var env protocol.Envelope
		if json.Unmarshal(data, &env) == nil {
			c.got = append(c.got, env)
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// Close closes the connection and waits for the reader.
func (c *wsClient) Close() {
	_ = c.conn.Close()
	<-c.done
}

// send writes one envelope.
func (c *wsClient) send(typ string, payload any) {
	c.t.Helper()
	raw, _ := json.Marshal(payload)
	b, _ := json.Marshal(protocol.Envelope{Type: typ, Payload: raw, Timestamp: time.Now().UnixMilli()})
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

// waitFor returns the next envelope of type typ that satisfies pred, in order.
func (c *wsClient) waitFor(typ string, timeout time.Duration, pred func(protocol.Envelope) bool) protocol.Envelope {
	c.t.Helper()
	return c.waitMatch(typ, timeout, func(e protocol.Envelope) bool { return e.Type == typ && (pred == nil || pred(e)) })
}

// waitMatch returns the next envelope that satisfies match, in order; it
// fails the test when none comes within timeout or the connection ends.
func (c *wsClient) waitMatch(what string, timeout time.Duration, match func(protocol.Envelope) bool) protocol.Envelope {
	c.t.Helper()
	e, err := c.tryMatch(timeout, match)
	if err != nil {
		c.mu.Lock()
		got := summary(c.got)
		c.mu.Unlock()
		c.t.Fatalf("no %s within %s (%v); got %s", what, timeout, err, got)
	}
	return e
}

// closed waits for the server to close the connection.
func (c *wsClient) closed(timeout time.Duration) error {
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		return fmt.Errorf("still open after %s", timeout)
	}
}

func summary(envs []protocol.Envelope) string {
	var b strings.Builder
	for i, e := range envs {
		if i > 30 {
			b.WriteString(" ...")
			break
		}
		fmt.Fprintf(&b, " %s%s", e.Type, e.Payload)
	}
	return b.String()
}

func decode[T any](t *testing.T, e protocol.Envelope) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.Payload, &v); err != nil {
		t.Fatalf("decode %s payload %s: %v", e.Type, e.Payload, err)
	}
	return v
}

// rest sends a JSON request and decodes a JSON answer into out.
func rest(t *testing.T, method, u, bearer string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func createSession(t *testing.T, apiBase string) protocol.Session {
	t.Helper()
	var s protocol.Session
	if code := rest(t, "POST", apiBase+"/api/sessions", "", map[string]string{"language": "python"}, &s); code != http.StatusCreated {
		t.Fatalf("create session: %d", code)
	}
	return s
}

// joinSession joins through the api, retrying 503 (NATS unavailable: the
// api says Retry-After) as a client would, for up to 30 s.
func joinSession(t *testing.T, apiBase, sessionID, userID string) protocol.JoinResponse {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var j protocol.JoinResponse
		code := rest(t, "POST", apiBase+"/api/sessions/"+sessionID+"/join", "", map[string]string{"userId": userID, "userName": "User " + userID}, &j)
		if code == http.StatusOK {
			return j
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("join %s: %d", sessionID, code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
