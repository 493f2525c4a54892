//go:build linux

package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The read loops (readloop_linux.go) against gorilla's server side, over
// real loopback TCP, with every connection of a test on one loop.

// oneLoop returns a dialer whose connections are all read by one loop.
func oneLoop() (*Dialer, *readLoop) {
	d := NewDialer(nil, 10*time.Second)
	l := &readLoop{conns: map[int]*Conn{}}
	d.loops = &readLoops{loops: []*readLoop{l}}
	return d, l
}

// registered is how many connections l reads.
func registered(l *readLoop) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// waitStopped waits until l has stopped (its last connection ended).
func waitStopped(t *testing.T, l *readLoop) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		l.mu.Lock()
		stopped := l.ep == nil
		l.mu.Unlock()
		if stopped {
			return
		}
	}
	t.Fatal("the loop still runs without connections")
}

// numbered is a message the servers below send: the i-th of a connection.
func numbered(i int) []byte {
	return fmt.Appendf(nil, `{"type":"user-joined","payload":{"i":%d}}`, i)
}

func numberOf(t *testing.T, e Event) int {
	t.Helper()
	var p struct{ I int }
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		t.Fatalf("payload %s: %v", e.Payload, err)
	}
	return p.I
}

// TestReadLoopManyConns: one loop reads 40 connections, each of which
// receives its 200 messages whole and in order; the connections close
// cleanly and the loop stops with the last.
func TestReadLoopManyConns(t *testing.T) {
	const conns, msgs = 40, 200
	base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		if ws.WriteMessage(websocket.TextMessage, []byte(connectedFrame)) != nil {
			return
		}
		for i := range msgs {
			if ws.WriteMessage(websocket.TextMessage, numbered(i)) != nil {
				return
			}
		}
		_, _, _ = ws.ReadMessage()
	})
	d, l := oneLoop()
	cs := make([]*Conn, conns)
	evs := make([]chan Event, conns)
	for i := range cs {
		cs[i], evs[i] = dialRun(t, d, base, fmt.Sprint("u", i))
	}
	if n := registered(l); n != conns {
		t.Fatalf("the loop reads %d connections, want %d", n, conns)
	}
	for i := range cs {
		for want := range msgs {
			if got := numberOf(t, expectEvent(t, evs[i], "user-joined")); got != want {
				t.Fatalf("connection %d: message %d, want %d", i, got, want)
			}
		}
	}
	for i, c := range cs {
		c.Close()
		if err := c.Err(); err != nil {
			t.Fatalf("connection %d closed with %v", i, err)
		}
	}
	if n := registered(l); n != 0 {
		t.Fatalf("the loop still holds %d closed connections", n)
	}
	waitStopped(t, l)
}

// TestReadLoopEnds: a connection whose server ends it ends with the reason
// and leaves the loop, while the loop goes on reading the others.
func TestReadLoopEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		send []byte // raw bytes after the connected frame, then TCP close
		want func(error) bool
	}{
		{"EOF", nil, func(err error) bool { return err == io.EOF }},
		{"EOF inside a frame", frameBytes(true, opText, numbered(1), false)[:10], func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"masked frame", frameBytes(true, opText, numbered(1), true), func(err error) bool { return errors.Is(err, ErrProtocol) }},
		{"close frame", frameBytes(true, opClose, websocket.FormatCloseMessage(4001, "x"), false), func(err error) bool { return websocket.IsCloseError(err, 4001) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end := make(chan struct{})
			base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
				if ws.WriteMessage(websocket.TextMessage, []byte(connectedFrame)) != nil {
					return
				}
				select {
				case <-end:
					_, _ = ws.UnderlyingConn().Write(tc.send)
					_ = ws.UnderlyingConn().Close()
				default:
					for i := 0; ; i++ {
						if ws.WriteMessage(websocket.TextMessage, numbered(i)) != nil {
							return
						}
						if _, _, err := ws.ReadMessage(); err != nil {
							return
						}
					}
				}
			})
			d, l := oneLoop()
			other, oev := dialRun(t, d, base, "other")
			expectEvent(t, oev, "user-joined")
			close(end)
			c, _ := dialRun(t, d, base, "ended")
			<-c.Done()
			if err := c.Err(); !tc.want(err) {
				t.Fatalf("the connection ended with %v", err)
			}
			if n := registered(l); n != 1 {
				t.Fatalf("the loop reads %d connections, want the other one", n)
			}
			if err := other.Send("probe", nil); err != nil {
				t.Fatal(err)
			}
			expectEvent(t, oev, "user-joined")
		})
	}
}

