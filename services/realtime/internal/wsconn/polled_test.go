package wsconn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// polledConn is the server end of a connection served by rawServer.
type polledConn struct {
	c      *Conn
	fd     uintptr // its socket's descriptor
	first  string  // the frame ReadBefore read, when asked to
	frames chan string
	reason chan string
}

// rawServer serves WebSocket connections with options o, each read by
// Start (after one ReadBefore when before is set), and sends each to
// conns. gate, when set, holds every Accept until it receives.
func rawServer(t *testing.T, o Options, before bool, gate chan struct{}) (addr string, conns chan *polledConn) {
	t.Helper()
	conns = make(chan *polledConn, 4)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pc := upgradePolled(t, w, r, o)
		if pc == nil {
			return
		}
		if before {
			_, data, err := pc.c.ReadBefore(time.Now().Add(10 * time.Second))
			if err != nil {
				t.Errorf("ReadBefore: %v", err)
			}
			pc.first = string(data)
		}
		pc.c.Start(10*time.Second, func(_ int, data []byte) bool {
			pc.frames <- string(data)
			return true
		}, func(reason string) { pc.reason <- reason })
		conns <- pc
	}))
	if gate != nil {
		hs.Listener = &gatedListener{Listener: hs.Listener, gate: gate, closed: make(chan struct{})}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return strings.TrimPrefix(hs.URL, "http://"), conns
}

// upgradePolled upgrades a request to a Conn with options o, its writer
// started; nil when the upgrade failed.
func upgradePolled(t *testing.T, w http.ResponseWriter, r *http.Request, o Options) *polledConn {
	up := websocket.Upgrader{ReadBufferSize: PolledReadBufferSize}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil
	}
	pc := &polledConn{c: New(ws, Plain{}, o), frames: make(chan string, 16), reason: make(chan string, 1)}
	pc.fd = fdOf(t, ws.NetConn())
	pc.c.StartWriter(time.Hour)
	return pc
}

