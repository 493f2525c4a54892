// Package images builds pairpad's container images without a container
// daemon: a static binary, CA certificates, a non-root user, and nothing else
// (no shell, no package manager), assembled with go-containerregistry.
package images

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"time"

	gname "github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRootUID is the user and group every image runs as ("nonroot", as in
// the distroless images, so manifests written for those work unchanged).
const NonRootUID = 65532

// Options says what image to build.
type Options struct {
	// Name is the process name; the binary becomes /<Name> and the entrypoint.
	Name string
	// Binary is the path of a statically linked Linux executable.
	Binary string
	// Version goes into the org.opencontainers.image.version label.
	Version string
	// Port is exposed and set as PORT in the image's environment.
	Port int
	// Source is the repository URL for the org.opencontainers.image.source label.
	Source string
	// Created stamps the image config, history and every file; a fixed value
	// (the zero value means the Unix epoch) makes builds reproducible.
	Created time.Time
}

// Build assembles the image: a base layer (passwd, group, CA certificates,
// /tmp) and a layer with the binary, on an empty OCI image.
func Build(o Options) (v1.Image, error) {
	if o.Name == "" || path.Base(o.Name) != o.Name {
		return nil, fmt.Errorf("image name %q: want a plain process name", o.Name)
	}
	if o.Port <= 0 || o.Port > 65535 {
		return nil, fmt.Errorf("image %s: port %d out of range", o.Name, o.Port)
	}
	created := o.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()
	arch, err := staticArch(o.Binary)
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	certs, err := caBundle()
	if err != nil {
		return nil, err
	}

	base, err := layer(created, baseFiles(certs))
	if err != nil {
		return nil, err
	}
	app, err := layer(created, []file{{name: o.Name, mode: 0o755, data: bin}})
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: created}, CreatedBy: "pairpad mkimage: /etc/passwd, /etc/group, CA certificates, /tmp",
		}},
		mutate.Addendum{Layer: app, MediaType: types.OCILayer, History: v1.History{
			Created: v1.Time{Time: created}, CreatedBy: "pairpad mkimage: /" + o.Name,
		}},
	)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", arch, v1.Time{Time: created}
	port := strconv.Itoa(o.Port) + "/tcp"
	cf.Config = v1.Config{
		Entrypoint:   []string{"/" + o.Name},
		User:         fmt.Sprintf("%d:%d", NonRootUID, NonRootUID),
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{port: {}},
		Env:          []string{"PORT=" + strconv.Itoa(o.Port)},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "pairpad-" + o.Name,
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.source":      o.Source,
			"org.opencontainers.image.description": "pairpad " + o.Name + " (live coding interviews)",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// staticArch checks that path is a statically linked Linux ELF executable
// (there is no libc or loader in the image) and returns its GOARCH.
func staticArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("binary %s: not a Linux executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("binary %s is dynamically linked: the image has no libc; build it with CGO_ENABLED=0", path)
		}
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("binary %s: ELF type %s is not an executable", path, f.Type)
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	}
	return "", fmt.Errorf("binary %s: unsupported machine %s", path, f.Machine)
}

// layer turns files into an uncompressed tar, then a gzip-compressed OCI layer.
func layer(mtime time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	if err := writeTar(&buf, mtime, files); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make layer: %w", err)
	}
	return l, nil
}

// Reference is the tag an image is published under:
// <registry>/pairpad-<name>:<version>.
func Reference(registry, name, version string) (gname.Tag, error) {
	t, err := gname.NewTag(registry+"/pairpad-"+name+":"+version, gname.StrictValidation)
	if err != nil {
		return gname.Tag{}, fmt.Errorf("image reference for %s version %q: %w", name, version, err)
	}
	return t, nil
}

// WriteTarball writes img, tagged ref, as a tarball that `docker load`,
// `podman load` and `crane push` accept.
func WriteTarball(path string, ref gname.Tag, img v1.Image) error {
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
