package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The connection's own framing against gorilla's server side, over real
// loopback TCP.

// wsServer serves WebSocket upgrades with gorilla, handing each connection
// to serve, until the test ends; it returns the ws:// base URL.
func wsServer(t testing.TB, up websocket.Upgrader, serve func(*websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		serve(ws)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// connectedFrame is the plain framing's connected event.
const connectedFrame = `{"type":"connected","sessionId":"s","payload":{"code":"","version":0}}`

// dialPlain dials base in the plain framing and runs the connection,
// sending what it receives to the returned channel.
func dialPlain(t *testing.T, base string) (*Conn, chan Event) {
	t.Helper()
	return dialRun(t, NewDialer(nil, 10*time.Second), base, "u")
}

// dialRun dials base in the plain framing with d and runs the connection,
// sending what it receives to the returned channel.
func dialRun(t *testing.T, d *Dialer, base, user string) (*Conn, chan Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, ev, err := Dial(ctx, d, NewClock(), ConnConfig{URL: base, Framing: FramingPlain, SessionID: "s", UserID: user})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "connected" {
		t.Fatalf("handshake gave %q", ev.Type)
	}
	events := make(chan Event, 1024)
	c.Run(func(e Event) { events <- e })
	t.Cleanup(c.Close)
	return c, events
}

func expectEvent(t *testing.T, events chan Event, typ string) Event {
	t.Helper()
	select {
	case e := <-events:
		if e.Type != typ {
			t.Fatalf("event %q, want %q", e.Type, typ)
		}
		return e
	case <-time.After(20 * time.Second):
		t.Fatalf("no %q event", typ)
	}
	return Event{}
}

// TestConnFirstFramesAndBigSync: frames the server writes right after its
// upgrade answer (read together with it) are not lost, and a sync of a
// megabyte, which gorilla writes as many continuation frames, arrives whole.
func TestConnFirstFramesAndBigSync(t *testing.T) {
	code := strings.Repeat("x", 1<<20)
	sync, _ := json.Marshal(map[string]any{"type": "sync", "payload": map[string]any{"code": code, "version": 7}})
	base := wsServer(t, websocket.Upgrader{WriteBufferSize: 1024}, func(ws *websocket.Conn) {
		for _, m := range []string{connectedFrame, `{"type":"presence-update","payload":{}}`, `{"type":"user-joined","payload":{}}`, string(sync)} {
			if ws.WriteMessage(websocket.TextMessage, []byte(m)) != nil {
				return
			}
		}
		_, _, _ = ws.ReadMessage() // until the client closes
	})
	_, events := dialPlain(t, base)
	expectEvent(t, events, "presence-update")
	expectEvent(t, events, "user-joined")
	e := expectEvent(t, events, "sync")
	var p struct {
		Code    string `json:"code"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(e.Payload, &p); err != nil || p.Code != code || p.Version != 7 {
		t.Fatalf("sync of %d bytes, version %d (%v)", len(p.Code), p.Version, err)
	}
}

// TestConnByteByByte: frames written one byte per write arrive whole.
func TestConnByteByByte(t *testing.T) {
	long := `{"type":"user-left","payload":{"pad":"` + strings.Repeat("p", 400) + `"}}`
	base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		if ws.WriteMessage(websocket.TextMessage, []byte(connectedFrame)) != nil {
			return
		}
		wire := append(frameBytes(true, opText, []byte(`{"type":"user-joined","payload":{}}`), false),
			frameBytes(true, opText, []byte(long), false)...)
		for i := range wire {
			if _, err := ws.UnderlyingConn().Write(wire[i : i+1]); err != nil {
				return
			}
		}
		_, _, _ = ws.ReadMessage()
	})
	_, events := dialPlain(t, base)
	expectEvent(t, events, "user-joined")
	if e := expectEvent(t, events, "user-left"); !strings.Contains(string(e.Payload), strings.Repeat("p", 400)) {
		t.Fatalf("payload %.60s...", e.Payload)
	}
}

// TestConnPingAndClose: a WebSocket ping is answered with its payload, and
// a close frame ends the connection with its code, echoed.
func TestConnPingAndClose(t *testing.T) {
	pong := make(chan string, 1)
	echo := make(chan error, 1)
	base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		ws.SetPongHandler(func(data string) error {
			pong <- data
			return ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye"))
		})
		if ws.WriteMessage(websocket.TextMessage, []byte(connectedFrame)) != nil {
			return
		}
		if ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(5*time.Second)) != nil {
			return
		}
		_, _, err := ws.ReadMessage()
		echo <- err
	})
	c, _ := dialPlain(t, base)
	if got := <-pong; got != "are you there" {
		t.Fatalf("pong %q", got)
	}
	<-c.Done()
	var ce *websocket.CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != 4000 || ce.Text != "bye" {
		t.Fatalf("the connection ended with %v, want close 4000 bye", err)
	}
	if err := <-echo; !websocket.IsCloseError(err, 4000) {
		t.Fatalf("the server read %v, want the close echoed", err)
	}
}

// TestConnEngineIOPing: a Socket.IO connection answers the Engine.IO ping.
func TestConnEngineIOPing(t *testing.T) {
	answer := make(chan string, 1)
	base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		if ws.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"e","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)) != nil {
			return
		}
		if _, m, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "40") {
			return
		}
		for _, m := range []string{`40{"sid":"n"}`, `42["connected",` + connectedFrame + `]`, "2"} {
			if ws.WriteMessage(websocket.TextMessage, []byte(m)) != nil {
				return
			}
		}
		_, m, _ := ws.ReadMessage()
		answer <- string(m)
		_, _, _ = ws.ReadMessage()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, ev, err := Dial(ctx, NewDialer(nil, 10*time.Second), NewClock(), ConnConfig{URL: base, Framing: FramingSocketIO, SessionID: "s", UserID: "u", Token: "t"})
	if err != nil || ev.Type != "connected" {
		t.Fatalf("dial: %v, %q", err, ev.Type)
	}
	c.Run(func(Event) {})
	defer c.Close()
	if got := <-answer; got != PongFrame {
		t.Fatalf("answered %q, want %q", got, PongFrame)
	}
}

// TestConnQueuesForSlowServer: while the server does not read, Send does
// not block: what the socket does not take is queued, and once the server
// reads every frame arrives whole and in order.
func TestConnQueuesForSlowServer(t *testing.T) {
	const frames = 250 // under sendQueue
	pad := strings.Repeat("q", 100<<10)
	release := make(chan struct{})
	got := make(chan error, 1)
	base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		if ws.WriteMessage(websocket.TextMessage, []byte(connectedFrame)) != nil {
			return
		}
		<-release
		for i := range frames {
			_, m, err := ws.ReadMessage()
			if err != nil {
				got <- err
				return
			}
			var env struct {
				Payload struct {
					N   int    `json:"n"`
					Pad string `json:"pad"`
				} `json:"payload"`
			}
			if err := json.Unmarshal(m, &env); err != nil || env.Payload.N != i || env.Payload.Pad != pad {
				got <- fmt.Errorf("frame %d: n %d, %d bytes of pad (%v)", i, env.Payload.N, len(env.Payload.Pad), err)
				return
			}
		}
		got <- nil
		_, _, _ = ws.ReadMessage()
	})
	c, _ := dialPlain(t, base)
	for i := range frames {
		if err := c.Send("probe", map[string]any{"n": i, "pad": pad}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	queued := len(c.queue) > 0 // 25 MB: more than the socket buffers of a reader that has not read
	close(release)
	if !queued {
		t.Fatalf("%d frames of 100 KiB all went out without queueing", frames)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestConnCut: a cut connection ends with an error, not as closed.
func TestConnCut(t *testing.T) {
	base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		if ws.WriteMessage(websocket.TextMessage, []byte(connectedFrame)) != nil {
			return
		}
		_, _, _ = ws.ReadMessage()
	})
	c, _ := dialPlain(t, base)
	c.Cut()
	<-c.Done()
	if c.Err() == nil {
		t.Fatal("a cut connection ended without an error")
	}
	if err := c.Send("probe", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after the cut: %v, want ErrClosed", err)
	}
}

// TestUpgradeRefused: a refused upgrade is a RefusedError with the body's
// code.
func TestUpgradeRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"error":"SESSION_FULL","message":"full","statusCode":403}`)
	}))
	defer srv.Close()
	_, _, err := Dial(context.Background(), NewDialer(nil, 10*time.Second), NewClock(),
		ConnConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Framing: FramingPlain, SessionID: "s", UserID: "u"})
	var re *RefusedError
	if !errors.As(err, &re) || re.Status != http.StatusForbidden || re.Code != "SESSION_FULL" {
		t.Fatalf("dial: %v, want a refusal 403 SESSION_FULL", err)
	}
}

