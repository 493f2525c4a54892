package realtime_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/protocol"
)

// footprintConns is how many Socket.IO connections BenchmarkIdleFootprint
// holds open, two users per session as in benchrun's idle scenario.
const footprintConns = 2000

// BenchmarkIdleFootprint measures what an idle Socket.IO connection costs
// the server: it opens footprintConns real connections (raw sockets on the
// client side, no client goroutine or buffer, so the figures are the
// server's plus a net.Conn per client) to one instance on a real NATS
// server, lets them settle, and reports per connection the Go heap in use,
// the goroutine stacks, the goroutines and the process's RSS, each as the
// difference from before the connections opened, once per WS_READER (the
// epoll reader, the default, and the goroutine reader). Run it with
// -benchtime 1x:
//
//	go test -run '^$' -bench IdleFootprint -benchtime 1x ./services/realtime/
func BenchmarkIdleFootprint(b *testing.B) {
	for _, reader := range []string{config.ReaderEpoll, config.ReaderGoroutine} {
		b.Run(reader, func(b *testing.B) { idleFootprint(b, reader) })
	}
}

func idleFootprint(b *testing.B, reader string) {
	cl := newCluster(b)
	// The raw clients never read: a keeper sends each a pong every few
	// seconds, as a client that answers the pings it is sent, so that
	// none ends at the keepalive (PRESENCE_TIMEOUT*2/3, 20 s) however long
	// a busy machine takes to open them; the pings and presence heartbeats
	// of a 30 s timeout belong in the idle window. held checks that all
	// of them were still open when measured.
	inst := cl.start(instanceOpts{env: map[string]string{
		"WS_MAX_CONNECTIONS_PER_IP": "0", "SESSION_MAX_USERS": "2", "PRESENCE_TIMEOUT": "30s", "WS_READER": reader,
	}})
	held := func(when string) {
		if got := inst.svc.Stats().Connections; got != footprintConns {
			b.Fatalf("%s: %d of %d connections open (the machine took longer than the keepalive to open them)",
				when, got, footprintConns)
		}
	}
	addr := strings.TrimPrefix(inst.srv.URL, "http://")
	sids := make([]string, footprintConns/2)
	for i := range sids {
		sids[i] = cl.newSession(protocol.LangPython).ID
	}
	for range b.N {
		before := footprint()
		k := startKeeper()
		conns := make([]net.Conn, 0, footprintConns)
		for i := range footprintConns {
			c := dialIdleSIO(b, addr, sids[i/2], fmt.Sprintf("u%d", i))
			conns = append(conns, c)
			k.add(c)
		}
		time.Sleep(time.Second) // the last joins' presence-updates are written
		after := footprint()
		held("measured")
		n := float64(footprintConns)
		b.ReportMetric(float64(after.heap-before.heap)/n, "heap-B/conn")
		b.ReportMetric(float64(after.stack-before.stack)/n, "stack-B/conn")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/n, "goroutines/conn")
		b.ReportMetric(float64(after.rss-before.rss)/n, "rss-B/conn")
		// What the idle connections cost over time: the process's CPU,
		// its allocations and its collections while nothing happens.
		writes := presenceWrites(b, cl)
		idle := idleCost(footprintIdle)
		writes = presenceWrites(b, cl) - writes
		held("after the idle window")
		b.ReportMetric(idle.cpu*100, "idle-cpu-%")
		b.ReportMetric(float64(writes)/footprintIdle.Seconds(), "idle-presence-writes/s")
		b.ReportMetric(idle.allocs/n, "idle-alloc-B/s/conn")
		b.ReportMetric(idle.gcs*60, "idle-gc/min")
		k.stop()
		for _, c := range conns {
			_ = c.Close()
		}
		within(b, waitTimeout, "the connections to end", func() bool {
			return footprint().goroutines <= before.goroutines+10
		})
	}
}

// presenceWrites is how many writes the presence buckets (the entries and
// the heartbeats) have stored so far: their streams' last sequences.
func presenceWrites(b *testing.B, cl *cluster) uint64 {
	return lastSeq(b, cl.in.Presence) + lastSeq(b, cl.in.PresenceInstances)
}

// keeper sends a masked, empty pong frame to each of its connections
// every keeperEvery, on one goroutine of its own until stop: the
// server's keepalive counts any frame, and a pong asks for no answer.
type keeper struct {
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
	wg    sync.WaitGroup
}

// keeperEvery is well inside the keepalive of a 30 s presence timeout.
const keeperEvery = 5 * time.Second

func startKeeper() *keeper {
	k := &keeper{done: make(chan struct{})}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		// A client's pong frame: FIN and opcode 0xA, the mask bit and an
		// empty payload behind a zero key.
		pong := []byte{0x8a, 0x80, 0, 0, 0, 0}
		t := time.NewTicker(keeperEvery)
		defer t.Stop()
		for {
			select {
			case <-k.done:
				return
			case <-t.C:
			}
			k.mu.Lock()
			conns := k.conns
			k.mu.Unlock()
			for _, c := range conns {
				_, _ = c.Write(pong) // a failed write shows as a lost connection in held
			}
		}
	}()
	return k
}

