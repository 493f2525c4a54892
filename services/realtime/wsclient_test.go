package realtime_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// wsClient is a real WebSocket client speaking either framing: plain (one
// envelope per text frame) or raw Engine.IO/Socket.IO frames, answering
// pings like socket.io-client does.
type wsClient struct {
	t    testing.TB
	sio  bool
	ws   *websocket.Conn
	wmu  sync.Mutex
	pong bool // answer Engine.IO pings

	mu       sync.Mutex
	events   []protocol.Envelope
	frames   []string // every Socket.IO frame other than ping
	raw      []string // every frame, as it came
	next     int
	notify   chan struct{}
	done     chan struct{}
	closeErr error
}

// connectPlain opens GET /ws as u and starts reading.
func connectPlain(t testing.TB, base string, u user) *wsClient {
	t.Helper()
	c, resp, err := tryPlain(t, base, u)
	if err != nil {
		t.Fatalf("dial /ws as %s: %v (%s)", u.id, err, body(resp))
	}
	return c
}

func tryPlain(t testing.TB, base string, u user) (*wsClient, *http.Response, error) {
	t.Helper()
	ws, resp, err := dialRaw(t, base+"/ws?"+u.values().Encode(), u.header)
	if err != nil {
		return nil, resp, err
	}
	c := newWSClient(t, ws, false)
	go c.read()
	return c, resp, nil
}

// connectSIO opens GET /socket.io/ as u, sends CONNECT with auth and waits
// for the answer; refused reports the CONNECT_ERROR's data instead.
func connectSIO(t testing.TB, base string, u user, auth map[string]any) (c *wsClient, refused *protocol.ErrorPayload) {
	t.Helper()
	q := u.values()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	ws, resp, err := dialRaw(t, base+"/socket.io/?"+q.Encode(), u.header)
	if err != nil {
		t.Fatalf("dial /socket.io/ as %s: %v (%s)", u.id, err, body(resp))
	}
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	_, open, err := ws.ReadMessage()
	if err != nil || !strings.HasPrefix(string(open), "0{") {
		t.Fatalf("engine.io open packet: %q, %v", open, err)
	}
	var hs struct {
		PingInterval int `json:"pingInterval"`
		PingTimeout  int `json:"pingTimeout"`
	}
	if err := json.Unmarshal(open[1:], &hs); err != nil || hs.PingInterval <= 0 || hs.PingTimeout <= 0 {
		t.Fatalf("open packet %s: %v", open, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	c = newWSClient(t, ws, true)
	connect := "40"
	if auth != nil {
		b, _ := json.Marshal(auth)
		connect += string(b)
	}
	c.sendRaw(t, connect)
	go c.read()
	f := c.waitFrame(t, func(f string) bool { return strings.HasPrefix(f, "40") || strings.HasPrefix(f, "44") })
	if strings.HasPrefix(f, "44") {
		var ce struct {
			Message string                `json:"message"`
			Data    protocol.ErrorPayload `json:"data"`
		}
		if err := json.Unmarshal([]byte(f[2:]), &ce); err != nil {
			t.Fatalf("CONNECT_ERROR %s: %v", f, err)
		}
		return c, &ce.Data
	}
	return c, nil
}

func newWSClient(t testing.TB, ws *websocket.Conn, sio bool) *wsClient {
	c := &wsClient{t: t, sio: sio, ws: ws, pong: true, notify: make(chan struct{}, 1), done: make(chan struct{})}
	t.Cleanup(func() {
		_ = ws.Close()
		<-c.done
	})
	return c
}

func body(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(b)
}

// read records everything the server sends until the connection ends.
func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.closeErr = err
			c.mu.Unlock()
			c.wake()
			return
		}
		c.mu.Lock()
		c.raw = append(c.raw, string(data))
		if c.sio {
			c.readSIO(string(data))
		} else {
			var e protocol.Envelope
			if json.Unmarshal(data, &e) == nil {
				c.events = append(c.events, e)
			}
		}
		c.mu.Unlock()
		c.wake()
	}
}

// readSIO handles one Socket.IO frame; c.mu is held.
func (c *wsClient) readSIO(f string) {
	if f == "2" {
		if c.pong {
			go func() { _ = c.write("3") }()
		}
		return
	}
	c.frames = append(c.frames, f)
	if !strings.HasPrefix(f, "42[") {
		return
	}
	var args []json.RawMessage
	if json.Unmarshal([]byte(f[2:]), &args) != nil || len(args) < 2 {
		return
	}
	var name string
	var e protocol.Envelope
	if json.Unmarshal(args[0], &name) == nil && json.Unmarshal(args[1], &e) == nil {
		if e.Type != name {
			e.Type = "MISMATCH:" + name + "/" + e.Type
		}
		c.events = append(c.events, e)
	}
}

func (c *wsClient) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *wsClient) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(waitTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *wsClient) sendRaw(t testing.TB, s string) {
	t.Helper()
	if err := c.write(s); err != nil {
		t.Fatalf("send %.80s: %v", s, err)
	}
}

