package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/ratelimit"
	"github.com/pairpad/pairpad/shared/token"
)

// identity is who a connection is, once its handshake is admitted.
type identity struct {
	SessionID string
	UserID    string
	UserName  string
	Role      protocol.Role // from the join token; anonymous clients are candidates
	Color     string        // from the join token, else derived from the user id
	Format    deltaFormat
	Since     int64 // the last version the client has; -1: none
}

// handshake is what a client presents: the query of the upgrade request,
// completed for Socket.IO by the CONNECT packet's auth object.
type handshake struct {
	SessionID, UserID, UserName, Token, Since, DeltaFormat string
	Origin, Host                                           string
}

func handshakeFrom(r *http.Request) handshake {
	q := r.URL.Query()
	return handshake{
		SessionID: q.Get("sessionId"), UserID: q.Get("userId"), UserName: q.Get("userName"),
		Token: q.Get("token"), Since: q.Get("since"), DeltaFormat: q.Get("deltaFormat"),
		Origin: r.Header.Get("Origin"), Host: r.Host,
	}
}

// mergeAuth applies a Socket.IO CONNECT auth object: its fields win over the
// query. since may be a number or a string there. A string that
// encoding/json would rewrite (invalid UTF-8, a lone surrogate escape) is
// INVALID_REQUEST.
func (h *handshake) mergeAuth(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var auth map[string]json.RawMessage
	if err := json.Unmarshal(raw, &auth); err != nil {
		return protocol.Errorf(protocol.CodeInvalidRequest, "The CONNECT auth must be a JSON object")
	}
	fields := map[string]*string{
		"sessionId": &h.SessionID, "userId": &h.UserID, "userName": &h.UserName,
		"token": &h.Token, "since": &h.Since, "deltaFormat": &h.DeltaFormat,
	}
	for name, dst := range fields {
		v, ok := auth[name]
		if !ok || string(v) == "null" {
			continue
		}
		s, err := protocol.DecodeString(v)
		if err == nil {
			*dst = s
			continue
		}
		if errors.Is(err, protocol.ErrRewritten) {
			// Refused rather than rewritten: two ids must not become one.
			return protocol.Errorf(protocol.CodeInvalidRequest, "auth.%s: %v", name, err).
				WithDetails(map[string]any{"field": name})
		}
		var n json.Number
		if err := json.Unmarshal(v, &n); err == nil && name == "since" {
			*dst = n.String()
			continue
		}
		return protocol.Errorf(protocol.CodeInvalidRequest, "auth.%s must be a string", name)
	}
	return nil
}

// admission is an admitted handshake: its identity, its held room and
// a place held in it. Exactly one of join and cancel must follow.
type admission struct {
	ident identity
	rm    *room
	notes bool // holds the session's notes (the role may read them)
}

func (a *admission) cancel(s *Service) {
	if a.notes {
		a.rm.releaseNotes()
	}
	a.rm.releasePlace(a.ident.UserID)
	s.hub.release(a.rm)
}

// admit runs every check of a handshake, in the order the protocol's codes
// suggest (origin, request, token, session, capacity), and joins nothing:
// a refusal leaves no trace but a metric.
func (s *Service) admit(ctx context.Context, h handshake) (*admission, error) {
	if !s.originAllowed(h.Origin, h.Host) {
		return nil, protocol.Errorf(protocol.CodeOriginNotAllowed, "Origin %q is not allowed", h.Origin)
	}
	id, err := s.identify(h)
	if err != nil {
		return nil, err
	}
	hr := rate{n: s.cfg.WSHandshakeRate.N, per: s.cfg.WSHandshakeRate.Per}
	if err := s.limits.handshake(id.SessionID, id.UserID, hr, s.now()); err != nil {
		return nil, err
	}
	rm, err := s.hub.acquire(ctx, id.SessionID, id.Since)
	if err != nil {
		return nil, err
	}
	if err := rm.holdPlace(id.UserID); err != nil {
		s.hub.release(rm)
		return nil, err
	}
	a := &admission{ident: id, rm: rm}
	if id.Role.CanReadNotes() {
		if err := rm.acquireNotes(ctx); err != nil {
			a.cancel(s)
			return nil, err
		}
		a.notes = true
	}
	// Touch synchronously: a janitor deciding this session is idle then
	// loses its compare-and-swap against the user who is connecting.
	if err := rm.touch(ctx, s.now()); err != nil {
		a.cancel(s)
		return nil, err
	}
	rm.touched(s.now())
	return a, nil
}

