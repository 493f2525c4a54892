package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
)

func TestUnavailableClassifiesErrors(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("get session x: %w", err) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"closed", nats.ErrConnectionClosed, true},
		{"wrapped closed", wrap(nats.ErrConnectionClosed), true},
		{"no servers", nats.ErrNoServers, true},
		{"disconnected", nats.ErrDisconnected, true},
		{"reconnecting", wrap(nats.ErrConnectionReconnecting), true},
		{"draining", nats.ErrConnectionDraining, true},
		{"timeout", wrap(nats.ErrTimeout), true},
		{"no responders", wrap(nats.ErrNoResponders), true},
		{"js no stream response", jetstream.ErrNoStreamResponse, true},
		{"js closed", jetstream.ErrConnectionClosed, true},
		{"js not enabled", wrap(jetstream.ErrJetStreamNotEnabled), true},
		{"js api 503", &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{"deadline", wrap(context.DeadlineExceeded), true},
		{"canceled", wrap(context.Canceled), false},
		{"key not found", wrap(jetstream.ErrKeyNotFound), false},
		{"key exists", wrap(jetstream.ErrKeyExists), false},
		{"js api 400", &jetstream.APIError{Code: 400, ErrorCode: 10071}, false},
		{"stream gone", wrap(&jetstream.APIError{Code: 404, ErrorCode: 10059, Description: "stream not found"}), true},
		{"message not found", &jetstream.APIError{Code: 404, ErrorCode: 10037, Description: "no message found"}, false},
		{"permissions", nats.ErrPermissionViolation, false},
		{"joined", errors.Join(errors.New("a"), nats.ErrTimeout), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := broker.Unavailable(tc.err); got != tc.want {
				t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	notFound := protocol.Errorf(protocol.CodeSessionNotFound, "gone")
	tests := []struct {
		name string
		err  error
		want protocol.Code
		// limit is details.limit: set for a server without storage.
		limit string
	}{
		{"nats timeout", fmt.Errorf("x: %w", nats.ErrTimeout), protocol.CodeServiceUnavailable, ""},
		{"server storage full", fmt.Errorf("put: %w", &jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"}),
			protocol.CodeServiceUnavailable, "max_file_store"},
		{"server storage reserved", &jetstream.APIError{Code: 500, ErrorCode: 10047, Description: "insufficient storage resources available"},
			protocol.CodeServiceUnavailable, "max_file_store"},
		{"explicit internal over an outage", protocol.Wrap(protocol.CodeInternal, "x", nats.ErrNoResponders), protocol.CodeServiceUnavailable, ""},
		{"coded error keeps its code", protocol.Wrap(protocol.CodeSessionNotFound, "x", nats.ErrTimeout), protocol.CodeSessionNotFound, ""},
		{"refusal", notFound, protocol.CodeSessionNotFound, ""},
		{"bug", errors.New("nil map"), protocol.CodeInternal, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := broker.Classify(tc.err)
			if c := protocol.ErrorCode(got); c != tc.want {
				t.Errorf("code %s, want %s", c, tc.want)
			}
			var pe *protocol.Error
			if errors.As(got, &pe) && (pe.Details["limit"] != nil || tc.limit != "") && pe.Details["limit"] != tc.limit {
				t.Errorf("details %v, want limit %q", pe.Details, tc.limit)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("Classify lost the cause: %v", got)
			}
			if tc.want == protocol.CodeServiceUnavailable && protocol.HTTPStatus(protocol.ErrorCode(got)) != 503 {
				t.Errorf("status %d", protocol.HTTPStatus(protocol.ErrorCode(got)))
			}
		})
	}
	if broker.Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
}

// TestUnavailableFromRealOutage makes sure the errors a real JetStream call
// returns while the server is gone, and after the connection closed, are
// recognized: the list above is only useful if nats.go really returns them.
func TestUnavailableFromRealOutage(t *testing.T) {
	port := natstest.FreePort(t)
	dir := t.TempDir()
	s := natstest.Start(t, natstest.Options{Port: port, StoreDir: dir})
	nc, err := broker.Connect(s.ClientURL(), broker.ConnOptions{Name: "unavailable-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, nc, broker.Layout{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Sessions.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	s.Shutdown()
	s.WaitForShutdown()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"kv get", func(ctx context.Context) error { _, err := in.Sessions.Get(ctx, "k"); return err }},
		{"kv put", func(ctx context.Context) error { _, err := in.Sessions.Put(ctx, "k", []byte("w")); return err }},
		{"kv keys", func(ctx context.Context) error { _, err := in.Presence.ListKeys(ctx); return err }},
		{"stream info", func(ctx context.Context) error { _, err := in.Ops.Info(ctx); return err }},
	}
	for _, c := range calls {
		cctx, ccancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := c.call(cctx)
		ccancel()
		if err == nil || !broker.Unavailable(err) {
			t.Errorf("%s while NATS is down: %v; Unavailable = false", c.name, err)
		}
	}

	nc.Close()
	for _, c := range calls {
		cctx, ccancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := c.call(cctx)
		ccancel()
		if err == nil || !broker.Unavailable(err) {
			t.Errorf("%s on a closed connection: %v; Unavailable = false", c.name, err)
		}
	}
}
