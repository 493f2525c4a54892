package realtime

import (
	"context"
	"encoding/json"
	"errors"
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
	if !s.watches.set("runs", w) {
		return errors.New("the service is stopping")
	}
	handle := func(e jetstream.KeyValueEntry) {
		if e == nil || e.Operation() != jetstream.KeyValuePut {
			return // a delete or purge: the session is going, and its end says so
		}
		if hs := s.hub.get(strings.TrimSuffix(e.Key(), broker.RunKeySuffix)); hs != nil {
			hs.runChanged(e.Value(), e.Revision())
		}
	}
	reopened := func(ctx context.Context, last uint64) {
		if last == 0 { // nothing to resume after: read what changed meanwhile
			for _, hs := range s.hub.all() {
				rctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
				if err := hs.loadLastRun(rctx); err != nil {
					s.log.Warn("reconcile run output failed", "session_id", hs.id, "err", err)
				}
				cancel()
			}
		}
	}
	s.bg.Add(1)
	go s.keepWatching(ctx, "runs", w, open, handle, reopened)
	return nil
}

// loadLastRun reads the session's latest run, when the hub session opens
// (and after a watcher that lost its place); the watcher's newer ones win
// by revision.
func (hs *hubSession) loadLastRun(ctx context.Context) error {
	e, err := hs.s.in.Documents.Get(ctx, broker.RunKey(hs.id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	hs.runChanged(e.Value(), e.Revision())
	return nil
}

// runChanged applies a newer latest run and sends it to every connection.
func (hs *hubSession) runChanged(value []byte, rev uint64) {
	var r protocol.RunOutput
	if err := json.Unmarshal(value, &r); err != nil {
		hs.s.log.Error("undecodable run output", "session_id", hs.id, "err", err)
		return
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if rev <= hs.lastRunRev || hs.ended {
		return
	}
	hs.lastRun, hs.lastRunRev = value, rev
	if len(hs.conns) > 0 {
		hs.broadcastLocked(rawEvent(protocol.TypeRunOutput, hs.id, r.UserID, value, r.Timestamp), nil)
	}
}
