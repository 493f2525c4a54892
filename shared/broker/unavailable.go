package broker

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/protocol"
)

// unavailableErrs are the errors nats.go and jetstream return when NATS or
// JetStream does not answer: the connection is down, closed, reconnecting or
// draining, a request found no responder (JetStream restarting, a stream
// leader being elected), the stream is gone, or a request ran out of time.
var unavailableErrs = []error{
	nats.ErrConnectionClosed,
	nats.ErrConnectionDraining,
	nats.ErrConnectionReconnecting,
	nats.ErrDisconnected,
	nats.ErrNoServers,
	nats.ErrStaleConnection,
	nats.ErrReconnectBufExceeded,
	nats.ErrTimeout,
	nats.ErrNoResponders,
	nats.ErrNoStreamResponse,
	nats.ErrJetStreamNotEnabled,
	jetstream.ErrNoStreamResponse,
	jetstream.ErrConnectionClosed,
	jetstream.ErrServerShutdown,
	jetstream.ErrJetStreamNotEnabled,
	jetstream.ErrAsyncPublishTimeout,
	// A stream that is gone (deleted under a running process; the next
	// start's provisioning makes it again). A read at the stream leader
	// ($JS.API.STREAM.MSG.GET) says so where a direct get found no responder.
	jetstream.ErrStreamNotFound,
	// A deadline on a NATS call: the caller bounded the wait (every request
	// does) and NATS did not answer within it, which is what an outage
	// looks like while nats.go buffers requests during a reconnect.
	context.DeadlineExceeded,
}

// Unavailable reports whether err says that NATS or JetStream is unreachable
// or not answering right now, as opposed to a refusal (a missing key, a
// failed compare-and-swap) or a bug. Such a failure is transient: the
// connection reconnects forever, so the same call succeeds once NATS is back.
// A JetStream API error with status 503 (JetStream not ready, no quorum)
// counts too. context.Canceled does not: the caller gave up, NATS did not.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	for _, target := range unavailableErrs {
		if errors.Is(err, target) {
			return true
		}
	}
	var api *jetstream.APIError
	if errors.As(err, &api) && api.Code == http.StatusServiceUnavailable {
		return true
	}
	var legacy *nats.APIError
	return errors.As(err, &legacy) && legacy.Code == http.StatusServiceUnavailable
}

// errUnavailableMessage is what a client is told; it names no server.
const errUnavailableMessage = "The service is temporarily unavailable: it cannot reach NATS, where it keeps its data; retry shortly"

// ErrDown is the refusal while a service's NATS connection is down: the
// api's routes that need NATS and realtime's handshakes and events answer
// it at once instead of waiting for a reconnect.
var ErrDown = &protocol.Error{Code: protocol.CodeServiceUnavailable, Message: errUnavailableMessage}

// How nats-server refuses a write when its own JetStream storage
// (max_file_store, or the disk) has no room, whatever the stream's limits:
// JSInsufficientResourcesErr (10023, status 503) as it stores the message,
// or JSStorageResourcesExceededErr (10047) where it reserves room first.
const (
	jsErrCodeInsufficientResources jetstream.ErrorCode = 10023
	jsErrCodeStorageExceeded       jetstream.ErrorCode = 10047
)

// NoStorage reports whether err is JetStream refusing a write because the
// server's storage is full. Its status is 503, as an outage's, but NATS
// answers and waiting does not help: an operator frees or adds storage.
// Nothing was stored.
func NoStorage(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jsErrCodeInsufficientResources || api.ErrorCode == jsErrCodeStorageExceeded)
}

// NoStorageRetryAfter is how long a writer refused for storage is told to
// wait: storage comes back when an operator acts, not within a second.
const NoStorageRetryAfter = 5 * time.Second

// errNoStorageMessage is what a client is told when NoStorage.
const errNoStorageMessage = "The server cannot store data right now: its storage is full; nothing was stored; retry later"

// Classify turns an error without a protocol error code of its own (one that
// would be INTERNAL_SERVER_ERROR) into SERVICE_UNAVAILABLE when Unavailable
// says NATS is the cause; every other error is returned unchanged. REST
// answers use it (httpx.WriteError), and so can WebSocket error events, so a
// NATS outage is a retryable 503 everywhere instead of a 500. A write
// refused because the server's storage is full (NoStorage) is a 503 too,
// saying so, with details.limit "max_file_store" and retryAfterMs.
func Classify(err error) error {
	if err == nil || protocol.ErrorCode(err) != protocol.CodeInternal {
		return err
	}
	if NoStorage(err) {
		return protocol.Wrap(protocol.CodeServiceUnavailable, errNoStorageMessage, err).
			WithDetails(map[string]any{"limit": "max_file_store", "retryAfterMs": NoStorageRetryAfter.Milliseconds()})
	}
	if !Unavailable(err) {
		return err
	}
	return protocol.Wrap(protocol.CodeServiceUnavailable, errUnavailableMessage, err)
}
