package realtime

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// watchSessions starts the instance's one watcher on the sessions bucket.
// It is how every instance learns, reliably, that a session's language
// changed or that the session ended (the api's DELETE and the janitor only
// write the record). Only changes after the start matter: a hub session
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
	if !s.watches.set("sessions", w) {
		return errors.New("the service is stopping")
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
	s.bg.Add(1)
	go s.keepWatching(ctx, "sessions", w, open, handle, reopened)
	return nil
}

// sessionRecord routes one change of the sessions bucket to its hub session.
func (s *Service) sessionRecord(e jetstream.KeyValueEntry) {
	hs := s.hub.get(e.Key())
	if hs == nil {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		hs.recordChanged(session.Record{PurgeReason: protocol.EndedDeleted}, e.Revision())
		return
	}
	var r session.Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		s.log.Error("undecodable session record", "session_id", e.Key(), "err", err)
		return
	}
	hs.recordChanged(r, e.Revision())
}

// recordChanged applies a newer session record: the end of the session, or
// a language every connection (the sender's too) is told about.
func (hs *hubSession) recordChanged(r session.Record, rev uint64) {
	now := hs.s.now()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if rev <= hs.rev || hs.ended {
		return
	}
	hs.rev = rev
	switch {
	case r.PurgeReason != "":
		hs.endLocked(r.PurgeReason)
		return
	case r.Ended():
		hs.endLocked(protocol.EndedByHost)
		return
	}
	if r.Language == hs.language || !r.Language.Valid() {
		return
	}
	hs.language = r.Language
	by := hs.hints.takeLanguage(r.Language, now)
	hs.broadcastLocked(newEvent(protocol.TypeLanguageChanged, hs.id, by, r.Language, now), nil)
}

// endLocked tells every connection the session ended and closes them; the
// Socket.IO ones get DISCONNECT first, so their clients do not reconnect.
func (hs *hubSession) endLocked(reason string) {
	if reason != protocol.EndedExpired && reason != protocol.EndedByHost {
		reason = protocol.EndedDeleted
	}
	hs.ended, hs.endedBy = true, reason
	e := newEvent(protocol.TypeSessionEnded, hs.id, "", protocol.SessionEnded{Reason: reason}, hs.s.now())
	for _, c := range hs.conns {
		c.sendEvent(e)
		c.closeAfterQueue(websocket.CloseNormalClosure, "session ended", protocol.LeftDisconnect, c.fr.Farewell()...)
	}
	hs.s.hub.forget(hs)
	hs.s.log.Info("session ended", "session_id", hs.id, "reason", reason, "connections", len(hs.conns))
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
