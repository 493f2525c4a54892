package loadgen

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// RaiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit (each
// connection is a file descriptor) and returns the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("setrlimit %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// SourceAddrs returns n loopback source addresses 127.0.0.2, 127.0.0.3, ...:
// every one has its own ~28,000 ephemeral ports, so tens of thousands of
// connections to one server port do not run out of them.
func SourceAddrs(n int) []net.IP {
	ips := make([]net.IP, 0, n)
	for i := range n {
		ips = append(ips, net.IPv4(127, 0, byte(i/250), byte(2+i%250)).To4())
	}
	return ips
}

// Dialer opens WebSocket connections from a rotating set of source
// addresses, doing the HTTP upgrade itself (upgrade.go) so that the bytes
// the server sent after its answer stay with the connection's reader.
type Dialer struct {
	sources []net.IP
	timeout time.Duration
	next    atomic.Uint64
	// reads lends the connections' readers a buffer while a read is in
	// progress or a frame incomplete (readChunk), so a receipt allocates
	// none and an idle connection holds none.
	reads *sync.Pool
	// loops read the connections' sockets (nil where there are none:
	// each connection then has a reader goroutine).
	loops *readLoops
}

// NewDialer returns a dialer that spreads connections over sources (none:
// the system picks) and gives up on a handshake after timeout.
func NewDialer(sources []net.IP, timeout time.Duration) *Dialer {
	return &Dialer{sources: sources, timeout: timeout, reads: &sync.Pool{New: func() any {
		b := make([]byte, readChunk)
		return &b
	}}, loops: newReadLoops()}
}

// dialTCP opens the TCP connection to addr from the next source address.
func (d *Dialer) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	if len(d.sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: d.sources[d.next.Add(1)%uint64(len(d.sources))]}
	}
	return nd.DialContext(ctx, "tcp", addr)
}