// TestReadLoopClosedWhileRegistered: Close and Cut end a connection the
// loop reads (Close cleanly, with a close frame the server reads; Cut with
// an error), the loop goes on reading the others, and a connection dialed
// next, which may get the closed one's descriptor, is read as any other.
func TestReadLoopClosedWhileRegistered(t *testing.T) {
	closes := make(chan error, 4)
	base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		if ws.WriteMessage(websocket.TextMessage, []byte(connectedFrame)) != nil {
			return
		}
		for i := 0; ; i++ {
			if ws.WriteMessage(websocket.TextMessage, numbered(i)) != nil {
				return
			}
			if _, _, err := ws.ReadMessage(); err != nil {
				closes <- err
				return
			}
		}
	})
	d, l := oneLoop()
	a, aev := dialRun(t, d, base, "a")
	b, bev := dialRun(t, d, base, "b")
	expectEvent(t, aev, "user-joined")
	expectEvent(t, bev, "user-joined")

	a.Close()
	if err := a.Err(); err != nil {
		t.Fatalf("a closed with %v", err)
	}
	if err := <-closes; !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("the server read %v, want a normal closure", err)
	}
	c, cev := dialRun(t, d, base, "c")
	expectEvent(t, cev, "user-joined")
	for _, conn := range []*Conn{b, c} {
		if err := conn.Send("probe", nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := numberOf(t, expectEvent(t, bev, "user-joined")); got != 1 {
		t.Fatalf("b's message %d, want 1", got)
	}
	if got := numberOf(t, expectEvent(t, cev, "user-joined")); got != 1 {
		t.Fatalf("c's message %d, want 1", got)
	}

	b.Cut()
	<-b.Done()
	if err := b.Err(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("b cut ended with %v, want net.ErrClosed", err)
	}
	if err := <-closes; err == nil {
		t.Fatal("the server read on after the cut")
	}
	if n := registered(l); n != 1 {
		t.Fatalf("the loop reads %d connections, want c alone", n)
	}
	c.Close()
	waitStopped(t, l)
}

// TestReadLoopBigAndSplitFrames: a 3 MiB frame, and frames whose header
// and payload come in separate writes (so in separate reads), arrive whole,
// read by the loop and by the goroutine reader of a dialer without loops.
func TestReadLoopBigAndSplitFrames(t *testing.T) {
	big := `{"type":"sync","payload":{"code":"` + strings.Repeat("b", 3<<20) + `","version":3}}`
	wire := frameBytes(true, opText, []byte(big), false)
	split := frameBytes(true, opText, numbered(7), false)
	base := wsServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		if ws.WriteMessage(websocket.TextMessage, []byte(connectedFrame)) != nil {
			return
		}
		raw := ws.UnderlyingConn()
		for _, part := range [][]byte{wire, split[:1], split[1:2], split[2:9], split[9:]} {
			if _, err := raw.Write(part); err != nil {
				return
			}
		}
		_, _, _ = ws.ReadMessage()
	})
	for _, loops := range []bool{true, false} {
		t.Run(fmt.Sprint("loops=", loops), func(t *testing.T) {
			d, l := oneLoop()
			if !loops {
				d.loops = nil
			}
			c, events := dialRun(t, d, base, "u")
			if got := registered(l); loops && got != 1 || !loops && got != 0 {
				t.Fatalf("the loop reads %d connections", got)
			}
			if e := expectEvent(t, events, "sync"); !strings.Contains(string(e.Payload), strings.Repeat("b", 3<<20)) || len(e.Payload) != len(big)-len(`{"type":"sync","payload":}`) {
				t.Fatalf("a sync of %d bytes", len(e.Payload))
			}
			if got := numberOf(t, expectEvent(t, events, "user-joined")); got != 7 {
				t.Fatalf("message %d, want 7", got)
			}
			c.Close()
			if err := c.Err(); err != nil {
				t.Fatalf("closed with %v", err)
			}
		})
	}
}
