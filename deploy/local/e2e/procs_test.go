package e2e

import (
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
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/process/processtest"
	"github.com/pairpad/pairpad/shared/workspace"
)

var built struct {
	once sync.Once
	dir  string
	err  error
}

// repoRoot is the folder holding go.work.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := workspace.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// binaries builds the four commands once per test binary run.
func binaries(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "pairpad-e2e-bin")
		if built.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", built.dir+"/",
			"./deploy/local/cmd/pairpad", "./services/api/cmd/api", "./services/realtime/cmd/realtime", "./services/janitor/cmd/janitor")
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

// proc is one running service process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *processtest.Buffer
	port int
	done chan struct{}
}

// Base is the process's HTTP base URL.
func (p *proc) Base() string { return fmt.Sprintf("http://127.0.0.1:%d", p.port) }

// startProc runs binary name with env and waits for /readyz. Without a PORT
// in env it listens on port 0 and the port is read from its "listening" log
// line: a port picked beforehand could be taken by a parallel test meanwhile.
func startProc(t *testing.T, name string, env map[string]string) *proc {
	t.Helper()
	p := &proc{name: name, out: &processtest.Buffer{}, done: make(chan struct{})}
	port := "0"
	if v, ok := env["PORT"]; ok {
		port = v
	}
	p.cmd = exec.Command(filepath.Join(binaries(t), name))
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PORT=" + port, "LOG_LEVEL=info"}
	for k, v := range env {
		if k != "PORT" {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	p.port = p.listeningPort(t, 60*time.Second)
	p.waitReady(t, 60*time.Second)
	return p
}

var listeningRE = regexp.MustCompile(`"msg":"listening"[^\n]*?"addr":"[^"]*:(\d+)"`)

// listeningPort waits for the process to log the address it listens on.
func (p *proc) listeningPort(t *testing.T, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := listeningRE.FindStringSubmatch(p.out.String()); m != nil {
			port, _ := strconv.Atoi(m[1])
			return port
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before it listened:\n%s", p.name, tail(p.out.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen within %s:\n%s", p.name, timeout, tail(p.out.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready:\n%s", p.name, tail(p.out.String(), 4000))
		default:
		}
		resp, err := http.Get(p.Base() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s:\n%s", p.name, timeout, tail(p.out.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL: no goodbye.
func (p *proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *proc) Stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM:\n%s", p.name, code, tail(p.out.String(), 4000))
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30s of SIGTERM", p.name)
		p.Kill()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// natsCLI runs the real nats CLI (installed into bin/ by `make tools`).
func natsCLI(t *testing.T, server string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("nats")
	if err != nil {
		bin = filepath.Join(repoRoot(t), "bin", "nats")
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("the nats CLI is not installed: run `make tools` (make test does)")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--server", server, "--no-context"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
