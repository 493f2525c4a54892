// Command api runs the api service alone; the README lists its configuration.
package main

import (
	"context"

	"github.com/pairpad/pairpad/services/api"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/process"
)

func main() {
	process.Main(process.Options{
		Process:     "api",
		HealthPaths: []string{"/api/health"}, // the protocol: never depends on NATS
		Middleware:  httpx.Middleware,
		Build: func(ctx context.Context, d process.Deps) (process.Service, error) {
			return api.New(ctx, d)
		},
	})
}
