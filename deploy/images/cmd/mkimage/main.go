// Command mkimage builds pairpad's container images from static binaries,
// without Docker: one OCI image per process, written as a tarball that
// `docker load` and `crane push` accept.
//
//	CGO_ENABLED=0 go build -o bin/api ./services/api/cmd/api   (make build does this)
//	go run ./deploy/images/cmd/mkimage -version 0.1.0 api realtime janitor
//
// writes bin/images/api.tar tagged ghcr.io/pairpad/pairpad-api:0.1.0, and so on.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pairpad/pairpad/deploy/images"
	"github.com/pairpad/pairpad/shared/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "dev", "image version: the tag and the org.opencontainers.image.version label")
	binDir := fs.String("bin", "bin", "folder with the static binaries, one per process name")
	outDir := fs.String("out", filepath.Join("bin", "images"), "folder for the <name>.tar image tarballs")
	registry := fs.String("registry", "ghcr.io/pairpad", "registry and namespace of the image names")
	source := fs.String("source", "https://github.com/pairpad/pairpad", "org.opencontainers.image.source label")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mkimage [flags] [process ...]   (default: api realtime janitor)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		names = []string{"api", "realtime", "janitor"}
	}
	// SOURCE_DATE_EPOCH (reproducible-builds.org) pins every timestamp.
	created := time.Unix(0, 0)
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds", s)
		}
		created = time.Unix(sec, 0)
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		port, ok := config.DefaultPorts[name]
		if !ok || name == "local" {
			return fmt.Errorf("unknown process %q: want api, realtime or janitor", name)
		}
		ref, err := images.Reference(*registry, name, *version)
		if err != nil {
			return err
		}
		img, err := images.Build(images.Options{
			Name: name, Binary: filepath.Join(*binDir, name), Version: *version,
			Port: port, Source: *source, Created: created,
		})
		if err != nil {
			return err
		}
		out := filepath.Join(*outDir, name+".tar")
		if err := images.WriteTarball(out, ref, img); err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", out, ref, digest)
	}
	return nil
}
