package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// trySend is send for a goroutine other than the test's: it returns the error.
func (c *wsClient) trySend(typ string, payload any) error {
	raw, _ := json.Marshal(payload)
	b, _ := json.Marshal(protocol.Envelope{Type: typ, Payload: raw, Timestamp: time.Now().UnixMilli()})
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

// tryMatch returns the next envelope that satisfies match, in order, or an
// error when none comes within timeout or the connection ends; unlike
// waitMatch it may run on a goroutine other than the test's.
func (c *wsClient) tryMatch(timeout time.Duration, match func(protocol.Envelope) bool) (protocol.Envelope, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for ; c.seen < len(c.got); c.seen++ {
			if e := c.got[c.seen]; match(e) {
				c.seen++
				return e, nil
			}
		}
		if c.err != nil {
			return protocol.Envelope{}, c.err
		}
		if time.Now().After(deadline) {
			return protocol.Envelope{}, fmt.Errorf("nothing within %s", timeout)
		}
		c.cond.Wait()
	}
}

// dialRetrying connects as the reference client does: a handshake
// answered 503 SERVICE_UNAVAILABLE with Retry-After is tried again after
// it, for up to two minutes; any other refusal fails the test.
func dialRetrying(t *testing.T, apiBase, rtBase, sessionID, userID string) (*wsClient, int) {
	t.Helper()
	join := joinSession(t, apiBase, sessionID, userID)
	q := url.Values{"sessionId": {sessionID}, "userId": {userID}, "userName": {"User " + userID}, "token": {join.Token}}
	u := "ws" + strings.TrimPrefix(rtBase, "http") + "/ws?" + q.Encode()
	deadline := time.Now().Add(2 * time.Minute)
	for retries := 0; ; retries++ {
		conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
		if err == nil {
			c := &wsClient{t: t, conn: conn, done: make(chan struct{})}
			c.cond = sync.NewCond(&c.mu)
			go c.read()
			t.Cleanup(c.Close)
			return c, retries
		}
		if resp == nil {
			t.Fatalf("dial %s: %v", u, err)
		}
		var body protocol.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusServiceUnavailable || body.Error != protocol.CodeServiceUnavailable || wait < 1 {
			t.Fatalf("dial %s: %v: status %d, Retry-After %q, body %+v", u, err, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: still %d %+v after %d retries", u, resp.StatusCode, body, retries)
		}
		time.Sleep(time.Duration(wait) * time.Second)
	}
}

// quietEdits is what the editor of the other session saw.
type quietEdits struct {
	latencies []time.Duration // update sent to code-ack
	errs      []string        // error events and failures
	version   int64           // the last acknowledged version
}

// editQuietly inserts one character at a time into a session of its own,
// one update in flight, until stop is closed, timing each acknowledgement.
func editQuietly(c *wsClient, stop <-chan struct{}) quietEdits {
	var r quietEdits
	for i := 0; ; i++ {
		select {
		case <-stop:
			return r
		default:
		}
		ops := []any{"x"}
		if i > 0 {
			ops = append(ops, i)
		}
		id := fmt.Sprintf("q-%d", i)
		sent := time.Now()
		if err := c.trySend(protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": ops}, "version": r.version, "opId": id}); err != nil {
			r.errs = append(r.errs, err.Error())
			return r
		}
		env, err := c.tryMatch(30*time.Second, func(e protocol.Envelope) bool {
			if e.Type == protocol.TypeError {
				return true
			}
			var ack protocol.CodeAck
			return e.Type == protocol.TypeCodeAck && json.Unmarshal(e.Payload, &ack) == nil && ack.OpID == id
		})
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("update %s: %v", id, err))
			return r
		}
		if env.Type == protocol.TypeError {
			r.errs = append(r.errs, fmt.Sprintf("update %s: error %s", id, env.Payload))
			return r
		}
		var ack protocol.CodeAck
		_ = json.Unmarshal(env.Payload, &ack)
		r.latencies = append(r.latencies, time.Since(sent))
		r.version = ack.Version
		time.Sleep(20 * time.Millisecond)
	}
}

