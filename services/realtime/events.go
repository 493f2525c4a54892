package realtime

import (
	"context"
	"encoding/json"
	"time"

	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// submitTimeout bounds one code-update's durable append.
const submitTimeout = 10 * time.Second

// clientEvent is one client event, validated: its type and, for the types
// that carry one, its decoded payload. parseEvent makes it from an envelope.
type clientEvent struct {
	typ    string
	code   protocol.CodeUpdate   // code-update, notes-update
	cursor protocol.CursorUpdate // cursor-update
	lang   protocol.Language     // language-changed
	run    protocol.RunOutput    // run-output
}

// parseEvent validates a client envelope for the connection's session
// sessionID, without side effects. A refusal is INVALID_SESSION,
// INVALID_PAYLOAD, INVALID_LANGUAGE or DOCUMENT_TOO_LARGE, with
// details.type (and the opId of a code-update that carried one).
func parseEvent(env protocol.Envelope, sessionID string) (clientEvent, error) {
	ev := clientEvent{typ: env.Type}
	typ := protocol.Truncate(env.Type, maxTypeEcho) // a refusal echoes the type, not a megabyte of it
	if env.SessionID != "" && env.SessionID != sessionID {
		return ev, withDetails(protocol.Errorf(protocol.CodeInvalidSession, "This connection belongs to session %s", sessionID),
			typ, probeOpID(env))
	}
	var err error
	switch env.Type {
	case protocol.TypeCodeUpdate, protocol.TypeNotesUpdate:
		ev.code, err = protocol.DecodeCodeUpdate(env.Payload)
	case protocol.TypeRunOutput:
		ev.run, err = protocol.DecodeRunOutput(env.Payload)
	case protocol.TypeCursorUpdate:
		ev.cursor, err = protocol.DecodeCursorUpdate(env.Payload)
	case protocol.TypeLanguageChanged:
		ev.lang, err = protocol.DecodeLanguage(env.Payload)
	case protocol.TypeSync:
		// No payload: whatever came with it is ignored.
	default:
		err = protocol.Errorf(protocol.CodeInvalidPayload, "Unknown event type %q", typ)
	}
	if err != nil {
		return ev, withDetails(err, typ, probeOpID(env))
	}
	return ev, nil
}

// probeOpID returns the opId of a code-update or notes-update envelope
// whose payload has one, however malformed the rest, so a refusal names the
// update it refuses.
func probeOpID(env protocol.Envelope) string {
	if env.Type != protocol.TypeCodeUpdate && env.Type != protocol.TypeNotesUpdate {
		return ""
	}
	var p struct {
		OpID json.RawMessage `json:"opId"`
	}
	if json.Unmarshal(env.Payload, &p) != nil {
		return ""
	}
	id, err := protocol.DecodeString(p.OpID) // an opId that decoding would rewrite names nothing
	if err != nil || protocol.ValidateOpID(id) != nil {
		return ""
	}
	return id
}

// maxTypeEcho bounds the event type a refusal repeats back.
const maxTypeEcho = 64

// handleEvent runs one validated client event: a cursor update on the
// connection's reader, the others on its submitter (submitter.go). A
// refusal is returned, never dropped: the caller answers it with an error
// event (and a Socket.IO ack when one was asked for).
func (s *Service) handleEvent(c *client, ev clientEvent) error {
	now := s.now()
	rm := c.rm
	var err error
	switch ev.typ {
	case protocol.TypeCodeUpdate:
		err = s.codeUpdate(c, ev.code)
	case protocol.TypeNotesUpdate:
		err = s.notesUpdate(c, ev.code)
	case protocol.TypeRunOutput:
		err = s.runOutput(c, ev.run)
	case protocol.TypeCursorUpdate:
		err = s.cursorUpdate(c, ev.cursor)
	case protocol.TypeLanguageChanged:
		err = s.languageChanged(c, ev.lang)
	case protocol.TypeSync:
		rm.mu.Lock()
		c.sendEvent(rm.syncEventLocked(c))
		rm.mu.Unlock()
	}
	if err == nil {
		rm.activity(now)
	}
	return err
}

// limit spends one of the user's events of typ.
func (c *client) limit(typ string) error {
	now := c.d.now()
	return c.d.limits.get(c.ident.SessionID, c.ident.UserID, now).allow(typ, now)
}

// codeUpdate hands an update to the document engine. Its code-ack (to the
// sender) and code-update (to the others) come back through the hub
// session's listener, in version order; only a duplicate is acked here.
func (s *Service) codeUpdate(c *client, u protocol.CodeUpdate) error {
	return s.submitTo(c, c.rm.doc, protocol.TypeCodeUpdate, protocol.TypeCodeAck, u)
}

// submitTo hands an update of type typ (code-update, notes-update) to
// document d; a duplicate is acknowledged here with ackType, every other
// answer comes back through d's listener.
func (s *Service) submitTo(c *client, d *document.Doc, typ, ackType string, u protocol.CodeUpdate) error {
	withOp := func(err error) error { return withDetails(err, typ, u.OpID) }
	// The rate limit was spent by the reader when the update arrived (limitEvent).
	if err := s.natsDown(); err != nil {
		return withOp(err)
	}
	if d == nil {
		return withOp(protocol.Errorf(protocol.CodeInternal, "the document of %s is not open", typ))
	}
	// The bound goes down as a time: a context with that deadline (a
	// timer, a cancel context, an entry in s.ctx's children) is made only
	// by a step that waits on more than one answer.
	res, err := d.SubmitWithin(s.ctx, submitTimeout, c.author(), c.id, u)
	if err != nil {
		err = unavailable(err)
		if protocol.ErrorCode(err) == protocol.CodeInternal {
			s.log.Error(typ+" failed", "session_id", c.ident.SessionID, "conn_id", c.id, "err", err)
		}
		return withOp(err)
	}
	if res.Duplicate {
		hash := ""
		if d == c.rm.doc {
			hash = d.HashAt(res.Version)
		}
		c.sendEvent(ackEvent(ackType, c.ident.SessionID, c.ident.UserID, res.Version, res.OpID, hash, s.now()))
	}
	return nil
}

// cursorUpdate relays a validated cursor to the other users, here and on
// the other instances.
func (s *Service) cursorUpdate(c *client, cur protocol.CursorUpdate) error {
	if err := c.limit(protocol.TypeCursorUpdate); err != nil {
		return withDetails(err, protocol.TypeCursorUpdate, "")
	}
	now := s.now()
	e := newEvent(protocol.TypeCursorUpdate, c.ident.SessionID, c.ident.UserID, cur, now)
	e.Key = cursorKey(c.ident.UserID)
	rm := c.rm
	rm.mu.Lock()
	rm.broadcastLocked(e, func(o *client) bool { return o.ident.UserID == c.ident.UserID })
	rm.mu.Unlock()
	// Only when another instance holds a connection of the session: a
	// session held here alone (always, in the all-in-one) costs no NATS
	// message per cursor. A connection elsewhere whose presence entry has
	// not reached this instance yet misses the moves until it has; cursors
	// are ephemeral, and the next move reaches it.
	if s.presence.elsewhere(c.ident.SessionID) {
		s.publishPeer(c.ident.SessionID, peerMsg{Kind: peerCursor, UserID: c.ident.UserID, Envelope: e.Body})
	}
	return nil
}

// languageChanged stores the language in the session record; every
// instance's session watcher then tells its connections, the sender's too.
func (s *Service) languageChanged(c *client, lang protocol.Language) error {
	// The rate limit was spent by the reader when it arrived (limitEvent).
	if err := s.natsDown(); err != nil {
		return withDetails(err, protocol.TypeLanguageChanged, "")
	}
	rm := c.rm
	now := s.now()
	rm.mu.Lock()
	rm.hints.language(lang, c.ident.UserID, now)
	rm.mu.Unlock()
	s.publishPeer(c.ident.SessionID, peerMsg{Kind: peerLanguage, UserID: c.ident.UserID, Language: lang})
	ctx, cancel := context.WithTimeout(s.ctx, submitTimeout)
	defer cancel()
	var before protocol.Language
	_, err := s.store.Update(ctx, c.ident.SessionID, func(r *session.Record) error {
		before = r.Language
		r.Language = lang
		if now.After(r.LastActivityAt) {
			r.LastActivityAt = now.UTC()
		}
		return nil
	})
	if err != nil {
		err = unavailable(err)
		if protocol.ErrorCode(err) == protocol.CodeInternal {
			s.log.Error("language change failed", "session_id", c.ident.SessionID, "err", err)
		}
		return withDetails(err, protocol.TypeLanguageChanged, "")
	}
	if before == lang {
		// Nothing changes, so no watcher event comes: confirm to the sender.
		c.sendEvent(newEvent(protocol.TypeLanguageChanged, c.ident.SessionID, c.ident.UserID, lang, now))
	}
	return nil
}

// withDetails adds the event type (and the opId of a code-update) to a
// refusal's details, so the client knows which update was refused.
func withDetails(err error, typ, opID string) error {
	pe, ok := err.(*protocol.Error)
	if !ok || protocol.ErrorCode(err) == protocol.CodeInternal {
		pe = protocol.Wrap(protocol.ErrorCode(err), protocol.ErrorMessage(err), err)
	}
	d := make(map[string]any, len(pe.Details)+2)
	for k, v := range pe.Details {
		d[k] = v
	}
	// type and opId name the refused event; a decoder's note about a field
	// of the same name is in the message already.
	d["type"] = typ
	delete(d, "opId")
	if opID != "" {
		d["opId"] = opID
	}
	return pe.WithDetails(d)
}
