package natstest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Proxy is a TCP proxy in front of a NATS server whose answers can be held
// back: while held, what clients send still reaches the server (a publish
// is stored) but nothing the server sends reaches them (its acknowledgement
// does not arrive, nor do subscription messages) until Release. That is a
// server that stalls on its way back, as a saturated or partitioned one
// does, over real sockets.
type Proxy struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	held  bool
	down  bool // Down: connections are cut and refused until Up
	cond  *sync.Cond
	conns []net.Conn
	done  bool
	wg    sync.WaitGroup
}

// SingleAndCluster runs f as two subtests: for a single server, and for a
// three-node cluster.
func SingleAndCluster(t *testing.T, f func(t *testing.T, cluster bool)) {
	t.Run("single server", func(t *testing.T) { f(t, false) })
	t.Run("3-node cluster", func(t *testing.T) { f(t, true) })
}

// Await polls cond every 10 ms until it holds; ctx bounds it only against
// a hang, failing the test with what it waited for.
func Await(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("still waiting for %s: %v", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Receive returns what ch delivers; ctx bounds the wait only against a
// hang, failing the test with what it waited for.
func Receive[T any](t testing.TB, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("still waiting for %s: %v", what, ctx.Err())
		panic("unreachable")
	}
}

// StartBehindProxy starts a single server, or a three-node cluster when
// cluster is set, with a proxy in front of it (of the first node), and
// connects directly to it (to the second node) for checks the proxy must
// not disturb; replicas is what streams on it should have.
func StartBehindProxy(t testing.TB, cluster bool) (px *Proxy, direct *nats.Conn, replicas int) {
	t.Helper()
	if cluster {
		c := StartCluster(t, 3)
		return StartProxy(t, c.Servers[0].Addr().String()), c.ConnectEach(t)[1], 3
	}
	srv := Start(t)
	return StartProxy(t, srv.Addr().String()), Connect(t, srv), 1
}

// StartProxy proxies to the NATS server at target (host:port) until the
// test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: target}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is the nats:// URL clients connect to.
func (p *Proxy) URL() string { return "nats://" + p.l.Addr().String() }

// Connect opens a client connection through the proxy, closed when the
// test ends; it reconnects through the proxy only.
func (p *Proxy) Connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(p.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.IgnoreDiscoveredServers())
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Hold stops passing what the server sends until Release.
func (p *Proxy) Hold() {
	p.mu.Lock()
	p.held = true
	p.mu.Unlock()
}

// Release passes what the server sent while held, and everything after.
func (p *Proxy) Release() {
	p.mu.Lock()
	p.held = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Cut closes every connection through the proxy, dropping what was held
// (an acknowledgement on its way is lost), and stops holding: clients
// reconnect through it at once.
func (p *Proxy) Cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close() // first: a held pipe woken below finds its socket closed
	}
	p.Release()
}

// Down cuts every connection through the proxy and refuses new ones until
// Up: the clients behind it are cut off from NATS, which itself stays up
// for everyone else.
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.Cut()
}

// Up lets the clients behind the proxy reconnect.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// CutWhen waits (Await) until cond holds, then cuts (Cut): what the proxy
// held, such as the acknowledgement of a message cond saw stored, is lost.
func (p *Proxy) CutWhen(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	Await(t, ctx, what, cond)
	p.Cut()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.done {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns = append(p.conns, c, s)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(s, c, false)
		go p.pipe(c, s, true)
	}
}

// pipe copies from src to dst; down is the server-to-client direction,
// which Hold stops. Either side closing closes both.
func (p *Proxy) pipe(dst, src net.Conn, down bool) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if down && !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait blocks while the proxy is held; false once it is closing.
func (p *Proxy) wait() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.held && !p.done {
		p.cond.Wait()
	}
	return !p.done
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.done = true
	p.cond.Broadcast()
	conns := p.conns
	p.mu.Unlock()
	p.l.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
}
