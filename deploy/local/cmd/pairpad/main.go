// Command pairpad is the all-in-one: api, realtime and janitor on one port
// with an embedded NATS server (`make run`).
package main

import (
	"context"

	local "github.com/pairpad/pairpad/deploy/local"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/process"
)

func main() {
	process.Main(process.Options{
		Process:       "local",
		HealthPaths:   []string{"/api/health"}, // the protocol: never depends on NATS
		Middleware:    httpx.Middleware,
		BeforeConnect: local.StartNATS,
		Build: func(ctx context.Context, d process.Deps) (process.Service, error) {
			return local.New(ctx, d)
		},
	})
}