func (k *keeper) add(c net.Conn) {
	k.mu.Lock()
	k.conns = append(k.conns, c)
	k.mu.Unlock()
}

func (k *keeper) stop() {
	close(k.done)
	k.wg.Wait()
}

// footprintIdle is how long BenchmarkIdleFootprint watches the idle
// connections' cost over time: ten of the document sweep's ticks.
const footprintIdle = 10 * time.Second

// idleRate is what the process spent per second of a window: CPU (cores),
// bytes allocated and collections.
type idleRate struct{ cpu, allocs, gcs float64 }

// idleProfiles names a directory where BenchmarkIdleFootprint writes the
// profiles of its idle window: idle.cpu, and idle-start.heap and
// idle-end.heap, whose difference (go tool pprof -sample_index
// alloc_space -diff_base idle-start.heap idle-end.heap) is what the idle
// connections allocated.
var idleProfiles = flag.String("footprint.profiles", "", "BenchmarkIdleFootprint: write the idle window's CPU and heap profiles into this directory")

// idleCost watches the process for d (the measurement is the wait).
func idleCost(d time.Duration) idleRate {
	var m0, m1 runtime.MemStats
	stop := startIdleProfiles()
	runtime.ReadMemStats(&m0)
	c0, start := cpuTime(), time.Now()
	time.Sleep(d)
	c1, took := cpuTime(), time.Since(start)
	runtime.ReadMemStats(&m1)
	stop()
	sec := took.Seconds()
	return idleRate{cpu: (c1 - c0).Seconds() / sec, allocs: float64(m1.TotalAlloc-m0.TotalAlloc) / sec,
		gcs: float64(m1.NumGC-m0.NumGC) / sec}
}

// startIdleProfiles starts the idle window's profiles (-footprint.profiles)
// and returns what ends them; without the flag, or when the test binary
// already profiles the CPU, it does nothing.
func startIdleProfiles() (stop func()) {
	dir := *idleProfiles
	if dir == "" {
		return func() {}
	}
	heap := func(name string) {
		runtime.GC() // the heap profile is as of the last collection
		if f, err := os.Create(filepath.Join(dir, name)); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			_ = f.Close()
		}
	}
	heap("idle-start.heap")
	f, err := os.Create(filepath.Join(dir, "idle.cpu"))
	if err == nil && pprof.StartCPUProfile(f) != nil {
		_ = f.Close()
		f = nil
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			_ = f.Close()
		}
		heap("idle-end.heap")
	}
}

// cpuTime is the CPU time the process used so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// usage is a process's memory at one moment, after a full collection.
type usage struct {
	heap, stack, rss uint64
	goroutines       int
}

func footprint() usage {
	// Each collection halves the stacks that use under a quarter of
	// theirs: an idle server's periodic collections get there too.
	for range 4 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{heap: m.HeapInuse, stack: m.StackInuse, rss: rss(), goroutines: runtime.NumGoroutine()}
}

// rss reads the process's resident set from /proc (0 where there is none).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// dialIdleSIO opens a Socket.IO connection by hand (HTTP upgrade, the open
// packet, CONNECT, until connected) and returns the bare socket, which
// nobody reads from then on.
func dialIdleSIO(tb testing.TB, addr, sid, uid string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	q := url.Values{"EIO": {"4"}, "transport": {"websocket"}, "sessionId": {sid}, "userId": {uid},
		"token": {joinToken(sid, uid, uid)}}
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(c, "GET /socket.io/?%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", q.Encode(), addr, base64.StdEncoding.EncodeToString(key[:]))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("upgrade as %s: %v %v", uid, resp, err)
	}
	if f := readServerFrame(tb, br); !bytes.HasPrefix(f, []byte("0{")) {
		tb.Fatalf("open packet %q", f)
	}
	writeClientFrame(tb, c, []byte("40"))
	for {
		if f := readServerFrame(tb, br); bytes.HasPrefix(f, []byte(`42["connected"`)) {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c
}

// readServerFrame reads one unmasked, unfragmented server frame's payload.
func readServerFrame(tb testing.TB, r *bufio.Reader) []byte {
	tb.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		tb.Fatal(err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			tb.Fatal(err)
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			tb.Fatal(err)
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// writeClientFrame writes one masked text frame of fewer than 126 bytes.
func writeClientFrame(tb testing.TB, w io.Writer, p []byte) {
	tb.Helper()
	f := []byte{0x81, 0x80 | byte(len(p)), 1, 2, 3, 4}
	for i, c := range p {
		f = append(f, c^f[2+i%4])
	}
	if _, err := w.Write(f); err != nil {
		tb.Fatal(err)
	}
}
