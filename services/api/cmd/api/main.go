// Command api runs the api service alone; see the README for its configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/pairpad/pairpad/services/api"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/process"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return process.Run(ctx, args, getenv, stdout, stderr, process.Options{
		Process:    "api",
		Middleware: httpx.Middleware,
		Build: func(ctx context.Context, d process.Deps) (process.Service, error) {
			return api.New(ctx, d)
		},
	})
}
