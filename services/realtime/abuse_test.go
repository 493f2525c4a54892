package realtime_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/token"
)

// TestFlood: in session A clients flood as fast as their sockets allow
// (code-updates, cursor-updates, garbage), reconnecting whenever they are
// cut off, while in session B two clients take turns editing. B's edits
// all arrive, in order, while the flood goes on; the flooders get
// RATE_LIMIT_EXCEEDED and are cut off; nobody else gets an error or loses
// the connection, not even a silent client in the flooders' own session.
func TestFlood(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	// A long keepalive: on a busy machine the flooders can starve the test
	// clients' pongs for longer than the tests' usual 3 s presence timeout.
	inst := cl.start(instanceOpts{env: map[string]string{"SESSION_MAX_USERS": "10", "PRESENCE_TIMEOUT": "30s"}})
	sidA, sidB := cl.newSession(protocol.LangPython).ID, cl.newSession(protocol.LangPython).ID

	// A plain client that never sends anything stays: presence is kept by
	// WebSocket keepalives, not by traffic.
	silent := connectPlain(t, inst.url, user{sid: sidA, id: "silent", name: "Silent"})
	silent.waitFor(t, protocol.TypeConnected)
	b1 := connectPlain(t, inst.url, user{sid: sidB, id: "b1", name: "B1"})
	b2, refused := connectSIO(t, inst.url, user{sid: sidB, id: "b2", name: "B2"}, nil)
	if refused != nil {
		t.Fatal(refused)
	}
	waitUsers(t, b1, "b1", "b2")
	waitUsers(t, b2, "b1", "b2")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var flooders []*wsClient
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			c, _, err := tryPlain(t, inst.url, user{sid: sidA, id: "flooder", name: "Flooder"})
			if err != nil {
				return // the test is ending
			}
			mu.Lock()
			flooders = append(flooders, c)
			mu.Unlock()
			flood(c, n, stop)
		}
	}()

	// B takes turns: each edit appends one character; the other side must
	// see it. B is paced well under its own limits (one edit per 40 ms, so
	// each sender 12.5 code-updates a second against 50) and goes on until
	// the flooder has been cut off at least once: the edits are checked
	// during the flood however fast or slow this machine is. Latency, from
	// the send to the other side's code-update, is logged, not asserted.
	var lat []time.Duration
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	const minEdits, maxEdits = 30, 1000 // 1000 edits: 40 s, far past the cut-off
	text := ""
	v := int64(0)
	for ; v < minEdits || counter(t, inst.reg, "pairpad_realtime_flood_disconnects_total") < 1; v++ {
		if v == maxEdits {
			t.Fatalf("the flooder was not cut off during %d edits of session B", v)
		}
		<-tick.C
		from, to := b1, b2
		if v%2 == 1 {
			from, to = b2, b1
		}
		text += string(rune('a' + v%26))
		sent := time.Now()
		from.send(t, protocol.TypeCodeUpdate, fullCode(text, v, fmt.Sprintf("b%d", v)))
		u := decode[codeUpdateOut](t, to.waitFor(t, protocol.TypeCodeUpdate).Payload)
		lat = append(lat, time.Since(sent))
		if u.Version != v+1 || u.Delta.FullCode == nil || *u.Delta.FullCode != text {
			t.Fatalf("edit %d arrived as %+v", v+1, u)
		}
		if a := decode[protocol.CodeAck](t, from.waitFor(t, protocol.TypeCodeAck).Payload); a.Version != v+1 {
			t.Fatalf("ack %+v, want version %d", a, v+1)
		}
	}
	close(stop)
	wg.Wait()

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, worst := lat[len(lat)/2], lat[len(lat)-1]
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d edits in session B during the flood: p50 %v, max %v", len(lat), p50, worst)

	// The flooders were refused; those that kept on were cut off.
	limited := 0
	for _, f := range flooders {
		f.waitClosed(t)
		f.mu.Lock()
		for _, e := range f.events {
			if e.Type != protocol.TypeError {
				continue
			}
			p := decode[protocol.ErrorPayload](t, e.Payload)
			if p.Error != protocol.CodeRateLimited {
				continue // garbage and unknown types within the budget get INVALID_PAYLOAD
			}
			if p.Details["limit"] == "connection" {
				limited++
			}
		}
		f.mu.Unlock()
	}
	cuts := counter(t, inst.reg, "pairpad_realtime_flood_disconnects_total")
	t.Logf("%d flooder connections, %v cut off for flooding, %d connection-budget refusals", len(flooders), cuts, limited)
	if limited == 0 {
		t.Fatal("no flooder was refused for its connection budget")
	}

	// The flooders are gone for the others too. Waited for before the
	// syncs below: those consume the client's events, the presence-update
	// that says so among them.
	waitUsers(t, silent, "silent")

	// Nobody else was refused or cut off.
	for name, c := range map[string]*wsClient{"b1": b1, "b2": b2, "silent": silent} {
		if n := c.count(protocol.TypeError); n != 0 {
			t.Errorf("%s got %d errors: %s", name, n, c.dump())
		}
		c.send(t, protocol.TypeSync, nil)
		if s := decode[protocol.Sync](t, c.waitFor(t, protocol.TypeSync).Payload); name != "silent" && s.Code != text {
			t.Fatalf("%s: sync %q, want %q", name, s.Code, text)
		}
	}
}

