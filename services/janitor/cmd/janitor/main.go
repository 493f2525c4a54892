// Command janitor runs the janitor service alone; the README lists its configuration.
package main

import (
	"context"

	"github.com/pairpad/pairpad/services/janitor"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/process"
)

func main() {
	process.Main(process.Options{
		Process:    "janitor",
		Middleware: httpx.Middleware,
		Build: func(ctx context.Context, d process.Deps) (process.Service, error) {
			return janitor.New(ctx, d)
		},
	})
}
