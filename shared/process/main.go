package process

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main is a command's whole main: Run with the real environment, ending on
// SIGINT or SIGTERM, exiting 1 with the error on failure.
func Main(o Options) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr, o)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", o.Process, err)
		os.Exit(1)
	}
}
