package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// MaxPayload is the largest message the NATS servers must accept: an op
// log entry or a snapshot of a document of protocol.MaxDocumentBytes, whose
// JSON escapes a control character or one of < > & in six bytes, can pass
// nats-server's default of 1 MiB. The embedded and the bench's servers set
// it, and deploy/k8s's nats.conf sets max_payload to it (its checks say so).
const MaxPayload = 8 << 20

// ConnOptions configures Connect.
type ConnOptions struct {
	Name        string       // the connection name shown by `nats server report connections`
	Log         *slog.Logger // connection events are logged here
	OnReconnect func()       // called on every reconnect, for metrics
	// InProcess, when set, is a NATS server in this process (the
	// all-in-one's embedded one): the connection talks to it through
	// memory instead of a loopback socket, and the URL is not dialled.
	InProcess nats.InProcessConnProvider
	// NoEcho asks the server not to deliver this connection's own
	// publishes to its subscriptions. Only for a connection whose
	// subscribers never need what it publishes itself: JetStream's
	// republished entries come from the server, not the publisher, but
	// request-reply within one process would not.
	NoEcho bool
	// FlushDelay, when positive, holds this connection's writes for at most
	// this long and sends what was published meanwhile in one write (one
	// read at the server, one flush to each subscriber) instead of one per
	// publish. For a connection of many small publishes whose latency may
	// grow by this much; not for JetStream requests. Not applied to an
	// InProcess connection (no syscalls to save).
	FlushDelay time.Duration

	dialed func(*batchConn) // tests: each batched connection as it is dialled
}

// Connect dials NATS and never gives up: it keeps retrying the first connect
// and every reconnect, so a process started before NATS waits for it.
func Connect(url string, o ConnOptions) (*nats.Conn, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.ReconnectBufSize(32 << 20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
			if o.OnReconnect != nil {
				o.OnReconnect()
			}
		}),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("nats connected", "url", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "err", err, "subject", subj)
		}),
	}
	if o.InProcess != nil {
		opts = append(opts, nats.InProcessServer(o.InProcess))
	}
	if o.NoEcho {
		opts = append(opts, nats.NoEcho())
	}
	if o.FlushDelay > 0 && o.InProcess == nil {
		opts = append(opts, batchedWrites(o.FlushDelay, o.dialed))
	}
	nc, err := nats.Connect(strings.TrimSpace(url), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	return nc, nil
}

// BatchedWrites is the nats.Option that ConnOptions.FlushDelay sets: the
// connection's socket writes are held for at most delay and sent together.
// For a connection made with nats.Connect directly (tests that dial as the
// process would, with options of their own).
func BatchedWrites(delay time.Duration) nats.Option { return batchedWrites(delay, nil) }

func batchedWrites(delay time.Duration, dialed func(*batchConn)) nats.Option {
	return nats.SetCustomDialer(&batchDialer{dialer: net.Dialer{Timeout: nats.GetDefaultOptions().Timeout}, delay: delay,
		writeTimeout: nats.GetDefaultOptions().FlusherTimeout, dialed: dialed})
}

// WaitConnected blocks until nc is connected or ctx ends.
func WaitConnected(ctx context.Context, nc *nats.Conn) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for nats: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