// FuzzWSReaderGorilla writes messages with gorilla's server side (small
// write buffers, so long messages go out in fragments), ended by a close,
// and reads the bytes on the wire with wsReader, in reads of a fuzzed size.
func FuzzWSReaderGorilla(f *testing.F) {
	f.Add([]byte("hello"), uint16(3), uint8(0))
	f.Add([]byte{0, 1, 2, 0xff}, uint16(2000), uint8(6))
	f.Add([]byte(""), uint16(0), uint8(255))
	type message struct {
		op   byte
		data []byte
	}
	scripts := make(chan []message, 1) // one per connection; the fuzz function runs one input at a time
	base := wsServer(f, websocket.Upgrader{WriteBufferSize: 256}, func(ws *websocket.Conn) {
		for _, m := range <-scripts {
			var err error
			if m.op == opPing {
				err = ws.WriteControl(websocket.PingMessage, m.data, time.Now().Add(5*time.Second))
			} else {
				err = ws.WriteMessage(int(m.op), m.data)
			}
			if err != nil {
				return
			}
		}
	})
	d := NewDialer(nil, 10*time.Second)
	f.Fuzz(func(t *testing.T, data []byte, repeat uint16, chunk uint8) {
		long := bytes.Repeat(append([]byte{'<'}, data...), int(repeat))
		script := []message{
			{opText, data},
			{opBinary, long},
			{opPing, data[:min(len(data), 125)]},
			{opText, long},
			{opClose, websocket.FormatCloseMessage(4001, "done")},
		}
		scripts <- script
		nc, wire, err := d.upgrade(context.Background(), base+"/", time.Now().Add(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		rest, err := io.ReadAll(nc) // the server closes after its close frame
		if err != nil {
			t.Fatal(err)
		}
		wire = append(wire, rest...)
		got, err := readAll(wire, int(chunk)+1, 0)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, m := range script {
			want = append(want, fmt.Sprintf("%d:%s", m.op, m.data))
		}
		if len(got) != len(want) {
			t.Fatalf("read %d frames, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("frame %d: %.40q..., want %.40q...", i, got[i], want[i])
			}
		}
		if ce := closeError([]byte(got[4][2:])); !websocket.IsCloseError(ce, 4001) {
			t.Fatalf("close frame read as %v", ce)
		}
	})
}

// TestConnSendAfterWriteDeadline: a write that waited with a deadline (the
// handshake's, the writer's) leaves none behind: a Send after that
// deadline has passed still goes out, on a connection that stays up.
func TestConnSendAfterWriteDeadline(t *testing.T) {
	got := make(chan string, 2)
	base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		if ws.WriteMessage(websocket.TextMessage, []byte(connectedFrame)) != nil {
			return
		}
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- string(m)
		}
	})
	c, _ := dialPlain(t, base)
	deadline := time.Now().Add(10 * time.Millisecond)
	c.wmu.Lock()
	err := c.writeAll(clientFrame(opText, []byte("first")), deadline)
	c.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(deadline) + 10*time.Millisecond) // past the deadline, whatever the machine's speed
	if err := c.Send("probe", nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"first", `"probe"`} {
		select {
		case m := <-got:
			if !strings.Contains(m, want) {
				t.Fatalf("read %q, want %s", m, want)
			}
		case <-c.Done():
			t.Fatalf("the connection ended: %v", c.Err())
		}
	}
	select {
	case <-c.Done():
		t.Fatalf("the connection ended: %v", c.Err())
	default:
	}
}