// gatedListener accepts a connection only once gate has a value.
type gatedListener struct {
	net.Listener
	gate   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (l *gatedListener) Accept() (net.Conn, error) {
	select {
	case <-l.gate:
		return l.Listener.Accept()
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *gatedListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// fdOf is the descriptor of a connection's socket.
func fdOf(t *testing.T, c net.Conn) uintptr {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	if err := rc.Control(func(f uintptr) { fd = f }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// rawDial opens a WebSocket connection by hand and returns the bare
// socket, to write frames in whatever pieces a test needs.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 16), nil) // the 101 has no body; nothing follows it yet
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, pc *polledConn) string {
	t.Helper()
	select {
	case f := <-pc.frames:
		return f
	case r := <-pc.reason:
		t.Fatalf("the reader ended (%q) instead", r)
	}
	return ""
}

// TestPolledFrames: the polled reader's cases over a real socket: frames
// that come together in one write are all handled (the second one is
// already read when the first is handled); a frame that comes in pieces
// is handled once whole; frames sent right after the handshake's are
// handled although no readiness announces them.
func TestPolledFrames(t *testing.T) {
	t.Parallel()
	needPoller(t)
	t.Run("two frames in one write", func(t *testing.T) {
		t.Parallel()
		addr, conns := rawServer(t, opts(), false, nil)
		c := rawDial(t, addr)
		pc := <-conns
		write(t, c, append(clientFrame(websocket.TextMessage, true, []byte("one")), clientFrame(websocket.TextMessage, true, []byte("two"))...))
		if a, b := next(t, pc), next(t, pc); a != "one" || b != "two" {
			t.Fatalf("got %q, %q", a, b)
		}
	})
	t.Run("a frame in pieces", func(t *testing.T) {
		t.Parallel()
		addr, conns := rawServer(t, opts(), false, nil)
		c := rawDial(t, addr)
		pc := <-conns
		f := clientFrame(websocket.TextMessage, true, bytes.Repeat([]byte("z"), 300))
		for _, piece := range [][]byte{f[:1], f[1:3], f[3:100], f[100:]} {
			write(t, c, piece)
			// The pause makes the pieces likely to be read apart; the
			// outcome must be the same either way.
			time.Sleep(20 * time.Millisecond)
		}
		write(t, c, clientFrame(websocket.TextMessage, true, []byte("after")))
		if a, b := next(t, pc), next(t, pc); a != strings.Repeat("z", 300) || b != "after" {
			t.Fatalf("got %q, %q", a, b)
		}
	})
	t.Run("frames after the handshake's", func(t *testing.T) {
		t.Parallel()
		addr, conns := rawServer(t, opts(), true, nil)
		c := rawDial(t, addr)
		write(t, c, append(clientFrame(websocket.TextMessage, true, []byte("hello")), clientFrame(websocket.TextMessage, true, []byte("then"))...))
		pc := <-conns
		if pc.first != "hello" {
			t.Fatalf("ReadBefore read %q", pc.first)
		}
		if got := next(t, pc); got != "then" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("ping, pong, close", func(t *testing.T) {
		t.Parallel()
		addr, conns := rawServer(t, opts(), false, nil)
		c := rawDial(t, addr)
		pc := <-conns
		write(t, c, clientFrame(websocket.PingMessage, true, []byte("p1")))
		br := bufio.NewReader(c)
		if op, payload := serverFrame(t, br); op != websocket.PongMessage || payload != "p1" {
			t.Fatalf("answer %d %q", op, payload)
		}
		write(t, c, clientFrame(websocket.PongMessage, true, nil))
		write(t, c, clientFrame(websocket.CloseMessage, true, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")))
		if op, payload := serverFrame(t, br); op != websocket.CloseMessage || payload != string(websocket.FormatCloseMessage(1000, "")) {
			t.Fatalf("close echo %d %q", op, payload)
		}
		if r := <-pc.reason; r != protocol.LeftManual {
			t.Fatalf("reason %q", r)
		}
	})
	t.Run("server's close, client's answer", func(t *testing.T) {
		// A polled connection keeps no gorilla Conn: it writes its
		// control frames itself, and, as gorilla would, none after its
		// own close frame (the client's close is not echoed).
		t.Parallel()
		addr, conns := rawServer(t, opts(), false, nil)
		c := rawDial(t, addr)
		pc := <-conns
		if pc.c.ws != nil {
			t.Fatal("a polled connection keeps gorilla's Conn")
		}
		pc.c.Send(Frame{Data: []byte("last")})
		pc.c.CloseAfterQueue(websocket.CloseGoingAway, "going")
		br := bufio.NewReader(c)
		if op, payload := serverFrame(t, br); op != websocket.TextMessage || payload != "last" {
			t.Fatalf("frame %d %q", op, payload)
		}
		if op, payload := serverFrame(t, br); op != websocket.CloseMessage ||
			payload != string(websocket.FormatCloseMessage(websocket.CloseGoingAway, "going")) {
			t.Fatalf("close %d %q", op, payload)
		}
		write(t, c, clientFrame(websocket.PingMessage, true, []byte("p")))
		write(t, c, clientFrame(websocket.CloseMessage, true, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")))
		if r := <-pc.reason; r != protocol.LeftManual {
			t.Fatalf("reason %q", r)
		}
		<-pc.c.WriteDone()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("after the close frame: %q %v", rest, err)
		}
	})
	t.Run("protocol error", func(t *testing.T) {
		t.Parallel()
		addr, conns := rawServer(t, opts(), false, nil)
		c := rawDial(t, addr)
		pc := <-conns
		write(t, c, rawFrame(0x81, false, []byte("unmasked")))
		if op, payload := serverFrame(t, bufio.NewReader(c)); op != websocket.CloseMessage ||
			payload != string(websocket.FormatCloseMessage(websocket.CloseProtocolError, "bad MASK")) {
			t.Fatalf("answer %d %q", op, payload)
		}
		if r := <-pc.reason; r != protocol.LeftDisconnect {
			t.Fatalf("reason %q", r)
		}
	})
}

// serverFrame reads one unmasked, unfragmented server frame, of any length.
func serverFrame(t *testing.T, br *bufio.Reader) (op int, payload string) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n >= 126 {
		ext := make([]byte, 2)
		if n == 127 {
			ext = make([]byte, 8)
		}
		if _, err := io.ReadFull(br, ext); err != nil {
			t.Fatal(err)
		}
		n = 0
		for _, x := range ext {
			n = n<<8 | int(x)
		}
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatal(err)
	}
	return int(h[0] & 0xf), string(b)
}

// TestPolledWritesWhole: a polled connection's writer writes what the
// socket takes without waiting and the rest with a deadline; frames bigger
// than the socket's buffers, queued while the client reads nothing and
// pings, arrive whole and in order, the pongs only between them, and a
// client that then never reads is cut off after WriteTimeout
// (Overflow(false)). It fails when the rest of a partly written frame is
// lost or written twice, or when a write that waits never times out.
func TestPolledWritesWhole(t *testing.T) {
	needPoller(t)
	t.Parallel()
	overflows := make(chan bool, 4)
	o := opts()
	o.WriteTimeout = 5 * time.Second // for a whole frame through the small buffers below
	o.Overflow = func(refusal bool) { overflows <- refusal }
	addr, conns := rawServer(t, o, false, nil)
	cl := rawDial(t, addr)
	pc := <-conns
	// Small socket buffers on both sides: no frame fits whole.
	if err := syscall.SetsockoptInt(int(pc.fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 32<<10); err != nil {
		t.Fatal(err)
	}
	if err := cl.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	const frames, size = 6, 256 << 10
	var want []string
	for i := range frames {
		want = append(want, strings.Repeat(string(rune('a'+i)), size))
	}
	// The first frames fill the socket's buffers; the client's pings are
	// answered by the reader while the writer waits for room.
	for i, f := range want {
		if !pc.c.Send(Frame{Data: []byte(f)}) {
			t.Fatalf("frame %d not queued", i)
		}
		write(t, cl, clientFrame(websocket.PingMessage, true, []byte(fmt.Sprintf("p%d", i))))
	}
	br := bufio.NewReader(cl)
	_ = cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	pongs := 0
	for got := 0; got < frames; {
		op, payload := serverFrame(t, br)
		switch {
		case op == websocket.PongMessage:
			pongs++
		case op != websocket.TextMessage:
			t.Fatalf("frame %d: opcode %d", got, op)
		case payload != want[got]:
			t.Fatalf("frame %d: %d bytes starting %q, want %d of %q", got, len(payload), payload[:min(8, len(payload))], size, want[got][:1])
		default:
			got++
		}
	}
	for pongs < frames {
		if op, payload := serverFrame(t, br); op != websocket.PongMessage {
			t.Fatalf("opcode %d (%d bytes) after the frames, want the pongs", op, len(payload))
		}
		pongs++
	}
	// The client has every byte of the first round, but the writer may
	// not have counted its last batch written yet: its frames would still
	// take room in the queue.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pc.c.sendMu.Lock()
		pending := pc.c.pending
		pc.c.sendMu.Unlock()
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d frames of the first round still counted as queued", pending)
		}
		time.Sleep(time.Millisecond)
	}
	// Now the client reads nothing: the writer gets stuck and times out
	// (the queue holds these frames: no overflow of the queue; the
	// keepalive, 10 s, cuts off without Overflow).
	for i, f := range want {
		if !pc.c.Send(Frame{Data: []byte(f)}) {
			t.Fatalf("frame %d of the second round not queued", i)
		}
	}
	select {
	case refusal := <-overflows:
		if refusal {
			t.Fatal("Overflow(true) for a stuck write")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a write the client never took did not time out")
	}
	<-pc.c.WriteDone()
}

// TestPolledFdReuse: a connection that gets the descriptor number of one
// that has ended gets its own frames, and the ended one nothing more: the
// poller knows connections by a key of their own, not by descriptor.
// Not parallel: the descriptor numbers are the process's.
func TestPolledFdReuse(t *testing.T) {
	needPoller(t)
	gate := make(chan struct{}, 1)
	addr, conns := rawServer(t, opts(), false, gate)
	for attempt := 0; ; attempt++ {
		gate <- struct{}{}
		rawDial(t, addr)
		pa := <-conns
		b, err := net.Dial("tcp", addr) // queued until the gate opens again
		if err != nil {
			t.Fatal(err)
		}
		pa.c.Kill() // the server's descriptor is freed, the client's kept
		if r := <-pa.reason; r != protocol.LeftDisconnect {
			t.Fatalf("reason %q", r)
		}
		<-pa.c.WriteDone() // its socket is closed: its descriptor is free
		gate <- struct{}{}
		fmt.Fprintf(b, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
		if _, err := http.ReadResponse(bufio.NewReaderSize(b, 16), nil); err != nil {
			t.Fatal(err)
		}
		pb := <-conns
		write(t, b, clientFrame(websocket.TextMessage, true, []byte("for b")))
		if got := next(t, pb); got != "for b" {
			t.Fatalf("b got %q", got)
		}
		select {
		case f := <-pa.frames:
			t.Fatalf("the ended connection got %q", f)
		default:
		}
		_ = b.Close()
		<-pb.reason
		if pb.fd == pa.fd {
			return
		}
		if attempt == 10 {
			t.Fatalf("no descriptor was reused in %d attempts (last %d then %d)", attempt+1, pa.fd, pb.fd)
		}
	}
}

// TestPollerClose: Close ends the poller's goroutines (its waiter and
// every worker, warm or not). Not parallel: it counts goroutines.
func TestPollerClose(t *testing.T) {
	needPoller(t)
	before := pollerGoroutines()
	p, addr, conns := pollerServer(t)
	for range 3 {
		c := rawDial(t, addr)
		pc := <-conns
		write(t, c, clientFrame(websocket.TextMessage, true, []byte("x")))
		next(t, pc) // handled on one of p's workers
		_ = c.Close()
		<-pc.reason
	}
	if n := pollerGoroutines(); n <= before {
		t.Fatalf("%d poller goroutines with p running, %d before", n, before)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := pollerGoroutines(); n > before {
		t.Fatalf("%d poller goroutines after Close, %d before", n, before)
	}
	if p.workers.Load() != 0 {
		t.Fatalf("%d workers counted after Close", p.workers.Load())
	}
}

// pollerServer starts a poller of the test's own (the caller closes it)
// and a rawServer whose connections it reads.
func pollerServer(t *testing.T) (p *Poller, addr string, conns chan *polledConn) {
	t.Helper()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	o := opts()
	o.Poller = p
	addr, conns = rawServer(t, o, false, nil)
	return p, addr, conns
}

// pollerGoroutines counts the goroutines in a poller's waiter or workers.
func pollerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "wsconn.(*Poller).work(") || strings.Contains(g, "wsconn.(*epoll).wait(") {
			n++
		}
	}
	return n
}

// cpuTime is the CPU time the process has used (the client's included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRead: one client frame handled, the next sent once it was (so
// every frame finds its reader idle, as an interview's do), on each
// reader: the CPU and wake-ups a frame costs from the socket to the
// handler.
func BenchmarkRead(b *testing.B) {
	for _, rd := range readers {
		b.Run(rd.name, func(b *testing.B) {
			handled := make(chan struct{})
			up := websocket.Upgrader{ReadBufferSize: ReadBufferSize}
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				c := New(ws, Plain{}, rd.opts(opts()))
				c.StartWriter(time.Hour)
				c.Start(time.Hour, func(int, []byte) bool {
					handled <- struct{}{}
					return true
				}, func(string) {})
			}))
			defer hs.Close()
			cl, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			msg := []byte(`{"type":"cursor-update","payload":{"position":{"line":3,"column":14}}}`)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				if err := cl.WriteMessage(websocket.TextMessage, msg); err != nil {
					b.Fatal(err)
				}
				<-handled
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// handledWithin returns the next frame pc's handler got, failing when
// none comes within 10 s: a frame the poller was not told of (a lost
// edge) is never read.
func handledWithin(t *testing.T, pc *polledConn, what string) string {
	t.Helper()
	select {
	case f := <-pc.frames:
		return f
	case r := <-pc.reason:
		t.Fatalf("the reader ended (%q) before %s", r, what)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was never handled", what)
	}
	return ""
}

// marked reports whether c's reader was marked to read again (polled.again).
func marked(c *Conn) bool {
	c.pr.mu.Lock()
	defer c.pr.mu.Unlock()
	return c.pr.again
}

// TestPolledEdges: the connection is registered once, edge-triggered,
// so every way bytes can arrive must still get them read: frames that
// arrive one by one while the handler of an earlier one runs (each edge
// finds the connection running, and its worker reads again), more than a
// worker's maxReads reads take in one turn (its registration is modified
// so epoll reports the rest), and frames each sent as soon as the one
// before was handled, on many connections at once.
func TestPolledEdges(t *testing.T) {
	t.Parallel()
	needPoller(t)
	t.Run("frames during a handler", func(t *testing.T) {
		t.Parallel()
		blocked, release := make(chan struct{}), make(chan struct{})
		frames := make(chan string, 64)
		served := make(chan *Conn, 1)
		up := websocket.Upgrader{ReadBufferSize: PolledReadBufferSize}
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			c := New(ws, Plain{}, opts())
			c.StartWriter(time.Hour)
			served <- c
			c.Start(10*time.Second, func(_ int, data []byte) bool {
				if string(data) == "block" {
					close(blocked)
					<-release
				}
				frames <- string(data)
				return true
			}, func(string) {})
		}))
		t.Cleanup(hs.Close)
		var releaseOnce sync.Once
		unblock := func() { releaseOnce.Do(func() { close(release) }) }
		t.Cleanup(unblock) // before hs.Close, which waits for the handler
		c := rawDial(t, strings.TrimPrefix(hs.URL, "http://"))
		sc := <-served
		write(t, c, clientFrame(websocket.TextMessage, true, []byte("block")))
		<-blocked
		// The handler runs: each of these is an edge that finds the
		// connection running, after the read that took "block".
		for i := range 20 {
			write(t, c, clientFrame(websocket.TextMessage, true, []byte(strconv.Itoa(i))))
			time.Sleep(time.Millisecond) // apart, each its own edge (the outcome must be the same either way)
		}
		// Once the poller has seen an edge of them, they are the worker's
		// to read: no edge comes for them after it lets the connection
		// wait.
		deadline := time.Now().Add(10 * time.Second)
		for !marked(sc) {
			if time.Now().After(deadline) {
				t.Fatal("the poller never reported the frames sent while the handler ran")
			}
			time.Sleep(time.Millisecond)
		}
		unblock()
		for i := -1; i < 20; i++ {
			want := "block"
			if i >= 0 {
				want = strconv.Itoa(i)
			}
			select {
			case got := <-frames:
				if got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%q was never handled", want)
			}
		}
	})
	t.Run("more than a turn's reads", func(t *testing.T) {
		t.Parallel()
		addr, conns := rawServer(t, opts(), false, nil)
		c := rawDial(t, addr)
		pc := <-conns
		const frames = 300 // 150 KB: dozens of reads of readChunk
		var burst []byte
		for i := range frames {
			burst = append(burst, clientFrame(websocket.TextMessage, true, []byte(fmt.Sprintf("%03d%s", i, strings.Repeat("x", 497))))...)
		}
		go func() { _, _ = c.Write(burst) }()
		for i := range frames {
			got := handledWithin(t, pc, fmt.Sprintf("frame %d of the burst", i))
			if want := fmt.Sprintf("%03d", i); !strings.HasPrefix(got, want) || len(got) != 500 {
				t.Fatalf("frame %d: got %q...", i, got[:min(len(got), 8)])
			}
		}
	})
	t.Run("ping-pong on many connections", func(t *testing.T) {
		t.Parallel()
		const conns, rounds = 100, 50
		// A poller of its own: the workers these connections start end
		// with it, not 2 s later among the ones TestPollerClose counts.
		p, err := NewPoller()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() }) // after the server's and the clients' cleanups
		o := opts()
		o.Poller = p
		gate := make(chan struct{}, conns)
		addr, accepted := rawServer(t, o, false, gate)
		var wg sync.WaitGroup
		errs := make(chan string, conns)
		for k := range conns {
			gate <- struct{}{}
			c := rawDial(t, addr)
			pc := <-accepted
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					// Two frames in two writes, the next round as soon as
					// both were handled: the second often arrives while
					// the first is read or handled.
					for _, m := range []string{"a", "b"} {
						want := fmt.Sprintf("%d/%d%s", k, i, m)
						if _, err := c.Write(clientFrame(websocket.TextMessage, true, []byte(want))); err != nil {
							errs <- err.Error()
							return
						}
					}
					for _, m := range []string{"a", "b"} {
						want := fmt.Sprintf("%d/%d%s", k, i, m)
						select {
						case got := <-pc.frames:
							if got != want {
								errs <- fmt.Sprintf("connection %d: got %q, want %q", k, got, want)
								return
							}
						case r := <-pc.reason:
							errs <- fmt.Sprintf("connection %d ended (%q) before %q", k, r, want)
							return
						case <-time.After(10 * time.Second):
							errs <- fmt.Sprintf("connection %d: %q was never handled", k, want)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
}

// unreadBytes is what a socket holds that its reader has not read yet
// (ioctl FIONREAD).
func unreadBytes(t *testing.T, fd uintptr) int {
	t.Helper()
	var n int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatal(errno)
	}
	return int(n)
}

// TestKeepaliveStall: the keepalive judges a client by what arrived, not
// by what the instance got round to reading. The poller's waiter is held
// (it blocks on a connection whose lock the test holds) for longer than
// the keepalive window: a client whose pong and frame sit unread in its
// socket is served by its keepalive check and stays, and one that sent
// nothing still ends with timeout.
func TestKeepaliveStall(t *testing.T) {
	t.Parallel()
	needPoller(t)
	const keepalive = 300 * time.Millisecond
	// A poller of its own: the one held here reads no other test's
	// connections.
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	o := opts()
	o.Poller = p
	// Each connection is started once the test sends on start, so a
	// client's frames can be in its socket before its window begins.
	start, quit := make(chan struct{}, 3), make(chan struct{})
	// The handler of "alive" waits for resume: while it runs, the
	// connection cannot time out.
	resume := make(chan struct{})
	conns := make(chan *polledConn, 3)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pc := upgradePolled(t, w, r, o)
		if pc == nil {
			return
		}
		select {
		case <-start:
		case <-quit:
			pc.c.Kill()
			return
		}
		pc.c.Start(keepalive, func(_ int, data []byte) bool {
			pc.frames <- string(data)
			if string(data) == "alive" {
				<-resume
			}
			return true
		}, func(reason string) { pc.reason <- reason })
		conns <- pc
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(quit) })
	var resumeOnce sync.Once
	unblock := func() { resumeOnce.Do(func() { close(resume) }) }
	t.Cleanup(unblock)
	addr := strings.TrimPrefix(hs.URL, "http://")

	// The holder: the waiter blocks in its readyFor on its lock, held
	// here, as soon as its frame arrives; every edge after it waits.
	start <- struct{}{}
	holderClient := rawDial(t, addr)
	holder := <-conns
	holder.c.pr.mu.Lock()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(holder.c.pr.mu.Unlock) }
	t.Cleanup(release) // before the poller's Close, which waits for the waiter
	write(t, holderClient, clientFrame(websocket.TextMessage, true, []byte("hold")))
	for unreadBytes(t, holder.fd) == 0 { // its edge is queued before any of the others
		time.Sleep(time.Millisecond)
	}

	// The live client: its pong and a frame are in its socket when its
	// window begins, and the waiter never dispatches them.
	liveClient := rawDial(t, addr)
	write(t, liveClient, append(clientFrame(websocket.PongMessage, true, nil), clientFrame(websocket.TextMessage, true, []byte("alive"))...))
	start <- struct{}{}
	live := <-conns
	// The silent client sends nothing.
	_ = rawDial(t, addr)
	start <- struct{}{}
	silent := <-conns

	// Only its keepalive check can have the frame read while the waiter
	// is held.
	if got := handledWithin(t, live, "the frame that sat unread past the keepalive window"); got != "alive" {
		t.Fatalf("got %q", got)
	}
	select {
	case r := <-silent.reason:
		if r != protocol.LeftTimeout {
			t.Fatalf("the silent client left with %q, want timeout", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the silent client never timed out")
	}

	// The next frame is in the socket before the handler of "alive"
	// returns, so however late it is read (by the released waiter, or by
	// the next check) the client is still there to have it read.
	write(t, liveClient, clientFrame(websocket.TextMessage, true, []byte("still here")))
	unblock()
	release()
	for _, w := range []struct {
		pc   *polledConn
		want string
	}{{live, "still here"}, {holder, "hold"}} {
		select { // a timeout may follow the frame: only the frame is looked at
		case got := <-w.pc.frames:
			if got != w.want {
				t.Fatalf("got %q, want %q", got, w.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q was never handled", w.want)
		}
	}
	live.c.Kill()
	holder.c.Kill()
}
