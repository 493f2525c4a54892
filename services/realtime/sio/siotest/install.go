package siotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pairpad/pairpad/shared/workspace"
)

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

// requireModules skips the test when dir's node_modules lacks
// socket.io-client. Tests never install packages themselves: `make test`
// runs `make test-deps` (npm ci from the lockfile) first, so there the
// Socket.IO tests always run.
func requireModules(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client", "package.json")); err != nil {
		t.Skipf("siotest: %s/node_modules has no socket.io-client: run `make test-deps` "+
			"(or `npm ci --prefix testclients/socketio`) to run the Socket.IO compatibility tests", dir)
	}
}
