package workspace

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRoot(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Errorf("Root() = %s, which holds no go.work", root)
	}
	if _, err := os.Stat(filepath.Join(root, "shared", "workspace", "workspace.go")); err != nil {
		t.Errorf("Root() = %s is not this repository", root)
	}
}

func TestRootOutsideRepository(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := Root(); err != ErrNotFound {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}
