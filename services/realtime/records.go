package realtime

import (
	"context"
	"encoding/json"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// watchSessions starts the instance's one watcher on the sessions bucket.
// It is how every instance learns, reliably, that a session's language
// changed or that the session ended (the api's DELETE and the janitor only
// write the record). Only changes after the start matter: a room
// reads its record when it opens and orders it with these by revision.
func (s *Service) watchSessions(ctx context.Context) error {
	open := func(ctx context.Context, resume uint64) (jetstream.KeyWatcher, error) {
		if resume > 0 {
			return s.in.Sessions.WatchAll(ctx, jetstream.ResumeFromRevision(resume))
		}
		return s.in.Sessions.WatchAll(ctx, jetstream.UpdatesOnly())
	}
	w, err := open(ctx, 0)
	if err != nil {
		return err
	}
	handle := func(e jetstream.KeyValueEntry) {
		if e != nil {
			s.sessionRecord(e)
		}
	}
	reopened := func(ctx context.Context, last uint64) {
		if last == 0 { // nothing to resume after: what changed meanwhile is read instead
			s.reconcileSessions(ctx)
		}
	}
	return s.startWatch(ctx, "sessions", w, open, handle, reopened)
}

// sessionRecord routes one change of the sessions bucket to its room.
func (s *Service) sessionRecord(e jetstream.KeyValueEntry) {
	rm := s.hub.get(e.Key())
	if rm == nil {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		// A purge marker written by session.End carries the marked record,
		// so a watcher that missed the mark still reads why it ended.
		ended := session.Record{PurgeReason: protocol.EndedDeleted}
		var r session.Record
		if len(e.Value()) > 0 && json.Unmarshal(e.Value(), &r) == nil && r.PurgeReason != "" {
			ended.PurgeReason = r.PurgeReason
		}
		rm.recordChanged(ended, e.Revision())
		return
	}
	var r session.Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		s.log.Error("undecodable session record", "session_id", e.Key(), "err", err)
		return
	}
	rm.recordChanged(r, e.Revision())
}

// errSessionEnded refuses a handshake to an interview that was ended.
var errSessionEnded = protocol.Errorf(protocol.CodeSessionEnded,
	"The interview has ended: the session is read-only (GET /api/sessions/{id}/code)")

// endedError is the refusal of a handshake to a session that ended for reason.
func endedError(reason string) error {
	if reason == protocol.EndedByHost {
		return errSessionEnded
	}
	return session.ErrNotFound
}
