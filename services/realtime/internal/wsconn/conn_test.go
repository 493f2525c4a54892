package wsconn

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/protocol"
)

// server is the server end of one test connection: the Conn, the frames
// its read loop was handed and the leave reason it ended with.
type server struct {
	c      *Conn
	frames chan string
	reason chan string
	writes atomic.Int64 // writes to the server's socket
}

// countingListener counts the writes to the sockets it accepts.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// setup serves one connection with framing fr over a real WebSocket and
// dials it with gorilla's dialer. With ping > 0 the writer runs from the
// start; otherwise the test starts it (or never does, to fill the queue).
// The read loop stops on the frame "stop".
func setup(t testing.TB, fr Framing, o Options, ping, keepalive time.Duration) (*websocket.Conn, *server) {
	t.Helper()
	srv := &server{frames: make(chan string, 64), reason: make(chan string, 1)}
	ready := make(chan struct{})
	up := websocket.Upgrader{}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		srv.c = New(ws, fr, o)
		if ping > 0 {
			srv.c.StartWriter(ping)
		}
		close(ready)
		srv.c.Start(keepalive, func(mt int, data []byte) bool {
			srv.frames <- string(data)
			return string(data) != "stop"
		}, func(reason string) {
			if ping <= 0 {
				srv.c.Kill() // no writer to close the socket
			}
			srv.reason <- reason
		})
	}))
	hs.Listener = countingListener{hs.Listener, &srv.writes}
	hs.Start()
	t.Cleanup(hs.Close)
	cl, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	<-ready
	return cl, srv
}

// opts are the tests' options, read by the package's poller (testPoller,
// TestMain); goroutine clears it, for the tests of the goroutine reader.
func opts() Options { return Options{MaxFrameBytes: 1 << 10, SendQueue: 8, Poller: testPoller} }

func goroutine(o Options) Options { o.Poller = nil; return o }

// readers are the two readers, for the tests that run on both.
var readers = []struct {
	name string
	opts func(Options) Options
}{{"epoll", func(o Options) Options { return o }}, {"goroutine", goroutine}}

// readText reads the next data frame, failing on anything else.
func readText(t testing.TB, cl *websocket.Conn) string {
	t.Helper()
	_ = cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	mt, data, err := cl.ReadMessage()
	if err != nil || mt != websocket.TextMessage {
		t.Fatalf("read: %d %q %v", mt, data, err)
	}
	return string(data)
}

// readClose reads until the close frame and returns its code.
func readClose(t *testing.T, cl *websocket.Conn) int {
	t.Helper()
	_ = cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := cl.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		t.Logf("frame before the close: %q", data)
	}
}

// unwrap reads an event frame back through the framing's own codec: the
// envelope as sent.
func unwrap(t *testing.T, fr Framing, frame string) (typ string, env string) {
	t.Helper()
	if fr.Kind() == KindPlain {
		var e struct{ Type string }
		if err := json.Unmarshal([]byte(frame), &e); err != nil {
			t.Fatalf("plain frame %q: %v", frame, err)
		}
		return e.Type, frame
	}
	p, err := sio.Parse([]byte(frame))
	if err != nil || p.EIO != sio.EIOMessage || p.Type != sio.TypeEvent {
		t.Fatalf("socket.io frame %q: %+v %v", frame, p, err)
	}
	name, args, err := sio.Event(p)
	if err != nil || len(args) != 1 {
		t.Fatalf("socket.io event %q: %v", frame, err)
	}
	return name, string(args[0])
}

var framings = []Framing{Plain{}, SocketIO{}}

// TestSendReceive: messages arrive framed in order, each framing's frame
// built once per message; client frames reach the read loop and decode.
func TestSendReceive(t *testing.T) {
	t.Parallel()
	for _, fr := range framings {
		t.Run(fr.Name(), func(t *testing.T) {
			t.Parallel()
			cl, srv := setup(t, fr, opts(), time.Hour, 10*time.Second)
			var sent []*Message
			for i, typ := range []string{"code-update", "cursor-update", "sync"} {
				m := &Message{Type: typ, Body: []byte(`{"type":"` + typ + `","n":` + string(rune('0'+i)) + `}`)}
				if !srv.c.SendMessage(m, false) {
					t.Fatalf("%s not queued", typ)
				}
				sent = append(sent, m)
			}
			for _, m := range sent {
				typ, env := unwrap(t, fr, readText(t, cl))
				if typ != m.Type || env != string(m.Body) {
					t.Fatalf("got %s %s, want %s %s", typ, env, m.Type, m.Body)
				}
				if f := m.Frame(fr); &f[0] != &m.Frame(fr)[0] {
					t.Fatal("the frame was built twice")
				}
			}
			in := `{"type":"cursor-update","sessionId":"s","payload":{"position":{"line":1,"column":2}}}`
			if fr.Kind() == KindSocketIO {
				in = `42["cursor-update",{"payload":{"position":{"line":1,"column":2}}}]`
			}
			if err := cl.WriteMessage(websocket.TextMessage, []byte(in)); err != nil {
				t.Fatal(err)
			}
			got := <-srv.frames
			d, err := fr.Decode([]byte(got))
			if err != nil || d.Kind != InEvent || d.Env.Type != "cursor-update" || !bytes.Contains(d.Env.Payload, []byte(`"line":1`)) {
				t.Fatalf("decoded %q as %+v, %v", got, d, err)
			}
		})
	}
}

