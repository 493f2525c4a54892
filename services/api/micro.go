package api

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/buildinfo"
	"github.com/pairpad/pairpad/shared/protocol"
)

// microTimeout bounds the work of one micro request.
const microTimeout = 5 * time.Second

// ListRequest is the optional body of the sessions.list micro endpoint.
type ListRequest struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// startMicro registers the "api" micro service. Requests are answered with
// the protocol's JSON; failures with a micro error whose code is the HTTP
// status, whose description is the protocol code and whose data is the
// documented error body.
func startMicro(ctx context.Context, nc *nats.Conn, c catalog, log *slog.Logger) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "api",
		Version:     buildinfo.SemVer(buildinfo.Version),
		Description: "pairpad session REST service: session lookups over NATS",
		ErrorHandler: func(_ micro.Service, e *micro.NATSError) {
			log.Warn("micro service error", "subject", e.Subject, "err", e.Description)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("api: add micro service: %w", err)
	}
	g := svc.AddGroup(broker.MicroGroup("api")) // pairpad.api.sessions.get, .sessions.list, .sessions.create
	endpoints := []struct {
		name, subject string
		fn            func(context.Context, []byte) (any, error)
	}{
		{"sessions-get", "sessions.get", func(ctx context.Context, data []byte) (any, error) {
			return c.get(ctx, strings.TrimSpace(string(data)))
		}},
		{"sessions-list", "sessions.list", func(ctx context.Context, data []byte) (any, error) {
			req := ListRequest{Limit: defaultPageLimit}
			if len(strings.TrimSpace(string(data))) > 0 {
				if err := decodeStrict(data, &req); err != nil {
					return nil, err
				}
			}
			if req.Limit < 1 || req.Limit > maxPageLimit || req.Offset < 0 {
				return nil, invalid(fmt.Sprintf("limit must be 1 to %d and offset at least 0", maxPageLimit), nil)
			}
			return c.list(ctx, req.Limit, min(req.Offset, maxPageOffset))
		}},
		{"sessions-create", "sessions.create", func(ctx context.Context, data []byte) (any, error) {
			var req protocol.CreateSessionRequest
			if err := decodeStrict(data, &req); err != nil {
				return nil, err
			}
			return c.create(ctx, req)
		}},
	}
	for _, e := range endpoints {
		limit := int64(protocol.MaxBodyBytes)
		if e.name == "sessions-create" {
			limit = maxCreateBodyBytes // the starter code
		}
		h := microHandler(ctx, e.fn, limit, log)
		if err := g.AddEndpoint(e.name, h, micro.WithEndpointSubject(e.subject)); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("api: add micro endpoint %s: %w", e.subject, err)
		}
	}
	return svc, nil
}

func microHandler(ctx context.Context, fn func(context.Context, []byte) (any, error), limit int64, log *slog.Logger) micro.Handler {
	return micro.HandlerFunc(func(req micro.Request) {
		rctx, cancel := context.WithTimeout(ctx, microTimeout)
		defer cancel()
		if int64(len(req.Data())) > limit {
			respondError(req, tooLarge(limit), log)
			return
		}
		v, err := fn(rctx, req.Data())
		if err != nil {
			respondError(req, err, log)
			return
		}
		if err := req.RespondJSON(v); err != nil {
			log.Warn("micro respond", "subject", req.Subject(), "err", err)
		}
	})
}

func respondError(req micro.Request, err error, log *slog.Logger) {
	b, rerr := broker.MicroError(req, broker.Classify(err), nil) // JetStream down while core NATS answers: 503, as over HTTP
	if b.Error == protocol.CodeInternal {
		log.Error("micro request failed", "subject", req.Subject(), "err", err)
	}
	if rerr != nil {
		log.Warn("micro respond", "subject", req.Subject(), "err", rerr)
	}
}
