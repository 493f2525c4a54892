package sio_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/services/realtime/sio/siotest"
	"github.com/pairpad/pairpad/shared/protocol"
)

const wait = 10 * time.Second

// rawServer is the smallest Socket.IO server the codec allows: it sends the
// open packet and hands every connection to the test, which reads what the
// real client sent and writes the answers itself.
type rawServer struct {
	URL   string
	conns chan *rawConn
}

// rawConn is one accepted WebSocket; only the handler reads it and only the
// test writes it.
type rawConn struct {
	ws     *websocket.Conn
	frames chan []byte
}

func startRawServer(t *testing.T) *rawServer {
	t.Helper()
	s := &rawServer{conns: make(chan *rawConn, 4)}
	var (
		mu  sync.Mutex
		all []*websocket.Conn
	)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sio.CheckHandshake(r.URL.Query()); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		all = append(all, ws)
		mu.Unlock()
		c := &rawConn{ws: ws, frames: make(chan []byte, 64)}
		defer close(c.frames)
		if err := ws.WriteMessage(websocket.TextMessage, sio.OpenPacket("eio-sid", 25*time.Second, 20*time.Second, 1e6)); err != nil {
			return
		}
		s.conns <- c
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			c.frames <- msg
		}
	}))
	t.Cleanup(func() {
		mu.Lock()
		for _, ws := range all {
			ws.Close()
		}
		mu.Unlock()
		srv.Close()
	})
	s.URL = srv.URL
	return s
}

func (s *rawServer) accept(t *testing.T) *rawConn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(wait):
		t.Fatal("the client did not open a WebSocket")
		return nil
	}
}

// expect reads the next frame the client sent and compares it with want.
func (c *rawConn) expect(t *testing.T, want string) sio.Packet {
	t.Helper()
	select {
	case got, ok := <-c.frames:
		if !ok {
			t.Fatalf("connection closed, want frame %s", want)
		}
		if string(got) != want {
			t.Fatalf("client sent %s, want %s", got, want)
		}
		p, err := sio.Parse(got)
		if err != nil {
			t.Fatalf("Parse(%s): %v", got, err)
		}
		return p
	case <-time.After(wait):
		t.Fatalf("no frame within %v, want %s", wait, want)
		return sio.Packet{}
	}
}

func (c *rawConn) send(t *testing.T, frame []byte) {
	t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		t.Fatalf("write %s: %v", frame, err)
	}
}

// TestRealClientFrames checks the codec against what the npm socket.io-client
// sends and how it reads what we encode.
func TestRealClientFrames(t *testing.T) {
	srv := startRawServer(t)
	cl := siotest.Start(t, "")
	cl.Connect(srv.URL, map[string]any{"sessionId": "s1"}, map[string]any{"token": "tok-1"})
	c := srv.accept(t)

	p := c.expect(t, `40{"token":"tok-1"}`)
	if p.Type != sio.TypeConnect || p.Namespace != "/" {
		t.Fatalf("CONNECT parsed as %+v", p)
	}
	c.send(t, sio.EncodeConnect("/", "sock-1"))
	if ev := cl.Next(t, wait); ev.Event != "connect" || ev.ID != "sock-1" {
		t.Fatalf("got %s, want connect with id sock-1", ev.Raw)
	}

	// The client emits what the protocol's envelope looks like, non-ASCII included.
	env := map[string]any{"type": "code-update", "sessionId": "s1",
		"payload": map[string]any{"delta": map[string]any{"fullCode": "a\"b\\ 😀 \u2028 é\n"}, "version": 3}}
	cl.Emit("code-update", env)
	// JSON.stringify writes U+2028 raw where encoding/json escapes it.
	p = c.expect(t, `42["code-update",{"payload":{"delta":{"fullCode":"a\"b\\ 😀 `+"\u2028"+` é\n"},"version":3},"sessionId":"s1","type":"code-update"}]`)
	name, args, err := sio.Event(p)
	if err != nil || name != "code-update" || len(args) != 1 {
		t.Fatalf("Event = %q, %d args, %v", name, len(args), err)
	}
	var back map[string]any
	if err := json.Unmarshal(args[0], &back); err != nil || back["sessionId"] != "s1" {
		t.Fatalf("argument %s: %v", args[0], err)
	}

	// What the hub broadcasts reaches onAny as the event's first argument.
	arg := json.RawMessage(`{"type":"user-joined","payload":{"id":"u2","name":"Zoë 😀","color":"#112233"},"timestamp":1}`)
	c.send(t, sio.EncodeEvent("/", protocol.TypeUserJoined, arg))
	ev := cl.Next(t, wait)
	if ev.Event != protocol.TypeUserJoined || !jsonEqual(t, ev.Arg, arg) {
		t.Fatalf("got %s, want user-joined with %s", ev.Raw, arg)
	}
	c.send(t, sio.EncodeEvent("/", protocol.TypeSync, nil))
	if ev := cl.Next(t, wait); ev.Event != protocol.TypeSync || string(ev.Arg) != "null" || len(ev.Args) != 0 {
		t.Fatalf("got %s, want sync without arguments", ev.Raw)
	}

	// Heartbeat: the server pings, the client pongs.
	c.send(t, []byte(sio.PingFrame))
	c.expect(t, sio.PongFrame)

	cl.Disconnect()
	c.expect(t, `41`)
	if ev := cl.Next(t, wait); ev.Event != "disconnect" || ev.Reason != "io client disconnect" {
		t.Fatalf("got %s, want disconnect", ev.Raw)
	}
}