// TestMessageFramedPerFraming: one message, two framings, two frames, each
// cached.
func TestMessageFramedPerFraming(t *testing.T) {
	m := &Message{Type: "sync", Body: []byte(`{"type":"sync"}`)}
	p, s := m.Frame(Plain{}), m.Frame(SocketIO{})
	if string(p) != `{"type":"sync"}` || string(s) != `42["sync",{"type":"sync"}]` {
		t.Fatalf("frames %q %q", p, s)
	}
	if &m.Frame(SocketIO{})[0] != &s[0] {
		t.Fatal("the Socket.IO frame was built twice")
	}
}

// TestQueueBound: without a writer the queue fills: a frame past the bound
// is dropped and Overflow says whether it was a refusal; frames of a cut
// off pass the bound, and after CutOff nothing else is queued.
func TestQueueBound(t *testing.T) {
	t.Parallel()
	var overflows []bool
	o := opts()
	o.SendQueue = 2
	o.Overflow = func(refusal bool) { overflows = append(overflows, refusal) }
	cl, srv := setup(t, Plain{}, o, 0, 10*time.Second)
	c := srv.c
	for i := range 2 {
		if !c.Send(Frame{Data: []byte(`"queued"`)}) {
			t.Fatalf("frame %d not queued", i)
		}
	}
	if c.Send(Frame{Data: []byte(`"late"`)}) || c.Send(Frame{Data: []byte(`"refused"`), Refusal: true}) {
		t.Fatal("a frame past the bound was queued")
	}
	if len(overflows) != 2 || overflows[0] || !overflows[1] {
		t.Fatalf("overflows %v, want [false true]", overflows)
	}
	if !c.CutOff() || c.CutOff() || !c.Cut() {
		t.Fatal("CutOff is not once")
	}
	if c.Send(Frame{Data: []byte(`"after"`), Final: false}) {
		t.Fatal("a frame after the cut off was queued")
	}
	if !c.Send(Frame{Data: []byte(`"last"`), Final: true}) ||
		!c.Send(Frame{Close: &websocket.CloseError{Code: websocket.ClosePolicyViolation, Text: "rate limit exceeded"}, Final: true}) {
		t.Fatal("final frames were not queued past the bound")
	}
	if len(overflows) != 2 {
		t.Fatalf("overflows %v after the final frames", overflows)
	}
	c.StartWriter(time.Hour)
	for _, want := range []string{`"queued"`, `"queued"`, `"last"`} {
		if got := readText(t, cl); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	if code := readClose(t, cl); code != websocket.ClosePolicyViolation {
		t.Fatalf("close %d, want 1008", code)
	}
}

// TestCloseAfterQueue: what is queued goes first, then the extra frames
// (Socket.IO's DISCONNECT), then the close frame; the writer then ends.
func TestCloseAfterQueue(t *testing.T) {
	t.Parallel()
	cl, srv := setup(t, SocketIO{}, opts(), time.Hour, 10*time.Second)
	srv.c.SendMessage(&Message{Type: "session-ended", Body: []byte(`{}`)}, false)
	srv.c.CloseAfterQueue(websocket.CloseServiceRestart, "service restart", SocketIO{}.Farewell()...)
	if typ, _ := unwrap(t, SocketIO{}, readText(t, cl)); typ != "session-ended" {
		t.Fatalf("first frame %s", typ)
	}
	if got := readText(t, cl); got != string(sio.EncodeDisconnect(sio.MainNamespace)) {
		t.Fatalf("farewell %q", got)
	}
	if code := readClose(t, cl); code != websocket.CloseServiceRestart {
		t.Fatalf("close %d, want 1012", code)
	}
	_ = cl.Close()
	<-srv.c.WriteDone()
	if r := <-srv.reason; r != protocol.LeftDisconnect {
		t.Fatalf("reason %q", r)
	}
}

// TestFrameTooBig: a client frame over MaxFrameBytes closes the
// connection with 1009.
func TestFrameTooBig(t *testing.T) {
	t.Parallel()
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			t.Parallel()
			o := rd.opts(opts())
			o.MaxFrameBytes = 64
			cl, srv := setup(t, Plain{}, o, time.Hour, 10*time.Second)
			if err := cl.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 65)); err != nil {
				t.Fatal(err)
			}
			if code := readClose(t, cl); code != websocket.CloseMessageTooBig {
				t.Fatalf("close %d, want 1009", code)
			}
			if r := <-srv.reason; r != protocol.LeftDisconnect {
				t.Fatalf("reason %q", r)
			}
		})
	}
}

