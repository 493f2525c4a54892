package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestRun builds images the way `make images` does, from a folder of
// binaries, and reads each tarball back by the tag it was written with.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	binDir, outDir := filepath.Join(dir, "bin"), filepath.Join(dir, "images")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	// A stand-in binary under each process's name: quick to build.
	hello := filepath.Join(binDir, "hello")
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", hello, "../../testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	data, err := os.ReadFile(hello)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"api", "realtime"} {
		if err := os.WriteFile(filepath.Join(binDir, p), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}[k] }
	args := []string{"mkimage", "-version", "0.9.0", "-bin", binDir, "-out", outDir, "api", "realtime"}
	if err := run(context.Background(), args, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	for _, tt := range []struct{ process, port string }{{"api", "3001/tcp"}, {"realtime", "3002/tcp"}} {
		tag, err := name.NewTag("ghcr.io/pairpad/pairpad-" + tt.process + ":0.9.0")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout.String(), tag.String()) {
			t.Errorf("stdout %q does not name %s", stdout.String(), tag)
		}
		img, err := tarball.ImageFromPath(filepath.Join(outDir, tt.process+".tar"), &tag)
		if err != nil {
			t.Fatalf("%s: %v", tt.process, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cf.Config.ExposedPorts[tt.port]; !ok || cf.Config.Entrypoint[0] != "/"+tt.process || cf.Created.Unix() != 1700000000 {
			t.Errorf("%s: config %+v created %v, want port %s, entrypoint /%s, SOURCE_DATE_EPOCH", tt.process, cf.Config, cf.Created, tt.port, tt.process)
		}
	}
}

func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"an unknown process", []string{"-bin", t.TempDir(), "-out", t.TempDir(), "frontend"}, nil, `unknown process "frontend"`},
		{"the all-in-one", []string{"-bin", t.TempDir(), "-out", t.TempDir(), "local"}, nil, `unknown process "local"`},
		{"a missing binary", []string{"-bin", t.TempDir(), "-out", t.TempDir(), "janitor"}, nil, "not a Linux executable"},
		{"a bad version", []string{"-version", "1.0 beta", "-out", t.TempDir(), "api"}, nil, "image reference"},
		{"a bad SOURCE_DATE_EPOCH", []string{"-out", t.TempDir(), "api"}, map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, "SOURCE_DATE_EPOCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"mkimage"}, tt.args...), func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