// A session whose op log holds 300 updates of 250 KiB (73 MiB, more than
// nats-server's 64 MiB pending limit for one client) is loaded, paged
// through by history and sent an ops update based 295 versions back, while
// another session on the same realtime instance keeps editing: neither the
// realtime nor the api connection to NATS is cut as a slow consumer, and
// the other session's edits are all acknowledged. Their latency is logged.
func TestHeavyLogKeepsServicesConnected(t *testing.T) {
	srv := natstest.Start(t)
	env := map[string]string{"NATS_URL": srv.ClientURL(), "TOKEN_SECRET": "e2e-secret", "ADMIN_TOKEN": "e2e-admin",
		"RATE_LIMIT_DEFAULT": "1000/1m"}
	api, rt := startProc(t, "api", env), startProc(t, "realtime", env)
	heavy, quiet := createSession(t, api.Base()), createSession(t, api.Base())

	// The heavy log, written straight to the stream as realtime would:
	// version 1 inserts 250 KiB, each next one replaces the whole text.
	const n, size = 300, 250 << 10
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	text := func(v int) string { return strings.Repeat(string(rune('a'+v%26)), size) }
	var seq uint64
	for v := 1; v <= n; v++ {
		op := ot.Op{ot.Insert(text(v))}
		if v > 1 {
			op = append(op, ot.Delete(size))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		seq, err = oplog.Append(ctx, js, heavy.ID, oplog.Entry{Version: int64(v), UserID: "writer", Timestamp: int64(v), Ops: op}, seq)
		cancel()
		if err != nil {
			t.Fatalf("append %d: %v", v, err)
		}
	}

	qa := dialWS(t, api.Base(), rt.Base(), quiet.ID, "alice", nil)
	qb := dialWS(t, api.Base(), rt.Base(), quiet.ID, "bob", nil)
	qa.waitFor(protocol.TypeConnected, 10*time.Second, nil)
	qb.waitFor(protocol.TypeConnected, 10*time.Second, nil)
	stop, done := make(chan struct{}), make(chan quietEdits)
	go func() { done <- editQuietly(qa, stop) }()
	stopped := false
	stopQuiet := func() quietEdits {
		if !stopped {
			stopped = true
			close(stop)
		}
		return <-done
	}
	t.Cleanup(func() {
		if !stopped {
			stopQuiet()
		}
	})

	// Loading the session reads the whole log from the stream. On a busy
	// machine that can take longer than WS_HANDSHAKE_TIMEOUT: the handshake
	// is then a retryable 503, and the load goes on for the retry.
	h, retries := dialRetrying(t, api.Base(), rt.Base(), heavy.ID, "carol")
	t.Logf("the heavy session's handshake was retried %d times while it loaded", retries)
	c := decode[protocol.Connected](t, h.waitFor(protocol.TypeConnected, 60*time.Second, nil))
	if c.Version != n || c.Code != text(n) {
		t.Fatalf("heavy session loaded at version %d (%d bytes), want %d", c.Version, len(c.Code), n)
	}
	// An ops update based at version 5 is transformed over the 295 after it,
	// most of them read back from the stream.
	h.send(protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": []any{size, "!"}}, "version": 5, "opId": "stale"})
	env5 := h.waitMatch("code-ack of the stale update", 60*time.Second, func(e protocol.Envelope) bool {
		return e.Type == protocol.TypeCodeAck || e.Type == protocol.TypeError
	})
	if ack := decode[protocol.CodeAck](t, env5); env5.Type != protocol.TypeCodeAck || ack.Version != n+1 {
		t.Fatalf("stale update answered %s %s, want code-ack of version %d", env5.Type, env5.Payload, n+1)
	}
	// The history, paged by next.
	var versions []int64
	for from, pages := int64(1), 0; ; pages++ {
		var hist protocol.History
		if code := rest(t, http.MethodGet, fmt.Sprintf("%s/api/sessions/%s/history?from=%d", api.Base(), heavy.ID, from), "e2e-admin", nil, &hist); code != http.StatusOK {
			t.Fatalf("history page %d from %d: status %d", pages, from, code)
		}
		// A page holds up to 1 MiB: four updates of 250 KiB, and the small
		// one of the stale update at the end.
		if len(hist.Updates) == 0 || len(hist.Updates) > 1<<20/size+1 {
			t.Fatalf("history page %d: %d updates, want 1 to %d", pages, len(hist.Updates), 1<<20/size+1)
		}
		for _, u := range hist.Updates {
			versions = append(versions, u.Version)
		}
		if hist.Next == nil {
			break
		}
		from = *hist.Next
	}
	if len(versions) != n+1 || versions[0] != 1 || versions[n] != n+1 {
		t.Fatalf("history: %d updates, want versions 1..%d", len(versions), n+1)
	}

	q := stopQuiet()
	if len(q.errs) > 0 {
		t.Fatalf("the other session's edits failed: %v", q.errs)
	}
	if len(q.latencies) == 0 {
		t.Fatal("the other session made no edit")
	}
	qb.waitFor(protocol.TypeCodeUpdate, 10*time.Second, func(e protocol.Envelope) bool {
		return decode[protocol.CodeUpdate](t, e).Version == q.version
	})
	slices.Sort(q.latencies)
	p := func(f float64) time.Duration {
		return q.latencies[int(f*float64(len(q.latencies)-1))].Round(time.Millisecond)
	}
	t.Logf("the other session: %d edits acknowledged meanwhile, latency p50 %s, p99 %s, max %s",
		len(q.latencies), p(0.5), p(0.99), p(1))

	if sc := srv.NumSlowConsumers(); sc != 0 {
		t.Errorf("nats-server cut %d slow consumers", sc)
	}
	for _, pr := range []*proc{api, rt} {
		for _, bad := range []string{"nats disconnected", "Slow Consumer", "slow consumer"} {
			if strings.Contains(pr.Out.String(), bad) {
				t.Errorf("%s logged %q:\n%s", pr.Name, bad, pr.Out.Tail(4000))
			}
		}
	}
}
