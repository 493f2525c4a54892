package realtime

import (
	"context"
	"encoding/json"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// submitTimeout bounds one code-update's durable append.
const submitTimeout = 10 * time.Second

// handleEvent runs one client event on the connection's reader goroutine.
// A refusal is returned, never dropped: the reader answers it with an
// error event (and a Socket.IO ack when one was asked for).
func (s *Service) handleEvent(c *conn, env protocol.Envelope) error {
	s.metrics.eventsIn.WithLabelValues(typeLabel(env.Type)).Inc()
	now := s.now()
	if ok, wait := c.flood.take(now); !ok {
		return rateError("any", rate{n: s.cfg.WSEventsPerSecond, per: time.Second}, wait)
	}
	if env.SessionID != "" && env.SessionID != c.ident.SessionID {
		return protocol.Errorf(protocol.CodeInvalidSession, "This connection belongs to session %s", c.ident.SessionID).
			WithDetails(map[string]any{"type": env.Type})
	}
	hs := c.hs
	var err error
	switch env.Type {
	case protocol.TypeCodeUpdate:
		err = s.codeUpdate(c, env.Payload)
	case protocol.TypeCursorUpdate:
		err = s.cursorUpdate(c, env.Payload)
	case protocol.TypeLanguageChanged:
		err = s.languageChanged(c, env.Payload)
	case protocol.TypeSync:
		hs.mu.Lock()
		c.sendEvent(hs.syncEventLocked(c.ident.UserID))
		hs.mu.Unlock()
	default:
		return protocol.Errorf(protocol.CodeInvalidPayload, "Unknown event type %q", env.Type).
			WithDetails(map[string]any{"type": env.Type})
	}
	if err == nil {
		hs.activity(now)
	}
	return err
}

// limit spends one of the user's events of typ.
func (c *conn) limit(typ string) error {
	c.hs.mu.Lock()
	l := c.hs.limits[c.ident.UserID]
	c.hs.mu.Unlock()
	if l == nil {
		return nil // the user is leaving
	}
	return l.allow(typ, c.s.now())
}

// codeUpdate hands an update to the document engine. Its code-ack (to the
// sender) and code-update (to the others) come back through the hub
// session's listener, in version order; only a duplicate is acked here.
func (s *Service) codeUpdate(c *conn, payload json.RawMessage) error {
	var p struct {
		Delta   *protocol.Delta `json:"delta"`
		Version *int64          `json:"version"`
		OpID    string          `json:"opId"`
	}
	err := json.Unmarshal(payload, &p)
	if err != nil || p.Delta == nil || p.Version == nil {
		var opID string
		if err == nil {
			opID = p.OpID
		}
		return withDetails(protocol.Errorf(protocol.CodeInvalidPayload,
			"code-update payload must be {delta: {fullCode} or {ops}, version, opId?}"), protocol.TypeCodeUpdate, opID)
	}
	u := protocol.CodeUpdate{Delta: *p.Delta, Version: *p.Version, OpID: p.OpID}
	withOp := func(err error) error { return withDetails(err, protocol.TypeCodeUpdate, u.OpID) }
	if err := c.limit(protocol.TypeCodeUpdate); err != nil {
		return withOp(err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, submitTimeout)
	defer cancel()
	res, err := c.hs.doc.Submit(ctx, c.ident.UserID, c.id, u)
	if err != nil {
		if protocol.ErrorCode(err) == protocol.CodeInternal {
			s.log.Error("code-update failed", "session_id", c.ident.SessionID, "conn_id", c.id, "err", err)
		}
		return withOp(err)
	}
	if res.Duplicate {
		c.sendEvent(codeAckEvent(c.ident.SessionID, c.ident.UserID, res.Version, res.OpID, s.now()))
	}
	return nil
}

// cursorUpdate validates a cursor and relays it to the other users, here
// and on the other instances.
func (s *Service) cursorUpdate(c *conn, payload json.RawMessage) error {
	var p struct {
		Position  *protocol.Position  `json:"position"`
		Selection *protocol.Selection `json:"selection"`
	}
	bad := func(why string) error {
		return protocol.Errorf(protocol.CodeInvalidPayload, "cursor-update payload: %s", why).
			WithDetails(map[string]any{"type": protocol.TypeCursorUpdate})
	}
	if err := json.Unmarshal(payload, &p); err != nil || len(payload) == 0 {
		return bad("must be {position:{line,column}, selection?:{start,end}} with integer fields")
	}
	if p.Position == nil || !validPosition(*p.Position) {
		return bad("position must have non-negative integer line and column")
	}
	if p.Selection != nil && (!validPosition(p.Selection.Start) || !validPosition(p.Selection.End)) {
		return bad("selection start and end must have non-negative integer line and column")
	}
	if err := c.limit(protocol.TypeCursorUpdate); err != nil {
		return withDetails(err, protocol.TypeCursorUpdate, "")
	}
	now := s.now()
	e := newEvent(protocol.TypeCursorUpdate, c.ident.SessionID, c.ident.UserID,
		protocol.CursorUpdate{Position: *p.Position, Selection: p.Selection}, now)
	hs := c.hs
	hs.mu.Lock()
	hs.broadcastLocked(e, func(o *conn) bool { return o.ident.UserID == c.ident.UserID })
	hs.mu.Unlock()
	s.publishPeer(c.ident.SessionID, peerMsg{Kind: peerCursor, UserID: c.ident.UserID, Envelope: e.env})
	return nil
}

func validPosition(p protocol.Position) bool { return p.Line >= 0 && p.Column >= 0 }

// languageChanged stores the language in the session record; every
// instance's session watcher then tells its connections, the sender's too.
func (s *Service) languageChanged(c *conn, payload json.RawMessage) error {
	var lang protocol.Language
	if err := json.Unmarshal(payload, &lang); err != nil {
		var obj struct {
			Language protocol.Language `json:"language"`
		}
		if len(payload) == 0 || json.Unmarshal(payload, &obj) != nil {
			return protocol.Errorf(protocol.CodeInvalidLanguage, "language-changed payload must be one of javascript, typescript, python").
				WithDetails(map[string]any{"type": protocol.TypeLanguageChanged})
		}
		lang = obj.Language
	}
	if !lang.Valid() {
		return protocol.Errorf(protocol.CodeInvalidLanguage, "Language %q is not one of javascript, typescript, python", lang).
			WithDetails(map[string]any{"type": protocol.TypeLanguageChanged})
	}
	if err := c.limit(protocol.TypeLanguageChanged); err != nil {
		return withDetails(err, protocol.TypeLanguageChanged, "")
	}
	hs := c.hs
	now := s.now()
	hs.mu.Lock()
	hs.hints.language(lang, c.ident.UserID, now)
	hs.mu.Unlock()
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
	d := map[string]any{"type": typ}
	for k, v := range pe.Details {
		d[k] = v
	}
	if opID != "" {
		d["opId"] = opID
	}
	return pe.WithDetails(d)
}
