package siotest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/workspace"
)

// installed guards npm ci: once per test process; a file lock covers the
// other test processes go test runs in parallel.
type installed struct {
	once sync.Once
	err  string
}

// ensure is the only package-level state: npm ci must run at most once per
// process whatever the number of tests, and nothing else could own it.
var ensure installed

// Dir returns the testclients/socketio folder of the repository, found by
// walking up from the working directory to the folder holding go.work.
func Dir(t testing.TB) string {
	t.Helper()
	root, err := workspace.Root()
	if err != nil {
		t.Fatalf("siotest: cannot find testclients/socketio: %v", err)
	}
	return filepath.Join(root, "testclients", "socketio")
}

// requireNode returns the node binary or fails the test saying what is missing.
func requireNode(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("siotest: node is not installed: the Socket.IO compatibility tests run the real "+
			"npm socket.io-client and need Node.js >= 18 with npm on PATH (%v)", err)
	}
	return node
}

// ensureModules runs npm ci in dir when its node_modules lacks socket.io-client.
func ensureModules(t testing.TB, dir string) {
	t.Helper()
	ensure.once.Do(func() { ensure.err = install(dir) })
	if ensure.err != "" {
		t.Fatal(ensure.err)
	}
}

func install(dir string) string {
	if hasClient(dir) {
		return ""
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".npm-ci.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "siotest: lock for npm ci: " + err.Error()
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "siotest: lock for npm ci: " + err.Error()
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway

	// Another test process may have installed it while we waited.
	if hasClient(dir) {
		return ""
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "siotest: " + dir + "/node_modules is missing and npm is not installed: run `npm ci --prefix testclients/socketio` (" + err.Error() + ")"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "siotest: npm ci in " + dir + " failed (is the npm registry reachable?): " + err.Error() + "\n" + string(out)
	}
	if !hasClient(dir) {
		return "siotest: npm ci in " + dir + " did not install socket.io-client"
	}
	return ""
}

func hasClient(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client", "package.json"))
	return err == nil
}
