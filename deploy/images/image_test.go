package images

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"encoding/binary"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const testVersion = "1.2.3-test"

// buildHello builds testdata/hello as a static binary stamped with
// testVersion, the way `make build` stamps the real processes.
func buildHello(t testing.TB, out string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool: %v", err)
	}
	cmd := exec.Command(goTool, "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/pairpad/pairpad/shared/buildinfo.Version="+testVersion,
		"-o", out, "./testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
}

// layerFiles lists every entry of every layer, by path, with its header.
func layerFiles(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tar.Header{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out[path.Clean(h.Name)] = h
		}
		rc.Close()
	}
	return out
}

// TestImageRoundTrip builds an image, writes the tarball, reads it back as
// docker load would, and runs the binary it contains.
func TestImageRoundTrip(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hello")
	buildHello(t, bin)
	img, err := Build(Options{Name: "hello", Binary: bin, Version: testVersion, Port: 3003, Source: "https://example.invalid/pairpad"})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Reference("ghcr.io/pairpad", "hello", testVersion)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "hello.tar")
	if err := WriteTarball(tarPath, ref, img); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(tarPath, &ref)
	if err != nil {
		t.Fatalf("read the tarball back with its tag %s: %v", ref, err)
	}

	cf, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	checks := []struct {
		what string
		ok   bool
		got  any
	}{
		{"entrypoint is the binary", slices.Equal(c.Entrypoint, []string{"/hello"}), c.Entrypoint},
		{"no Cmd (nothing for a shell to run)", len(c.Cmd) == 0, c.Cmd},
		{"user is nonroot 65532:65532", c.User == "65532:65532", c.User},
		{"port exposed", len(c.ExposedPorts) == 1 && c.ExposedPorts["3003/tcp"] == struct{}{}, c.ExposedPorts},
		{"PORT set", slices.Contains(c.Env, "PORT=3003"), c.Env},
		{"version label", c.Labels["org.opencontainers.image.version"] == testVersion, c.Labels},
		{"source label", c.Labels["org.opencontainers.image.source"] == "https://example.invalid/pairpad", c.Labels},
		{"linux on this machine's architecture", cf.OS == "linux" && cf.Architecture == runtime.GOARCH, cf.OS + "/" + cf.Architecture},
		{"reproducible timestamp", cf.Created.Unix() == 0, cf.Created},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("config: %s: got %v", ch.what, ch.got)
		}
	}
	// The docker-archive tarball keeps no manifest (docker load makes its
	// own); the image pushed from memory or an OCI layout is OCI.
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want OCI", mt)
	}

	files := layerFiles(t, back)
	for name := range files {
		if base := path.Base(name); base == "sh" || base == "bash" || base == "busybox" || strings.HasPrefix(name, "bin") || strings.HasPrefix(name, "usr") {
			t.Errorf("layer has %s: the image must have no shell and no /bin", name)
		}
	}
	if h := files["hello"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode != 0o755 || h.Uid != 0 {
		t.Errorf("/hello: got %+v, want a regular file, mode 0755, owned by root (the process cannot rewrite it)", h)
	}
	if h := files["tmp"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("/tmp: got %+v, want a directory with mode 1777", h)
	}

	// Flatten the layers as a runtime would, then look at the files.
	root := t.TempDir()
	extract(t, back, root)
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), "nonroot:x:65532:65532:") || strings.Contains(string(passwd), "/bin/sh") {
		t.Errorf("/etc/passwd = %q (%v), want a nonroot user 65532 and no shell", passwd, err)
	}
	if n := countCerts(t, filepath.Join(root, CABundlePath)); n < 50 {
		t.Errorf("%s has %d certificates, want the Mozilla roots (over 50)", CABundlePath, n)
	}
	out, err := exec.Command(filepath.Join(root, "hello"), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("/hello --version from the image: %v\n%s", err, out)
	}
	if want := "pairpad hello " + testVersion; !strings.Contains(string(out), want) {
		t.Errorf("/hello --version printed %q, want %q", out, want)
	}
}

// extract writes the image's flattened filesystem (regular files only) under root.
func extract(t *testing.T, img v1.Image, root string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(path.Clean("/"+h.Name)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, os.FileMode(h.Mode).Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

// countCerts parses every PEM block of a bundle as an X.509 certificate.
func countCerts(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Errorf("certificate %d: %v", n, err)
		}
		n++
	}
	return n
}

func TestBuildIsReproducible(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "hello")
	buildHello(t, bin)
	var digests []v1.Hash
	for range 2 {
		img, err := Build(Options{Name: "hello", Binary: bin, Version: testVersion, Port: 3001})
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of the same inputs: %s and %s", digests[0], digests[1])
	}
}

// dynamicELF writes the smallest ELF file that asks for a program
// interpreter, as a cgo binary does.
func dynamicELF(t *testing.T) string {
	t.Helper()
	interp := "/lib64/ld-linux-x86-64.so.2\x00"
	var buf bytes.Buffer
	hdr := elf.Header64{
		Ident:   [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)},
		Type:    uint16(elf.ET_EXEC),
		Machine: uint16(elf.EM_X86_64),
		Version: uint32(elf.EV_CURRENT),
		Phoff:   64, Ehsize: 64, Phentsize: 56, Phnum: 1,
	}
	prog := elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: 120, Filesz: uint64(len(interp)), Memsz: uint64(len(interp)), Align: 1}
	if err := binary.Write(&buf, binary.LittleEndian, hdr); err != nil {
		t.Fatal(err)
	}
	if err := binary.Write(&buf, binary.LittleEndian, prog); err != nil {
		t.Fatal(err)
	}
	buf.WriteString(interp)
	p := filepath.Join(t.TempDir(), "dynamic")
	if err := os.WriteFile(p, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildRejects(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dynamic := dynamicELF(t)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"a script", Options{Name: "api", Binary: script, Port: 3001}, "not a Linux executable"},
		{"a dynamically linked binary", Options{Name: "api", Binary: dynamic, Port: 3001}, "CGO_ENABLED=0"},
		{"a missing binary", Options{Name: "api", Binary: filepath.Join(t.TempDir(), "nope"), Port: 3001}, "not a Linux executable"},
		{"a name with a slash", Options{Name: "bin/api", Binary: dynamic, Port: 3001}, "plain process name"},
		{"no port", Options{Name: "api", Binary: dynamic}, "port 0 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Reference("ghcr.io/pairpad", "api", "not a tag!"); err == nil {
		t.Errorf("Reference accepted the version %q", "not a tag!")
	}
}