// TestKeepalive: the writer pings in the framing's own way; a client that
// answers stays, one that sends nothing within the keepalive window is
// gone with reason timeout.
func TestKeepalive(t *testing.T) {
	t.Parallel()
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			t.Parallel()
			t.Run("plain ping", func(t *testing.T) {
				t.Parallel()
				cl, srv := setup(t, Plain{}, rd.opts(opts()), 20*time.Millisecond, 10*time.Second)
				pinged := make(chan struct{}, 1)
				cl.SetPingHandler(func(string) error {
					select {
					case pinged <- struct{}{}:
					default:
					}
					return nil
				})
				go func() { _, _, _ = cl.ReadMessage() }() // control frames are handled while reading
				<-pinged
				srv.c.Kill()
				<-srv.c.WriteDone()
			})
			t.Run("socket.io ping", func(t *testing.T) {
				t.Parallel()
				cl, srv := setup(t, SocketIO{}, rd.opts(opts()), 20*time.Millisecond, 10*time.Second)
				if got := readText(t, cl); got != sio.PingFrame {
					t.Fatalf("keepalive %q", got)
				}
				if err := cl.WriteMessage(websocket.TextMessage, []byte(sio.PongFrame)); err != nil {
					t.Fatal(err)
				}
				if got := <-srv.frames; got != sio.PongFrame {
					t.Fatalf("read loop got %q", got)
				}
				srv.c.Kill()
				<-srv.c.WriteDone()
			})
			t.Run("silent client", func(t *testing.T) {
				t.Parallel()
				_, srv := setup(t, Plain{}, rd.opts(opts()), time.Hour, 100*time.Millisecond)
				if r := <-srv.reason; r != protocol.LeftTimeout {
					t.Fatalf("reason %q, want timeout", r)
				}
				<-srv.c.WriteDone()
			})
		})
	}
}

// TestLeaveReasons: how each framing reads the client's close, and the
// handler ending the loop.
func TestLeaveReasons(t *testing.T) {
	t.Parallel()
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			t.Parallel()
			tests := []struct {
				name string
				fr   Framing
				code int    // close frame the client sends; 0: the frame "stop"
				want string // leave reason
			}{
				{"plain 1000", Plain{}, websocket.CloseNormalClosure, protocol.LeftManual},
				{"plain 1001", Plain{}, websocket.CloseGoingAway, protocol.LeftDisconnect},
				{"socket.io 1000", SocketIO{}, websocket.CloseNormalClosure, protocol.LeftDisconnect},
				{"handler", Plain{}, 0, ""},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					cl, srv := setup(t, tc.fr, rd.opts(opts()), time.Hour, 10*time.Second)
					msg := []byte("stop")
					mt := websocket.TextMessage
					if tc.code != 0 {
						msg, mt = websocket.FormatCloseMessage(tc.code, ""), websocket.CloseMessage
					}
					if err := cl.WriteMessage(mt, msg); err != nil {
						t.Fatal(err)
					}
					if r := <-srv.reason; r != tc.want {
						t.Fatalf("reason %q, want %q", r, tc.want)
					}
					<-srv.c.WriteDone() // the writer ends with the reader
				})
			}
		})
	}
}

