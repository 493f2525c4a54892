package realtime

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Shared run output. A user's run-output is stored first, as the session's
// latest run under broker.RunKey in the documents bucket, and fanned out
// from one watcher per instance on those keys, as language changes are from
// the sessions bucket: every instance sends it to its connections (the
// sender's too), and a connection that joins later, on any instance, finds
// it in connected as lastRun.

// runOutput stores a validated run as the session's latest.
func (s *Service) runOutput(c *client, r protocol.RunOutput) error {
	if err := s.natsDown(); err != nil {
		return withDetails(err, protocol.TypeRunOutput, "")
	}
	r.UserID, r.UserName, r.Timestamp = c.ident.UserID, c.ident.UserName, s.now().UnixMilli()
	b, err := marshal(r)
	if err == nil {
		ctx, cancel := context.WithTimeout(s.ctx, submitTimeout)
		_, err = s.in.Documents.Put(ctx, broker.RunKey(c.ident.SessionID), b)
		cancel()
	}
	if err != nil {
		err = unavailable(protocol.Wrap(protocol.CodeInternal, "The run output could not be stored", err))
		if protocol.ErrorCode(err) == protocol.CodeInternal {
			s.log.Error("run-output failed", "session_id", c.ident.SessionID, "err", err)
		}
		return withDetails(err, protocol.TypeRunOutput, "")
	}
	return nil
}

// watchRuns starts the instance's one watcher on the sessions' latest runs.
func (s *Service) watchRuns(ctx context.Context) error {
	filter := "*" + broker.RunKeySuffix
	open := func(ctx context.Context, resume uint64) (jetstream.KeyWatcher, error) {
		if resume > 0 {
			return s.in.Documents.Watch(ctx, filter, jetstream.ResumeFromRevision(resume))
		}
		return s.in.Documents.Watch(ctx, filter, jetstream.UpdatesOnly())
	}
	w, err := open(ctx, 0)
	if err != nil {
		return err
	}
	handle := func(e jetstream.KeyValueEntry) {
		if e == nil || e.Operation() != jetstream.KeyValuePut {
			return // a delete or purge: the session is going, and its end says so
		}
		if rm := s.hub.get(strings.TrimSuffix(e.Key(), broker.RunKeySuffix)); rm != nil {
			rm.runChanged(e.Value(), e.Revision())
		}
	}
	reopened := func(ctx context.Context, last uint64) {
		if last == 0 { // nothing to resume after: read what changed meanwhile
			for _, rm := range s.hub.all() {
				rctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
				if err := rm.loadLastRun(rctx); err != nil {
					s.log.Warn("reconcile run output failed", "session_id", rm.id, "err", err)
				}
				cancel()
			}
		}
	}
	return s.startWatch(ctx, "runs", w, open, handle, reopened)
}