// flood writes to c as fast as the socket takes it until the server cuts
// it off or stop closes: code-updates, cursor-updates and garbage.
func flood(c *wsClient, n int, stop <-chan struct{}) {
	frames := []string{
		`{"type":"cursor-update","payload":{"position":{"line":1,"column":2}}}`,
		`{not json at all`,
		`{"type":"teleport"}`,
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			_ = c.ws.Close()
			return
		case <-c.done:
			return
		default:
		}
		f := frames[i%len(frames)]
		if i%2 == 0 {
			f = fmt.Sprintf(`{"type":"code-update","payload":{"delta":{"ops":["x"]},"version":0,"opId":"f%d-%d"}}`, n, i)
		}
		if c.write(f) != nil {
			return
		}
	}
}

// TestFloodDisconnect: the connection budget, exactly, on a frozen clock
// (buckets never refill): WS_EVENTS_PER_SECOND frames pass, the next
// floodTolerance (20) seconds' worth are refused with RATE_LIMIT_EXCEEDED,
// naming the refused event, and the next one ends the connection with a
// last error and 1008. sync counts like any event; so does a garbage frame.
func TestFloodDisconnect(t *testing.T) {
	t.Parallel()
	forReaders(t, func(t *testing.T, reader string) {
		cl := newCluster(t)
		clk := &clock{t: time.Now()}
		// A long keepalive: Engine.IO pongs are frames too, and would spend the budget.
		inst := cl.start(instanceOpts{now: clk.now, env: map[string]string{"WS_EVENTS_PER_SECOND": "5", "PRESENCE_TIMEOUT": "30s", "WS_READER": reader}})
		sid := cl.newSession(protocol.LangPython).ID
		other := connectPlain(t, inst.url, user{sid: sid, id: "other", name: "Other"})
		for _, sioClient := range []bool{false, true} {
			t.Run(fmt.Sprintf("socket.io=%v", sioClient), func(t *testing.T) {
				u := user{sid: sid, id: "spammer", name: "Spammer"}
				var c *wsClient
				if sioClient {
					var refused *protocol.ErrorPayload
					if c, refused = connectSIO(t, inst.url, u, nil); refused != nil {
						t.Fatal(refused)
					}
				} else {
					c = connectPlain(t, inst.url, u)
				}
				c.waitFor(t, protocol.TypeConnected)
				const budget, strikes = 5, 20 * 5
				for i := 0; i < budget+strikes+1; i++ {
					switch {
					case i == budget:
						c.sendRaw(t, map[bool]string{false: "{garbage", true: "42garbage"}[sioClient])
					case i == budget+1:
						c.send(t, protocol.TypeCodeUpdate, fullCode("x", 0, "refused-op"))
					default:
						c.send(t, protocol.TypeSync, nil)
					}
				}
				var refusals []protocol.ErrorPayload
				for len(refusals) < strikes+1 {
					refusals = append(refusals, c.waitError(t))
				}
				for i, e := range refusals[:strikes] {
					if e.Error != protocol.CodeRateLimited || e.Details["limit"] != "connection" || e.Details["disconnect"] != nil {
						t.Fatalf("refusal %d: %+v", i, e)
					}
				}
				if d := refusals[1].Details; d["type"] != protocol.TypeCodeUpdate || d["opId"] != "refused-op" {
					t.Fatalf("the refused code-update is not named: %+v", d)
				}
				last := refusals[strikes]
				if last.Error != protocol.CodeRateLimited || last.Details["disconnect"] != true {
					t.Fatalf("last error %+v", last)
				}
				closed := c.waitClosed(t)
				if sioClient {
					// DISCONNECT first: socket.io-client does not reconnect in a loop.
					c.waitFrame(t, func(f string) bool { return f == "41" })
				}
				if code := closeCode(closed); code != websocket.ClosePolicyViolation {
					t.Fatalf("closed with %d (%v), want 1008", code, closed)
				}
				if n := c.count(protocol.TypeSync); n != budget {
					t.Fatalf("%d syncs answered, want %d", n, budget)
				}
				e := other.waitFor(t, protocol.TypeUserLeft)
				if l := decode[protocol.UserLeft](t, e.Payload); e.UserID != "spammer" || l.Reason != protocol.LeftDisconnect {
					t.Fatalf("user-left %s %+v", e.UserID, l)
				}
				if c.count(protocol.TypeCodeAck) != 0 {
					t.Fatal("a refused code-update was applied")
				}
			})
		}
		other.send(t, protocol.TypeSync, nil)
		if s := decode[protocol.Sync](t, other.waitFor(t, protocol.TypeSync).Payload); s.Version != 0 {
			t.Fatalf("the document moved: %+v", s)
		}
	})
}

