// Package workspace finds the repository a test or tool runs in, so tests
// can reach the binaries and npm folders that live beside the Go modules.
package workspace

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrNotFound is returned when no folder above the working directory holds go.work.
var ErrNotFound = errors.New("no go.work above the working directory: run inside the repository")

// Root returns the folder holding go.work, walking up from the working directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotFound
		}
		dir = parent
	}
}