// TestKill: Kill unblocks the reader and the writer, and nothing is
// queued after it.
func TestKill(t *testing.T) {
	t.Parallel()
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			t.Parallel()
			_, srv := setup(t, SocketIO{}, rd.opts(opts()), time.Hour, 10*time.Second)
			srv.c.Kill()
			srv.c.Kill() // idempotent
			if r := <-srv.reason; r != protocol.LeftDisconnect {
				t.Fatalf("reason %q", r)
			}
			<-srv.c.WriteDone()
			if !srv.c.Killed() {
				t.Fatal("not Killed after Kill")
			}
			if srv.c.Send(Frame{Data: []byte("x"), Final: true}) {
				t.Fatal("queued after Kill")
			}
		})
	}
}

// TestDecode: the framings' decoding of client frames, table-driven.
func TestDecode(t *testing.T) {
	t.Parallel()
	ack := int64(7)
	tests := []struct {
		name  string
		fr    Framing
		frame string
		kind  InKind
		typ   string
		ackID *int64
		err   bool
	}{
		{"plain event", Plain{}, `{"type":"sync","sessionId":"s"}`, InEvent, "sync", nil, false},
		{"plain garbage", Plain{}, `{`, 0, "", nil, true},
		{"sio event with ack", SocketIO{}, `427["sync",{"payload":null}]`, InEvent, "sync", &ack, false},
		{"sio bare payload", SocketIO{}, `42["language-changed","python"]`, InEvent, "language-changed", nil, false},
		{"sio pong", SocketIO{}, sio.PongFrame, InNothing, "", nil, false},
		{"sio close", SocketIO{}, sio.CloseFrame, InLeave, "", nil, false},
		{"sio disconnect", SocketIO{}, `41`, InLeave, "", nil, false},
		{"sio other namespace", SocketIO{}, `42/x,["sync"]`, 0, "", nil, true},
		{"sio connect again", SocketIO{}, `40`, 0, "", nil, true},
		{"sio not a packet", SocketIO{}, `hello`, 0, "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := tc.fr.Decode([]byte(tc.frame))
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if err != nil {
				if protocol.ErrorCode(err) != protocol.CodeInvalidPayload {
					t.Fatalf("code %s, want INVALID_PAYLOAD", protocol.ErrorCode(err))
				}
				return
			}
			if in.Kind != tc.kind || in.Env.Type != tc.typ || (in.AckID == nil) != (tc.ackID == nil) ||
				(in.AckID != nil && *in.AckID != *tc.ackID) {
				t.Fatalf("decoded %+v", in)
			}
		})
	}
}

// TestWriterOnDemand: an idle connection has no writer; one runs while
// frames wait and ends once they are written, and the keepalive timer
// starts one for each ping.
func TestWriterOnDemand(t *testing.T) {
	t.Parallel()
	cl, srv := setup(t, SocketIO{}, opts(), time.Hour, 10*time.Second)
	idle := func() bool {
		srv.c.sendMu.Lock()
		defer srv.c.sendMu.Unlock()
		return !srv.c.writing && srv.c.pending == 0
	}
	waitIdle := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !idle() {
			if time.Now().After(deadline) {
				t.Fatal("the writer did not end with an empty queue")
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitIdle()
	for round := range 3 {
		for i := range 3 {
			srv.c.Send(Frame{Data: []byte{'a' + byte(round), '0' + byte(i)}})
		}
		for i := range 3 {
			if got, want := readText(t, cl), string([]byte{'a' + byte(round), '0' + byte(i)}); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
		waitIdle()
	}
	// The keepalive still runs with no writer between pings.
	srv.c.sendMu.Lock()
	srv.c.pingEvery = 10 * time.Millisecond
	srv.c.setPingLocked(time.Now().Add(srv.c.pingEvery))
	srv.c.sendMu.Unlock()
	for range 3 {
		if got := readText(t, cl); got != sio.PingFrame {
			t.Fatalf("keepalive %q", got)
		}
	}
	srv.c.Kill()
	<-srv.c.WriteDone()
	if srv.c.Send(Frame{Data: []byte("late")}) {
		t.Fatal("queued after the end")
	}
}

// TestIdleHoldsLittle: an idle connection, between its frames and its
// keepalives, holds no queue, no writer, no channel and one timer, and a
// polled one no gorilla Conn (its read buffer and write lock); it still
// writes, pings and closes.
func TestIdleHoldsLittle(t *testing.T) {
	t.Parallel()
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			t.Parallel()
			cl, srv := setup(t, SocketIO{}, rd.opts(opts()), time.Hour, time.Hour)
			check := func(when string) {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					srv.c.sendMu.Lock()
					idle := !srv.c.writing && srv.c.pending == 0
					if idle {
						c := srv.c
						switch {
						case c.queue != nil, c.wake != nil, c.writeDone != nil:
							t.Errorf("%s: idle with queue %v, wake %v, writeDone %v", when, c.queue, c.wake, c.writeDone)
						case c.clk.t == nil || c.clk.pingAt.IsZero():
							t.Errorf("%s: no keepalive timer", when)
						case c.pr != nil && (c.ws != nil || c.clk.checkAt.IsZero()):
							t.Errorf("%s: polled with gorilla's Conn %v, keepalive check at %v", when, c.ws != nil, c.clk.checkAt)
						}
					}
					srv.c.sendMu.Unlock()
					if idle {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: the writer did not end", when)
					}
					time.Sleep(time.Millisecond)
				}
			}
			check("after the start")
			srv.c.Send(Frame{Data: []byte("hello")})
			if got := readText(t, cl); got != "hello" {
				t.Fatalf("got %q", got)
			}
			check("after a frame")
			srv.c.sendMu.Lock()
			srv.c.setPingLocked(time.Now()) // the keepalive is due
			srv.c.sendMu.Unlock()
			if got := readText(t, cl); got != sio.PingFrame {
				t.Fatalf("keepalive %q", got)
			}
			check("after a ping")
			srv.c.CloseAfterQueue(websocket.CloseGoingAway, "bye")
			if code := readClose(t, cl); code != websocket.CloseGoingAway {
				t.Fatalf("close %d", code)
			}
			<-srv.c.WriteDone()
			srv.c.sendMu.Lock()
			defer srv.c.sendMu.Unlock()
			if !srv.c.clk.pingAt.IsZero() || !srv.c.clk.checkAt.IsZero() {
				t.Fatal("the timer is still set after the end")
			}
		})
	}
}

