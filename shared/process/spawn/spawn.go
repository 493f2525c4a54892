// Package spawn starts a built service binary as a child process, learns
// the address it listens on from its JSON "listening" log line (PORT
// defaults to 0, so no port is picked beforehand and none can be taken
// meanwhile), and stops it with SIGTERM, then SIGKILL.
package spawn

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pairpad/pairpad/shared/workspace"
)

// Buffer collects a process's output; many goroutines may write to it.
// With Max above zero it keeps only the last Max bytes.
type Buffer struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.Max > 0 && b.buf.Len() > b.Max {
		b.buf.Next(b.buf.Len() - b.Max)
	}
	return n, err
}

// String returns what the buffer holds.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns at most the last n bytes, marked with "..." when cut.
func (b *Buffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Build compiles the commands pkgs of the Go workspace at root (paths
// like "./services/api/cmd/api") into dir, statically linked and with
// -trimpath, as the images build them.
func Build(ctx context.Context, root, dir string, pkgs ...string) error {
	args := append([]string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// Once builds commands of the workspace the first time Dir is called and
// hands every later caller the same folder: the tests of one test binary
// share one build. Remove deletes the folder; call it from TestMain once
// the tests have run.
type Once struct {
	Pkgs []string // as for Build
	once sync.Once
	dir  string
	err  error
}

// Dir builds Pkgs into a new temporary folder on the first call and
// returns that folder, or the error of that build.
func (o *Once) Dir(ctx context.Context) (string, error) {
	o.once.Do(func() {
		root, err := workspace.Root()
		if err != nil {
			o.err = err
			return
		}
		dir, err := os.MkdirTemp("", "pairpad-bin")
		if err != nil {
			o.err = err
			return
		}
		o.dir = dir
		o.err = Build(ctx, root, dir, o.Pkgs...)
	})
	return o.dir, o.err
}

// Remove deletes what Dir built.
func (o *Once) Remove() {
	if o.dir != "" {
		_ = os.RemoveAll(o.dir)
	}
}

// Spec is a process to start.
type Spec struct {
	Name   string   // for error messages
	Binary string   // path of the executable
	Args   []string // its arguments
	Env    []string // besides PATH; PORT defaults to 0
	Out    *Buffer  // receives stdout and stderr; nil: a new unbounded Buffer
}

// Proc is a running child process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Out  *Buffer
	Port int // the port it logged it listens on

	done chan struct{}
}

var listeningRE = regexp.MustCompile(`"msg":"listening"[^\n]*?"addr":"[^"]*:(\d+)"`)

// ListeningPort finds the port of the first JSON "listening" log line
// (`"msg":"listening",..."addr":"host:port"`) in logs.
func ListeningPort(logs string) (int, bool) {
	m := listeningRE.FindStringSubmatch(logs)
	if m == nil {
		return 0, false
	}
	port, err := strconv.Atoi(m[1])
	return port, err == nil
}

// Start runs s and returns once the process has logged the address it
// listens on, within timeout. On failure the process is killed.
func Start(ctx context.Context, s Spec, timeout time.Duration) (*Proc, error) {
	p := &Proc{Name: s.Name, Out: s.Out, done: make(chan struct{})}
	if p.Out == nil {
		p.Out = &Buffer{}
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	if !hasVar(s.Env, "PORT") {
		env = append(env, "PORT=0")
	}
	p.Cmd = exec.Command(s.Binary, s.Args...)
	p.Cmd.Env = append(env, s.Env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(timeout)
	for {
		if port, ok := ListeningPort(p.Out.String()); ok {
			p.Port = port
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it listened:\n%s", s.Name, p.Out.Tail(4000))
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("%s did not listen within %s:\n%s", s.Name, timeout, p.Out.Tail(4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// Base is the process's HTTP base URL.
func (p *Proc) Base() string { return fmt.Sprintf("http://127.0.0.1:%d", p.Port) }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// WaitReady polls /readyz until it answers 200, the process exits, ctx
// ends or timeout passes.
func (p *Proc) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready:\n%s", p.Name, p.Out.Tail(4000))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(p.Base() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s:\n%s", p.Name, timeout, p.Out.Tail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It reports a process that had to be killed or exited non-zero.
func (p *Proc) Stop(grace time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("%s exited with %d after SIGTERM:\n%s", p.Name, code, p.Out.Tail(4000))
		}
		return nil
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.Name, grace)
	}
}
