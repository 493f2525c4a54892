package realtime

import (
	"errors"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
)

// NATS outages. The connection reconnects forever by itself (broker.Connect)
// and the service recovers without a restart: the document engine reads
// what it missed, the watchers resume (watch.go), presence is re-put at
// once. While NATS is down, what needs it is refused at once with
// SERVICE_UNAVAILABLE instead of waiting for a reconnect that may take
// minutes: new handshakes (503 before the upgrade), code-update and
// language-changed (an error event; the connection stays up). Cursors and
// sync need only this instance and keep working.

// retryAfterMs is what an event refused for an outage suggests to wait.
const retryAfterMs = 1000

// natsDown returns SERVICE_UNAVAILABLE while the NATS connection is down.
func (s *Service) natsDown() error {
	if s.in.NC.IsConnected() {
		return nil
	}
	return broker.ErrDown.WithDetails(map[string]any{"retryAfterMs": retryAfterMs})
}

// unavailable turns a failure that NATS caused (broker.Unavailable: down,
// reconnecting, not answering in time) into SERVICE_UNAVAILABLE with a
// retry hint; every other error is returned as it is.
func unavailable(err error) error {
	if protocol.ErrorCode(err) != protocol.CodeInternal || !broker.Unavailable(err) {
		return err
	}
	if broker.NoStorage(err) {
		return broker.Classify(err) // its own retryAfterMs
	}
	var pe *protocol.Error
	if !errors.As(broker.Classify(err), &pe) {
		return err
	}
	return pe.WithDetails(map[string]any{"retryAfterMs": retryAfterMs})
}