// errBadToken is the one answer to every bad token: a wrong signature, an
// expiry, another session or another user look the same to the client, so
// a refusal tells nothing about which part of a guessed token was right.
const errBadToken = "The join token is invalid, has expired, or was issued for another session or user"

// identify validates the handshake's parameters and its join token.
func (s *Service) identify(h handshake) (identity, error) {
	id := identity{SessionID: h.SessionID, UserID: h.UserID, Role: protocol.RoleCandidate, Since: -1}
	if id.SessionID == "" {
		return id, protocol.Errorf(protocol.CodeInvalidRequest, "sessionId is required")
	}
	if !protocol.ValidSessionID(id.SessionID) {
		return id, protocol.Errorf(protocol.CodeSessionNotFound, "Session with the specified ID does not exist")
	}
	f, ok := parseDeltaFormat(h.DeltaFormat)
	if !ok {
		return id, protocol.Errorf(protocol.CodeInvalidRequest, "deltaFormat must be fullCode or ops").
			WithDetails(map[string]any{"field": "deltaFormat"})
	}
	id.Format = f
	if h.Since != "" {
		v, err := strconv.ParseInt(h.Since, 10, 64)
		if err != nil || v < 0 {
			return id, protocol.Errorf(protocol.CodeInvalidRequest, "since must be a non-negative integer version").
				WithDetails(map[string]any{"field": "since"})
		}
		id.Since = v
	}
	name := h.UserName
	switch {
	case h.Token != "":
		c, err := token.Verify(s.cfg.TokenSecret, h.Token, s.now())
		if err != nil {
			return id, protocol.Wrap(protocol.CodeUnauthorized, errBadToken, err)
		}
		if c.SessionID != id.SessionID || (id.UserID != "" && c.UserID != id.UserID) {
			return id, protocol.Errorf(protocol.CodeUnauthorized, errBadToken)
		}
		id.UserID, id.Role, id.Color = c.UserID, c.Role.OrDefault(), c.Color
		if c.UserName != "" {
			name = c.UserName // the name the api validated and signed is authoritative
		}
	case !s.cfg.WSAllowAnonymous:
		return id, protocol.Errorf(protocol.CodeUnauthorized, "A join token is required: join the session first (POST /api/sessions/{id}/join)")
	}
	if err := protocol.ValidateUserID(id.UserID); err != nil {
		return id, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err).WithDetails(map[string]any{"field": "userId"})
	}
	if name == "" {
		name = id.UserID // an anonymous client without a name is shown by its id
	}
	n, err := protocol.NormalizeUserName(name)
	if err != nil {
		return id, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err).WithDetails(map[string]any{"field": "userName"})
	}
	id.UserName = n
	if id.Color == "" {
		id.Color = protocol.UserColor(id.UserID)
	}
	// The identity lives as long as the connection. A query parameter is a
	// substring of the upgrade request's line (token included, ~270 bytes)
	// and would keep all of it: keep copies of only what is used.
	id.SessionID, id.UserID, id.UserName = strings.Clone(id.SessionID), strings.Clone(id.UserID), strings.Clone(id.UserName)
	return id, nil
}

// originAllowed checks a browser's Origin (httpx.OriginAllowed). A request
// without Origin is not from a browser and is allowed: a token, not the
// origin, is what admits it.
func (s *Service) originAllowed(origin, host string) bool {
	return origin == "" || httpx.OriginAllowed(s.cfg.FrontendURLs, origin, host)
}

// clientIP is the address connection limits count by: the one
// ratelimit.ClientIP gives the api's limits too (X-Forwarded-For only with
// TRUST_PROXY), normalised, so one address has one spelling.
func (s *Service) clientIP(r *http.Request) string {
	return ratelimit.ClientIP(r, s.cfg.TrustProxy)
}

// handshakeFailure makes sure a refusal carries a protocol code: NATS not
// answering is SERVICE_UNAVAILABLE (retry), anything else unexpected
// INTERNAL_SERVER_ERROR (and is logged by the caller).
func handshakeFailure(err error) error {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		err = protocol.Wrap(protocol.CodeInternal, "The handshake failed", fmt.Errorf("handshake: %w", err))
	}
	return broker.Classify(err)
}