// TestCoalesce: the frames the writer takes at once go out in one write
// to the socket, whatever their sizes (the three length encodings, a
// batch past maxBatchBytes is written in more than one), in order, with
// the keepalive among them; a Plain ping is a control frame in the batch.
func TestCoalesce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sizes  []int
		writes int64
	}{
		{"small", []int{1, 2, 3, 125, 4, 5, 6, 7}, 1},
		{"length encodings", []int{125, 126, 65535, 65536, 3}, 3}, // flushed past 64 KiB twice
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := opts()
			o.SendQueue = len(tc.sizes) + 1
			cl, srv := setup(t, SocketIO{}, o, 0, 10*time.Second)
			var want []string
			for i, n := range tc.sizes {
				f := bytes.Repeat([]byte{'a' + byte(i)}, n)
				if !srv.c.Send(Frame{Data: f}) {
					t.Fatalf("frame %d not queued", i)
				}
				want = append(want, string(f))
			}
			before := srv.writes.Load()
			srv.c.StartWriter(time.Hour)
			for i, w := range want {
				if got := readText(t, cl); got != w {
					t.Fatalf("frame %d: %d bytes, want %d", i, len(got), len(w))
				}
			}
			if got := srv.writes.Load() - before; got != tc.writes {
				t.Fatalf("%d frames in %d writes, want %d", len(want), got, tc.writes)
			}
		})
	}
	t.Run("plain ping in the batch", func(t *testing.T) {
		t.Parallel()
		cl, srv := setup(t, Plain{}, opts(), 0, 10*time.Second)
		srv.c.Send(Frame{Data: []byte(`"one"`)})
		srv.c.sendMu.Lock()
		srv.c.queue = append(srv.c.queue, Frame{ping: true})
		srv.c.pending++
		srv.c.sendMu.Unlock()
		srv.c.Send(Frame{Data: []byte(`"two"`)})
		pinged := make(chan struct{}, 1)
		cl.SetPingHandler(func(string) error { pinged <- struct{}{}; return nil })
		before := srv.writes.Load()
		srv.c.StartWriter(time.Hour)
		if got := readText(t, cl); got != `"one"` {
			t.Fatalf("got %s", got)
		}
		if got := readText(t, cl); got != `"two"` { // the ping is handled while reading
			t.Fatalf("got %s", got)
		}
		<-pinged
		if got := srv.writes.Load() - before; got != 1 {
			t.Fatalf("%d writes, want 1", got)
		}
	})
}