// send sends an event; for Socket.IO the envelope is the one argument.
func (c *wsClient) send(t testing.TB, typ string, payload any) {
	t.Helper()
	c.sendEnv(t, map[string]any{"type": typ, "payload": payload})
}

func (c *wsClient) sendEnv(t testing.TB, env map[string]any) {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.sio {
		name, _ := json.Marshal(env["type"])
		c.sendRaw(t, "42["+string(name)+","+string(b)+"]")
		return
	}
	c.sendRaw(t, string(b))
}

// unread consumes and returns every event not consumed yet.
func (c *wsClient) unread() []protocol.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	events := c.events[c.next:]
	c.next = len(c.events)
	return events
}

// await consumes events up to the first match.
func (c *wsClient) await(t testing.TB, what string, match func(protocol.Envelope) bool) protocol.Envelope {
	t.Helper()
	return c.awaitWithin(t, waitTimeout, what, match)
}

// awaitWithin is await with its own bound, for an event that comes after
// a chain of timers (an expiry) that a busy machine stretches.
func (c *wsClient) awaitWithin(t testing.TB, d time.Duration, what string, match func(protocol.Envelope) bool) protocol.Envelope {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for c.next < len(c.events) {
			e := c.events[c.next]
			c.next++
			if match(e) {
				c.mu.Unlock()
				return e
			}
		}
		closed := c.closeErr
		c.mu.Unlock()
		if closed != nil {
			t.Fatalf("waiting for %s: connection closed (%v); events: %s", what, closed, c.dump())
		}
		select {
		case <-c.notify:
		case <-deadline.C:
			t.Fatalf("no %s within %v; events: %s", what, d, c.dump())
		}
	}
}

// waitFor skips events until one of type typ.
func (c *wsClient) waitFor(t testing.TB, typ string) protocol.Envelope {
	t.Helper()
	return c.await(t, typ, func(e protocol.Envelope) bool { return e.Type == typ })
}

// nextOf returns the next event whose type is one of types, skipping the rest.
func (c *wsClient) nextOf(t testing.TB, types ...string) protocol.Envelope {
	t.Helper()
	return c.await(t, strings.Join(types, "|"), func(e protocol.Envelope) bool {
		for _, ty := range types {
			if e.Type == ty {
				return true
			}
		}
		return false
	})
}

// waitError waits for the next error event and returns its payload.
func (c *wsClient) waitError(t testing.TB) protocol.ErrorPayload {
	t.Helper()
	return decode[protocol.ErrorPayload](t, c.waitFor(t, protocol.TypeError).Payload)
}

// quiet asserts that no event of type typ arrives for d (nothing consumed).
func (c *wsClient) quiet(t testing.TB, typ string, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.events[c.next:] {
		if e.Type == typ {
			t.Fatalf("unexpected %s: %s", typ, e.Payload)
		}
	}
}

// count returns how many events of type typ arrived so far.
func (c *wsClient) count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// find returns the first event of type typ received so far, consumed or not.
func (c *wsClient) find(typ string) (protocol.Envelope, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.events {
		if e.Type == typ {
			return e, true
		}
	}
	return protocol.Envelope{}, false
}

// last returns the newest event of type typ received so far.
func (c *wsClient) last(typ string) (protocol.Envelope, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.events) - 1; i >= 0; i-- {
		if c.events[i].Type == typ {
			return c.events[i], true
		}
	}
	return protocol.Envelope{}, false
}

// rawFrames returns a copy of every frame received so far.
func (c *wsClient) rawFrames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.raw...)
}

// waitFrame waits for a raw Socket.IO frame matching match.
func (c *wsClient) waitFrame(t testing.TB, match func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	seen := 0
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for ; seen < len(c.frames); seen++ {
			if match(c.frames[seen]) {
				f := c.frames[seen]
				c.mu.Unlock()
				return f
			}
		}
		closed := c.closeErr
		c.mu.Unlock()
		if closed != nil {
			t.Fatalf("connection closed (%v) before the expected frame; frames: %q", closed, c.frames)
		}
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("expected frame not seen; frames: %q", c.frames)
	return ""
}

// waitClosed waits for the server to end the connection and returns why.
func (c *wsClient) waitClosed(t testing.TB) error {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(waitTimeout):
		t.Fatalf("connection still open; events: %s", c.dump())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// closeCode returns the close code the server sent, or -1.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// leave closes the connection from the client side with code.
func (c *wsClient) leave(code int) {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	_ = c.ws.Close()
}

func (c *wsClient) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for i, e := range c.events {
		mark := " "
		if i == c.next {
			mark = ">"
		}
		b.WriteString("\n" + mark + " " + e.Type + " " + string(e.Payload))
		if b.Len() > 20000 {
			b.WriteString("\n…")
			break
		}
	}
	return b.String()
}
