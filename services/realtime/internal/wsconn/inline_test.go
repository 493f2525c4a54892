package wsconn

import (
	"bytes"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// inlineClient dials a rawServer and returns the client and the server's
// end; small shrinks the server's send buffer, so that a large frame does
// not fit the socket while the client is not reading.
func inlineClient(t *testing.T, o Options, small bool) (*websocket.Conn, *polledConn) {
	t.Helper()
	addr, conns := rawServer(t, o, false, nil)
	cl, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	pc := <-conns
	if small {
		if err := syscall.SetsockoptInt(int(pc.fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096); err != nil {
			t.Fatal(err)
		}
	}
	return cl, pc
}

// readFrame reads the next data frame; a failure says how long it was,
// not what it held.
func readFrame(t *testing.T, cl *websocket.Conn) string {
	t.Helper()
	_ = cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	mt, data, err := cl.ReadMessage()
	if err != nil || mt != websocket.TextMessage {
		t.Fatalf("read: type %d, %d bytes, %v", mt, len(data), err)
	}
	return string(data)
}

// numbered is frame i of sender s, n bytes long, its bytes telling both.
func numbered(s, i, n int) []byte {
	head := fmt.Sprintf("%d/%05d:", s, i)
	return append([]byte(head), bytes.Repeat([]byte{'a' + byte((s+i)%26)}, n-len(head))...)
}

// TestInlineWrite: a frame sent with Inline to a polled connection that is
// idle is written by the sender (the connection is idle again when Send
// returns); one the socket cannot take whole has its rest written by a
// writer, with the control frames held back until the frame is whole, so
// the frames queued behind it and the pongs answering the client's pings
// all arrive whole and in order.
func TestInlineWrite(t *testing.T) {
	needPoller(t)
	t.Parallel()
	idle := func(c *Conn) bool {
		c.sendMu.Lock()
		defer c.sendMu.Unlock()
		return !c.writing && c.pending == 0 && len(c.queue) == 0
	}

	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		cl, pc := inlineClient(t, opts(), false)
		for i := range 20 {
			f := numbered(0, i, 100+i*50)
			if !pc.c.Send(Frame{Data: f, Inline: true}) {
				t.Fatalf("frame %d not sent", i)
			}
			if !idle(pc.c) {
				t.Fatalf("frame %d: the connection is not idle after Send: it was not written inline", i)
			}
			if got := readFrame(t, cl); got != string(f) {
				t.Fatalf("frame %d: got %.20q (%d bytes), want %.20q (%d)", i, got, len(got), f, len(f))
			}
		}
	})

	t.Run("a full socket", func(t *testing.T) {
		t.Parallel()
		o := opts()
		o.SendQueue = 64
		cl, pc := inlineClient(t, o, true)
		var want []string
		for i := range 24 {
			n := 1 << 20 // the first does not fit the socket while the client is not reading
			if i > 0 {
				n = 100 + i*1500
			}
			f := numbered(0, i, n)
			want = append(want, string(f))
			if !pc.c.Send(Frame{Data: f, Inline: i%3 != 2}) {
				t.Fatalf("frame %d not sent", i)
			}
			if i == 0 && pc.c.ctl.mu.TryLock() {
				pc.c.ctl.mu.Unlock()
				t.Fatal("the first frame fit the socket: the test's buffers are too large to exercise the rest's writer")
			}
		}
		// The client pings while the server is inside the first frame;
		// each pong waits for the frame to be whole.
		var pongs []string
		cl.SetPongHandler(func(s string) error { pongs = append(pongs, s); return nil })
		for i := range 5 {
			if err := cl.WriteControl(websocket.PingMessage, []byte(fmt.Sprint("ping-", i)), time.Now().Add(10*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		for i, w := range want {
			if got := readFrame(t, cl); got != w {
				t.Fatalf("frame %d: got %.12q (%d bytes), want %.12q (%d)", i, got, len(got), w, len(w))
			}
		}
		readPongs(t, cl, pc.c, func() int { return len(pongs) }, 5)
		for i, p := range pongs {
			if p != fmt.Sprint("ping-", i) {
				t.Fatalf("pong %d: %q", i, p)
			}
		}
		within(t, func() bool { return idle(pc.c) }, "the writer to end")
		// Idle again: the next frame is written inline once more.
		if !pc.c.Send(Frame{Data: []byte("after"), Inline: true}) || !idle(pc.c) {
			t.Fatal("not written inline after the writer ended")
		}
		if got := readFrame(t, cl); got != "after" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("a pong held back longer than its wait", func(t *testing.T) {
		// The client pings while a frame's rest waits for it to read, and
		// reads only after the pong's own wait (controlWait) is over: the
		// pong waited for its turn, not on the socket, and is still sent.
		t.Parallel()
		cl, pc := inlineClient(t, opts(), true)
		big := numbered(0, 0, 1<<20)
		if !pc.c.Send(Frame{Data: big, Inline: true}) {
			t.Fatal("not sent")
		}
		if pc.c.ctl.mu.TryLock() {
			pc.c.ctl.mu.Unlock()
			t.Fatal("the frame fit the socket: the test's buffers are too large to hold its rest back")
		}
		var pongs []string
		cl.SetPongHandler(func(s string) error { pongs = append(pongs, s); return nil })
		if err := cl.WriteControl(websocket.PingMessage, []byte("held"), time.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(controlWait + controlWait/2) // the condition under test, not a wait for an event
		if got := readFrame(t, cl); got != string(big) {
			t.Fatalf("got %d bytes, want the %d-byte frame", len(got), len(big))
		}
		readPongs(t, cl, pc.c, func() int { return len(pongs) }, 1)
		if pongs[0] != "held" {
			t.Fatalf("pong %q", pongs[0])
		}
	})

	t.Run("concurrent senders", func(t *testing.T) {
		t.Parallel()
		o := opts()
		o.SendQueue = 4096
		cl, pc := inlineClient(t, o, true)
		const senders, each = 4, 150
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := range each {
					n := 20 + (i*7919+s*104729)%(24<<10) // a few fit the socket, many do not
					if !pc.c.Send(Frame{Data: numbered(s, i, n), Inline: i%5 != 0}) {
						t.Errorf("sender %d frame %d not sent", s, i)
						return
					}
				}
			})
		}
		pinged := make(chan struct{})
		go func() { // pongs between the frames
			defer close(pinged)
			for i := range 20 {
				if cl.WriteControl(websocket.PingMessage, []byte(fmt.Sprint(i)), time.Now().Add(10*time.Second)) != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		var pongs int
		cl.SetPongHandler(func(string) error { pongs++; return nil })
		next := make([]int, senders)
		for range senders * each {
			got := readFrame(t, cl)
			var s, i int
			if _, err := fmt.Sscanf(got, "%d/%05d:", &s, &i); err != nil || s < 0 || s >= senders {
				t.Fatalf("a torn frame: %.40q (%d bytes)", got, len(got))
			}
			n := 20 + (i*7919+s*104729)%(24<<10)
			if i != next[s] || got != string(numbered(s, i, n)) {
				t.Fatalf("sender %d: got frame %d (%d bytes), want frame %d (%d bytes)", s, i, len(got), next[s], n)
			}
			next[s]++
		}
		wg.Wait()
		<-pinged
		readPongs(t, cl, pc.c, func() int { return pongs }, 20)
	})
}

// readPongs reads on until the client's pong handler has seen want
// pongs (count): the last ones may follow the data, so each read gets a
// frame sent for it.
func readPongs(t *testing.T, cl *websocket.Conn, c *Conn, count func() int, want int) {
	t.Helper()
	for k := 0; count() < want; k++ {
		if k == 1000 {
			t.Fatalf("%d pongs, want %d", count(), want)
		}
		end := fmt.Sprint("end-", k)
		if !c.Send(Frame{Data: []byte(end), Inline: true}) {
			t.Fatal("not sent")
		}
		if got := readFrame(t, cl); got != end {
			t.Fatalf("got %.12q (%d bytes), want %q", got, len(got), end)
		}
	}
	if got := count(); got != want {
		t.Fatalf("%d pongs, want %d", got, want)
	}
}

// within waits, polling, until cond holds.
func within(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