// TestConnectionsPerIP: WS_MAX_CONNECTIONS_PER_IP counts per client address:
// the one the socket comes from, or with TRUST_PROXY the first
// X-Forwarded-For address (normalised: ::ffff:203.0.113.7 is 203.0.113.7;
// garbage is no address).
// One address over the limit is refused (429, the protocol's body,
// Retry-After) on both endpoints while another address still gets in, and
// a closed connection gives its slot back.
func TestConnectionsPerIP(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	sid := cl.newSession(protocol.LangPython).ID
	from := func(id, ip string) user {
		return user{sid: sid, id: id, name: id, header: http.Header{"X-Forwarded-For": {ip + ", 10.0.0.1"}}}
	}

	proxied := cl.start(instanceOpts{env: map[string]string{"TRUST_PROXY": "true", "WS_MAX_CONNECTIONS_PER_IP": "2"}})
	first := connectPlain(t, proxied.url, from("a", "203.0.113.7"))
	first.waitFor(t, protocol.TypeConnected)
	connectPlain(t, proxied.url, from("a", "::ffff:203.0.113.7")).waitFor(t, protocol.TypeConnected)
	checkTooMany(t, proxied.url, from("a", "203.0.113.7"))
	if _, refused := connectSIOStatus(t, proxied.url, from("a", "203.0.113.7")); refused != http.StatusTooManyRequests {
		t.Fatalf("socket.io upgrade over the limit: %d", refused)
	}
	connectPlain(t, proxied.url, from("b", "198.51.100.9")).waitFor(t, protocol.TypeConnected)
	first.leave(websocket.CloseNormalClosure)
	within(t, waitTimeout, "the slot to be given back", func() bool {
		c, _, err := tryPlain(t, proxied.url, from("a", "203.0.113.7"))
		if err != nil {
			return false
		}
		c.waitFor(t, protocol.TypeConnected)
		return true
	})

	// A first address that does not parse is no address: the socket's counts,
	// so made-up values do not each get a fresh allowance.
	connectPlain(t, proxied.url, from("c", "not-an-ip")).waitFor(t, protocol.TypeConnected)
	connectPlain(t, proxied.url, from("c", "still-not-one")).waitFor(t, protocol.TypeConnected)
	checkTooMany(t, proxied.url, from("c", "nor-this"))

	// Without TRUST_PROXY the header is the client's word: it counts nothing.
	direct := cl.start(instanceOpts{env: map[string]string{"WS_MAX_CONNECTIONS_PER_IP": "2"}})
	connectPlain(t, direct.url, from("a", "192.0.2.1")).waitFor(t, protocol.TypeConnected)
	connectPlain(t, direct.url, from("a", "192.0.2.2")).waitFor(t, protocol.TypeConnected)
	checkTooMany(t, direct.url, from("a", "192.0.2.3"))
}

// checkTooMany: u's handshake is refused with 429 TOO_MANY_CONNECTIONS.
func checkTooMany(t *testing.T, base string, u user) {
	t.Helper()
	_, resp, err := tryPlain(t, base, u)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the per-IP limit: %v %s", err, body(resp))
	}
	if b := decode[protocol.ErrorBody](t, readAll(t, resp)); b.Error != protocol.CodeTooManyConnections || b.StatusCode != 429 || b.Message == "" {
		t.Fatalf("body %+v", b)
	}
}

// connectSIOStatus dials the Socket.IO endpoint and returns the HTTP status
// of a refused upgrade (0 when it was accepted).
func connectSIOStatus(t *testing.T, base string, u user) (*websocket.Conn, int) {
	t.Helper()
	q := u.values()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	ws, resp, err := dialRaw(t, base+"/socket.io/?"+q.Encode(), u.header)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
		return ws, 0
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return nil, resp.StatusCode
}

