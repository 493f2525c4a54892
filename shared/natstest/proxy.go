package natstest

import (
	"net"
	"sync"
	"testing"
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
	cond  *sync.Cond
	conns []net.Conn
	done  bool
	wg    sync.WaitGroup
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

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
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
