package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// tokenSecret is the TOKEN_SECRET every server of a run shares.
const tokenSecret = "pairpad-bench-token-secret"

// benchEnv is what every server process gets: REST limits off, no
// per-address connection limit (the generator dials from a few loopback
// addresses), room for the crowd, pprof on.
var benchEnv = []string{
	"TOKEN_SECRET=" + tokenSecret, "LOG_LEVEL=warn",
	"RATE_LIMIT_CREATE=0", "RATE_LIMIT_JOIN=0", "RATE_LIMIT_DEFAULT=0",
	"WS_MAX_CONNECTIONS_PER_IP=0", "SESSION_MAX_USERS=200", "PPROF=true",
}

// buildBinaries compiles the processes under test into dir.
func buildBinaries(ctx context.Context, root, dir string, log io.Writer) error {
	fmt.Fprintf(log, "building the servers into %s\n", dir)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", dir+string(filepath.Separator),
		"./deploy/local/cmd/pairpad", "./services/api/cmd/api", "./services/realtime/cmd/realtime", "./services/janitor/cmd/janitor",
		"./bench/cmd/loadgen")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// proc is one server process of a layout.
type proc struct {
	name string
	cmd  *exec.Cmd
	port int
	out  *syncBuffer
	done chan struct{}
}

func (p *proc) base() string { return fmt.Sprintf("http://127.0.0.1:%d", p.port) }

// layout is a set of running processes and how the generator reaches them.
type layout struct {
	name  string
	procs []*proc
	opts  loadgen.Options // APIURL, WSURLs, Targets
}

// profiled returns the processes worth profiling: those serving WebSockets.
func (l *layout) profiled() []*proc {
	var out []*proc
	for _, p := range l.procs {
		if p.name == "all-in-one" || strings.HasPrefix(p.name, "realtime") {
			out = append(out, p)
		}
	}
	return out
}

// watched returns the processes whose RSS interview-light follows: those
// serving WebSockets.
func (l *layout) watched() []loadgen.Target {
	var out []loadgen.Target
	for _, p := range l.procs {
		if p.name == "relay" || p.name == "all-in-one" || strings.HasPrefix(p.name, "realtime") {
			out = append(out, loadgen.Target{Name: p.name, PID: p.cmd.Process.Pid})
		}
	}
	return out
}

// stop ends every process, newest first, with SIGTERM and then SIGKILL.
func (l *layout) stop() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		p := l.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// startAllInOne runs the all-in-one with its embedded NATS server.
func startAllInOne(ctx context.Context, bin, dataDir string) (*layout, error) {
	l := &layout{name: "all-in-one"}
	p, err := startProc(ctx, "all-in-one", filepath.Join(bin, "pairpad"),
		append([]string{"NATS_LISTEN=127.0.0.1:-1", "DATA_DIR=" + dataDir}, benchEnv...))
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, p)
	ws := "ws" + strings.TrimPrefix(p.base(), "http")
	l.opts = loadgen.Options{APIURL: p.base(), WSURLs: []string{ws},
		Targets: []loadgen.Target{{Name: p.name, URL: p.base()}}}
	return l, nil
}

// startRelay runs the floor: the bare Socket.IO relay (this program,
// re-executed as `benchrun relay`).
func startRelay(ctx context.Context) (*layout, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := startProc(ctx, "relay", self, nil, "relay")
	if err != nil {
		return nil, err
	}
	ws := "ws" + strings.TrimPrefix(p.base(), "http")
	return &layout{name: "relay (floor)", procs: []*proc{p}, opts: loadgen.Options{APIURL: p.base(), WSURLs: []string{ws},
		Targets: []loadgen.Target{{Name: p.name, PID: p.cmd.Process.Pid}}}}, nil
}

// startSplit runs a NATS server (this program, re-executed), the api, the
// janitor and realtimes realtime instances: the scaled-out layout, on one
// machine.
func startSplit(ctx context.Context, bin, dataDir string, realtimes int) (*layout, error) {
	l := &layout{name: fmt.Sprintf("split: api + %d realtime + janitor + nats", realtimes)}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var nats *proc
	var natsPort int
	for attempt := 1; ; attempt++ { // the port may be taken before NATS binds it
		if natsPort, err = freePort(); err != nil {
			return nil, err
		}
		if nats, err = startProc(ctx, "nats", self, nil, "nats", "-port", fmt.Sprint(natsPort), "-store", dataDir); err != nil {
			return nil, err
		}
		if err = waitTCP(ctx, natsPort, nats); err == nil {
			break
		}
		_ = nats.cmd.Process.Kill()
		<-nats.done
		if attempt == 3 {
			return nil, err
		}
	}
	l.procs = append(l.procs, nats)
	env := append([]string{fmt.Sprintf("NATS_URL=nats://127.0.0.1:%d", natsPort)}, benchEnv...)
	l.opts.Targets = append(l.opts.Targets, loadgen.Target{Name: "nats", PID: nats.cmd.Process.Pid})
	procs := []struct{ name, binary string }{{"api", "api"}, {"janitor", "janitor"}}
	for i := range realtimes {
		procs = append(procs, struct{ name, binary string }{fmt.Sprintf("realtime-%d", i+1), "realtime"})
	}
	for _, pr := range procs {
		name, binary := pr.name, filepath.Join(bin, pr.binary)
		p, err := startProc(ctx, name, binary, env)
		if err != nil {
			l.stop()
			return nil, err
		}
		l.procs = append(l.procs, p)
		l.opts.Targets = append(l.opts.Targets, loadgen.Target{Name: name, URL: p.base()})
		switch {
		case name == "api":
			l.opts.APIURL = p.base()
		case strings.HasPrefix(name, "realtime"):
			l.opts.WSURLs = append(l.opts.WSURLs, "ws"+strings.TrimPrefix(p.base(), "http"))
		}
	}
	return l, nil
}

// startProc starts binary with env plus a free PORT and waits for /readyz
// (a process without a PORT, NATS, is waited for by the caller). A port
// taken between choosing it and binding it (the generator's own client
// sockets draw from the same ephemeral range) is retried with another.
func startProc(ctx context.Context, name, binary string, env []string, args ...string) (*proc, error) {
	for attempt := 1; ; attempt++ {
		p, err := startProcOnce(ctx, name, binary, env, args...)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return p, err
		}
	}
}

func startProcOnce(ctx context.Context, name, binary string, env []string, args ...string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, port: port, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("PORT=%d", port)}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	if name == "nats" {
		return p, nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.base() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready:\n%s", name, p.out.tail(3000))
		case <-ctx.Done():
			_ = p.cmd.Process.Kill()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			return nil, fmt.Errorf("%s not ready after 60s:\n%s", name, p.out.tail(3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitTCP(ctx context.Context, port int, p *proc) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited:\n%s", p.name, p.out.tail(3000))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not accept connections on %d", p.name, port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects a process's output for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		s.b.Reset() // keep the tail only
	}
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.String()
	if len(b) > n {
		return "..." + b[len(b)-n:]
	}
	return b
}
