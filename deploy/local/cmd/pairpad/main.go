// Command pairpad is the all-in-one: api, realtime and janitor on one port
// with an embedded NATS server (`make run`).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	local "github.com/pairpad/pairpad/deploy/local"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/process"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pairpad:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return process.Run(ctx, args, getenv, stdout, stderr, process.Options{
		Process:       "local",
		Middleware:    httpx.Middleware,
		BeforeConnect: local.StartNATS,
		Build: func(ctx context.Context, d process.Deps) (process.Service, error) {
			return local.New(ctx, d)
		},
	})
}
