// Command realtime runs the realtime service alone; the README lists its configuration.
package main

import (
	"context"

	"github.com/pairpad/pairpad/services/realtime"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/process"
)

func main() {
	process.Main(process.Options{
		Process:    "realtime",
		Middleware: httpx.Middleware,
		Build: func(ctx context.Context, d process.Deps) (process.Service, error) {
			return realtime.New(ctx, d)
		},
	})
}