// TestRealClientNamespace checks the namespace notation both ways.
func TestRealClientNamespace(t *testing.T) {
	srv := startRawServer(t)
	cl := siotest.Start(t, "")
	cl.Connect(srv.URL+"/admin", nil, nil)
	c := srv.accept(t)
	p := c.expect(t, `40/admin,`)
	if p.Namespace != "/admin" || p.Data != nil {
		t.Fatalf("CONNECT parsed as %+v", p)
	}
	c.send(t, sio.EncodeConnect("/admin", "sock-2"))
	cl.WaitFor(t, "connect", wait)
	cl.Emit("cursor-update", 7)
	c.expect(t, `42/admin,["cursor-update",7]`)
	c.send(t, sio.EncodeEvent("/admin", "language-changed", json.RawMessage(`"python"`)))
	if ev := cl.Next(t, wait); ev.Event != "language-changed" || string(ev.Arg) != `"python"` {
		t.Fatalf("got %s", ev.Raw)
	}
	// A server-side DISCONNECT makes the client leave.
	c.send(t, sio.EncodeDisconnect("/admin"))
	if ev := cl.Next(t, wait); ev.Event != "disconnect" || ev.Reason != "io server disconnect" {
		t.Fatalf("got %s, want disconnect by the server", ev.Raw)
	}
}

// TestRealClientConnectError checks that a refusal reaches connect_error with
// the protocol's code in err.data.error and its message in err.message.
func TestRealClientConnectError(t *testing.T) {
	tests := []struct {
		name     string
		data     any
		wantCode string
		wantMsg  string
	}{
		{"coded error", protocol.Errorf(protocol.CodeSessionNotFound, "Session with the specified ID does not exist"),
			"SESSION_NOT_FOUND", "Session with the specified ID does not exist"},
		{"payload", protocol.ErrorPayload{Error: protocol.CodeUnauthorized, Message: "bad token"}, "UNAUTHORIZED", "bad token"},
		{"internal", errPlain("boom"), "INTERNAL_SERVER_ERROR", "An internal error occurred"},
		{"map", map[string]any{"error": "SESSION_FULL", "message": "full"}, "SESSION_FULL", "full"},
	}
	srv := startRawServer(t)
	cl := siotest.Start(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl.Connect(srv.URL, nil, map[string]any{"token": "x"})
			c := srv.accept(t)
			c.expect(t, `40{"token":"x"}`)
			c.send(t, sio.EncodeConnectError("/", tt.data))
			ev := cl.WaitFor(t, "connect_error", wait)
			if ev.ErrorCode() != tt.wantCode || ev.Message != tt.wantMsg {
				t.Fatalf("got %s, want code %s message %q", ev.Raw, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

type errPlain string

func (e errPlain) Error() string { return string(e) }

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("unmarshal %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