// TestTokenRefusals: every bad token (forged, expired, another session,
// another user, garbage) is refused at the handshake with UNAUTHORIZED and
// one message, on both framings, so a refusal says nothing about which
// part of a guessed token was right; no log line of the instance carries
// TOKEN_SECRET or a token.
func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	sid, otherSID := cl.newSession(protocol.LangPython).ID, cl.newSession(protocol.LangPython).ID
	sign := func(secret, sid, uid string, exp time.Duration) string {
		return token.Sign([]byte(secret), token.Claims{SessionID: sid, UserID: uid, UserName: uid, Expiry: time.Now().Add(exp).Unix()})
	}
	good := sign(testSecret, sid, "u", time.Hour)
	bad := map[string]struct {
		tok    string
		userID string
	}{
		"forged":           {sign("guessed secret", sid, "u", time.Hour), ""},
		"expired":          {sign(testSecret, sid, "u", -time.Second), ""},
		"another session":  {sign(testSecret, otherSID, "u", time.Hour), ""},
		"another user":     {good, "mallory"},
		"altered payload":  {alter(good), ""},
		"not a token":      {"v1.x.y", ""},
		"signature of old": {good[:strings.LastIndexByte(good, '.')] + "." + strings.Repeat("A", 43), ""},
	}
	var message string
	var tokens []string
	for name, tc := range bad {
		tokens = append(tokens, tc.tok)
		u := user{sid: sid, id: tc.userID, noToken: true, query: url.Values{"token": {tc.tok}}}
		_, resp, err := tryPlain(t, inst.url, u)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %v %s", name, err, body(resp))
		}
		b := decode[protocol.ErrorBody](t, readAll(t, resp))
		if b.Error != protocol.CodeUnauthorized || b.Details != nil {
			t.Fatalf("%s: body %+v", name, b)
		}
		if message == "" {
			message = b.Message
		}
		if b.Message != message {
			t.Fatalf("%s is refused with %q, another bad token with %q: the refusal tells them apart", name, b.Message, message)
		}
		c, refused := connectSIO(t, inst.url, user{noToken: true}, map[string]any{"sessionId": sid, "userId": tc.userID, "token": tc.tok})
		if refused == nil || refused.Error != protocol.CodeUnauthorized || refused.Message != message {
			t.Fatalf("%s over socket.io: %+v", name, refused)
		}
		c.waitClosed(t)
	}
	// The right token opens its own session, as its own user, only.
	c := connectPlain(t, inst.url, user{sid: sid, noToken: true, query: url.Values{"token": {good}}})
	if got := decode[protocol.Connected](t, c.waitFor(t, protocol.TypeConnected).Payload); got.UserID != "u" || got.SessionID != sid {
		t.Fatalf("connected %+v", got)
	}
	inst.stop(t)
	logs := inst.logs.String()
	for _, secret := range append(tokens, testSecret, good) {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log contains %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"msg":"connected"`) {
		t.Fatalf("the log is not the one expected (no connected line):\n%s", logs)
	}
}

// alter changes one character of a token's claims, keeping its signature.
func alter(tok string) string {
	parts := strings.Split(tok, ".")
	b := []byte(parts[1])
	if b[2] == 'A' {
		b[2] = 'B'
	} else {
		b[2] = 'A'
	}
	return parts[0] + "." + string(b) + "." + parts[2]
}

// TestSocketIOHandshakeDeadline: WS_HANDSHAKE_TIMEOUT is a deadline, not an
// idle timeout: a Socket.IO client that keeps its socket busy with
// everything but a CONNECT to the main namespace (pongs, noops, garbage,
// CONNECTs to other namespaces) is still refused and closed when it passes.
func TestSocketIOHandshakeDeadline(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start(instanceOpts{env: map[string]string{"WS_HANDSHAKE_TIMEOUT": "500ms"}})
	q := user{sid: cl.newSession(protocol.LangPython).ID, id: "busy", name: "Busy"}.values()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	ws, _, err := dialRaw(t, inst.url+"/socket.io/?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			f := []string{"3", "6", "4garbage", "40/admin,", "2"}[i%5]
			if ws.WriteMessage(websocket.TextMessage, []byte(f)) != nil {
				return
			}
		}
	}()
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	var last string
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if code := closeCode(err); code != websocket.CloseNormalClosure || !strings.HasPrefix(last, "44{") {
				t.Fatalf("ended with %v after %q", err, last)
			}
			break
		}
		last = string(data)
	}
	t.Logf("refused and closed %v after the upgrade", time.Since(start))
}
