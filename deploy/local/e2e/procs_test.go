package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/process/spawn"
	"github.com/pairpad/pairpad/shared/workspace"
)

// built is the four commands, built once per test binary run.
var built = spawn.Once{Pkgs: []string{
	"./deploy/local/cmd/pairpad", "./services/api/cmd/api", "./services/realtime/cmd/realtime", "./services/janitor/cmd/janitor"}}

func TestMain(m *testing.M) {
	code := m.Run()
	built.Remove()
	os.Exit(code)
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

// binaries returns the folder of the four commands.
func binaries(t testing.TB) string {
	t.Helper()
	dir, err := built.Dir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// proc is one running service process.
type proc struct{ *spawn.Proc }

// startProc runs binary name with env and waits for /readyz. Without a PORT
// in env it listens on port 0 and the port is read from its "listening" log
// line: a port picked beforehand could be taken by a parallel test meanwhile.
func startProc(t *testing.T, name string, env map[string]string) *proc {
	t.Helper()
	vars := []string{"LOG_LEVEL=info"}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	sp, err := spawn.Start(context.Background(), spawn.Spec{Name: name, Binary: filepath.Join(binaries(t), name), Env: vars}, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{sp}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Out.Tail(4000))
		}
	})
	p.waitReady(t, 60*time.Second)
	return p
}

func (p *proc) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := p.WaitReady(context.Background(), timeout); err != nil {
		t.Fatal(err)
	}
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *proc) Stop(t *testing.T) {
	t.Helper()
	if err := p.Proc.Stop(30 * time.Second); err != nil {
		t.Error(err)
	}
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