// BenchmarkBurst: bursts of 32 cursor-sized frames to one connection;
// writes/frame is the socket writes per frame sent.
func BenchmarkBurst(b *testing.B) {
	o := opts()
	o.SendQueue = 64
	cl, srv := setup(b, SocketIO{}, o, time.Hour, time.Hour)
	frame := append([]byte(`42["cursor-update",`), bytes.Repeat([]byte("x"), 100)...)
	before := srv.writes.Load()
	b.ResetTimer()
	for range b.N {
		for range 32 {
			srv.c.Send(Frame{Data: frame})
		}
		for range 32 {
			readText(b, cl)
		}
	}
	b.ReportMetric(float64(srv.writes.Load()-before)/float64(32*b.N), "writes/frame")
}

// TestCollapse: a frame with the Key of a queued one replaces it at the
// end of the queue, full or not; frames already taken by the writer are
// not replaced.
func TestCollapse(t *testing.T) {
	t.Parallel()
	o := opts()
	o.SendQueue = 3
	var overflows int
	o.Overflow = func(bool) { overflows++ }
	cl, srv := setup(t, Plain{}, o, 0, 10*time.Second)
	c := srv.c
	for _, f := range []Frame{
		{Data: []byte(`"a1"`), Key: "a"},
		{Data: []byte(`"b1"`), Key: "b"},
		{Data: []byte(`"x"`)},
		{Data: []byte(`"a2"`), Key: "a"}, // full: replaces a1
		{Data: []byte(`"a3"`), Key: "a"},
	} {
		if !c.Send(f) {
			t.Fatalf("%s not queued", f.Data)
		}
	}
	if c.Send(Frame{Data: []byte(`"c1"`), Key: "c"}) || overflows != 1 {
		t.Fatalf("a new key past the bound was queued (overflows %d)", overflows)
	}
	c.StartWriter(time.Hour)
	for _, want := range []string{`"b1"`, `"x"`, `"a3"`} {
		if got := readText(t, cl); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
}

// TestCatchUp: when a CatchUp frame does not fit, the Update frames
// queued after the last Ack are replaced by the frame Options.CatchUp
// gives, at the end of the queue; an Update frame is then counted as in
// it, another frame is queued if that made room. Without Update frames
// after the last Ack, or for other frames, Overflow decides as before.
func TestCatchUp(t *testing.T) {
	t.Parallel()
	o := opts()
	o.SendQueue = 4
	var overflows []bool
	o.Overflow = func(refusal bool) { overflows = append(overflows, refusal) }
	state := 0
	o.CatchUp = func() (Frame, bool) {
		state++
		return Frame{Data: []byte(`"state` + string(rune('0'+state)) + `"`)}, true
	}
	cl, srv := setup(t, Plain{}, o, 0, 10*time.Second)
	c := srv.c
	upd := func(s string) Frame { return Frame{Data: []byte(`"` + s + `"`), Update: true, CatchUp: true} }
	send := func(f Frame, want bool) {
		t.Helper()
		if got := c.Send(f); got != want {
			t.Fatalf("Send(%s) = %v, want %v", f.Data, got, want)
		}
	}
	send(upd("u1"), true)
	send(Frame{Data: []byte(`"ack"`), Ack: true}, true)
	send(upd("u2"), true)
	send(upd("u3"), true)
	// Full: u2 and u3 (after the ack) become state1; u4 is in it.
	send(upd("u4"), true)
	send(Frame{Data: []byte(`"cursor"`), CatchUp: true}, true) // fits again
	// Full: state1 becomes state2, which makes no room for y.
	send(Frame{Data: []byte(`"y"`), CatchUp: true}, false)
	// Full, no CatchUp: overflow, as is an Ack.
	send(Frame{Data: []byte(`"z"`)}, false)
	send(Frame{Data: []byte(`"ack2"`), Ack: true}, false)
	if len(overflows) != 3 || state != 2 {
		t.Fatalf("overflows %v, catch-ups %d", overflows, state)
	}
	c.StartWriter(time.Hour)
	for _, want := range []string{`"u1"`, `"ack"`, `"cursor"`, `"state2"`} {
		if got := readText(t, cl); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	// With the queue empty again, a run of updates after an ack that the
	// catch-up cannot replace (CatchUp fails) overflows.
	o2 := opts()
	o2.SendQueue = 2
	o2.Overflow = func(refusal bool) { overflows = append(overflows, refusal) }
	o2.CatchUp = func() (Frame, bool) { return Frame{}, false }
	_, srv2 := setup(t, Plain{}, o2, 0, 10*time.Second)
	srv2.c.Send(upd("u1"))
	srv2.c.Send(upd("u2"))
	if srv2.c.Send(upd("u3")) || len(overflows) != 4 {
		t.Fatalf("a failed catch-up queued the update (overflows %v)", overflows)
	}
}
