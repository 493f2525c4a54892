package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/natstest"
)

const batchWait = 10 * time.Second

// socketPair is a connected loopback TCP pair: the client end wrapped in a
// batchConn holding writes for delay, and the server end.
func socketPair(t *testing.T, delay time.Duration) (*batchConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d := batchDialer{delay: delay, writeTimeout: 200 * time.Millisecond}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := <-accepted
	if srv == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	return c.(*batchConn), srv
}

func (c *batchConn) writeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// readN reads exactly n bytes from c, failing after batchWait.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(batchWait))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// TestBatchConnWrites: held writes go out without another write once the
// delay passes (deferred), at once when the buffer would pass its bound
// (bound), and on Close, which also stops the timer (close).
func TestBatchConnWrites(t *testing.T) {
	msgs := func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			fmt.Fprintf(&b, "PUB peer.%d 5\r\nhello\r\n", i)
		}
		return b.Bytes()
	}
	tests := []struct {
		name   string
		delay  time.Duration
		writes [][]byte
		// then: after the writes, before the peer reads
		then       func(t *testing.T, c *batchConn)
		wantWrites int // writes made to the socket; 0: at most len(writes)
	}{
		{name: "deferred", delay: time.Millisecond, writes: [][]byte{msgs(1), msgs(2), msgs(3)}},
		{name: "bound", delay: time.Hour, writes: [][]byte{msgs(100), msgs(100), bytes.Repeat([]byte("x"), batchMaxBytes)}, wantWrites: 1},
		{name: "close", delay: time.Hour, writes: [][]byte{msgs(10), msgs(10)}, wantWrites: 1, then: func(t *testing.T, c *batchConn) {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if c.timer.Stop() {
				t.Error("Close left the timer running")
			}
			if _, err := c.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after Close = %v, want net.ErrClosed", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := socketPair(t, tt.delay)
			var want []byte
			for _, w := range tt.writes {
				if n, err := c.Write(w); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				want = append(want, w...)
			}
			if tt.then != nil {
				tt.then(t, c)
			}
			if got := readN(t, srv, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("peer read %d bytes differing from the %d written", len(got), len(want))
			}
			got := c.writeCount()
			if tt.wantWrites > 0 && got != tt.wantWrites || got < 1 || got > len(tt.writes) {
				t.Errorf("%d socket writes for %d Writes, want %d", got, len(tt.writes), tt.wantWrites)
			}
		})
	}
}

// TestBatchConnFailedFlushCloses: a deferred write that fails closes the
// connection, so a reader of it (the NATS client's) fails too, and later
// writes return the error.
func TestBatchConnFailedFlushCloses(t *testing.T) {
	c, _ := socketPair(t, time.Millisecond)
	if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatalf("held Write = %v", err)
	}
	c.SetReadDeadline(time.Now().Add(batchWait))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after a failed flush = %v, want the connection closed", err)
	}
	if _, err := c.Write([]byte("PING\r\n")); err == nil {
		t.Error("Write after a failed flush succeeded")
	}
}

// TestBatchConnStalledReader: a peer that stops reading fails the socket
// write after writeTimeout, which closes the connection, instead of holding
// the writer (and every publisher behind the mutex) forever.
func TestBatchConnStalledReader(t *testing.T) {
	c, _ := socketPair(t, time.Hour)
	chunk := bytes.Repeat([]byte("x"), batchMaxBytes/2)
	for i := 0; ; i++ {
		if i == 1<<15 { // 512 MiB: far beyond any socket buffer
			t.Fatal("writes to a peer that never reads kept succeeding")
		}
		if _, err := c.Write(chunk); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Write = %v, want a write timeout", err)
			}
			break
		}
	}
	c.SetReadDeadline(time.Now().Add(batchWait))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after a timed-out write = %v, want the connection closed", err)
	}
}

// TestConnectFlushDelay publishes through Connect's batched connection to
// a real server: every message arrives, complete and in order, a burst goes
// out in far fewer writes than publishes, and when the socket breaks the
// client reconnects on a new batched connection and publishing works again.
func TestConnectFlushDelay(t *testing.T) {
	srv := natstest.Start(t)
	sub, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs := make(chan *nats.Msg, 10000)
	if _, err := sub.ChanSubscribe("peer.>", msgs); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var conns []*batchConn
	reconnected := make(chan struct{}, 1)
	pub, err := Connect(srv.ClientURL(), ConnOptions{Name: "batched", NoEcho: true, FlushDelay: 200 * time.Millisecond,
		OnReconnect: func() { reconnected <- struct{}{} },
		dialed: func(c *batchConn) {
			mu.Lock()
			defer mu.Unlock()
			conns = append(conns, c)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	dialed := func() []*batchConn {
		mu.Lock()
		defer mu.Unlock()
		return append([]*batchConn(nil), conns...)
	}

	const n = 5000
	before := dialed()[0].writeCount()
	for i := range n {
		if err := pub.Publish("peer."+strconv.Itoa(i%7), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil { // PING/PONG: held up to 200 ms too
		t.Fatal(err)
	}
	receive := func(want string) {
		t.Helper()
		select {
		case m := <-msgs:
			if string(m.Data) != want {
				t.Fatalf("received %q, want %q", m.Data, want)
			}
		case <-time.After(batchWait):
			t.Fatalf("message %q never arrived", want)
		}
	}
	for i := range n {
		receive(strconv.Itoa(i))
	}
	if w := dialed()[0].writeCount() - before; w > n/10 {
		t.Errorf("%d publishes took %d socket writes", n, w)
	}

	// Break the socket under the client: the server sees it end, the
	// client's reader fails, and it redials.
	dialed()[0].Conn.Close()
	select {
	case <-reconnected:
	case <-time.After(batchWait):
		t.Fatal("no reconnect after the socket broke")
	}
	if got := len(dialed()); got != 2 {
		t.Fatalf("%d connections dialled, want 2", got)
	}
	if err := pub.Publish("peer.after", []byte("after")); err != nil {
		t.Fatal(err)
	}
	receive("after")
}
