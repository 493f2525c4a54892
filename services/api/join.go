package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
	"github.com/pairpad/pairpad/shared/token"
)

// joinTokens is what a join needs to hand out a token and a WebSocket URL.
type joinTokens struct {
	secret     []byte
	ttl        time.Duration
	wsURL      string // WS_URL; empty: derived from the request
	trustProxy bool
}

// handleJoin checks a user into a session: it validates who they are and
// the role they ask for (interviewer and observer need the host key),
// registers the user id's role and colour (kept for the session's life),
// records activity on the session (so the janitor keeps it) and returns a
// join token realtime verifies at the WebSocket handshake.
func handleJoin(c catalog, store *session.Store, reg participants, jt joinTokens, now func() time.Time, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("sessionId")
		if !protocol.ValidSessionID(id) {
			writeError(w, r, log, session.ErrNotFound)
			return
		}
		var req protocol.JoinRequest
		if err := decodeBody(w, r, &req); err != nil {
			writeError(w, r, log, err)
			return
		}
		name, err := validateJoin(req)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		role := req.Role.OrDefault()
		rec, _, err := store.Get(r.Context(), id)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if rec.Ended() {
			writeError(w, r, log, errSessionEnded)
			return
		}
		if role.NeedsHostKey() && !rec.HostKeyMatches(req.HostKey) {
			writeError(w, r, log, protocol.Errorf(protocol.CodeForbidden,
				"Joining as %s needs the session's hostKey, and the one given is missing or wrong", role))
			return
		}
		me, err := reg.register(r.Context(), id, req.UserID, role)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		t := now()
		// Touch fails with SESSION_NOT_FOUND for a session removed meanwhile.
		if err := store.Touch(r.Context(), id, t); err != nil {
			writeError(w, r, log, err)
			return
		}
		s, err := c.get(r.Context(), id)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if s.Status == protocol.StatusEnded {
			// Ended while this join was under way: no token after the end.
			writeError(w, r, log, errSessionEnded)
			return
		}
		tok := token.Sign(jt.secret, token.Claims{SessionID: id, UserID: req.UserID, UserName: name,
			Expiry: t.Add(jt.ttl).Unix(), Role: me.Role, Color: me.Color})
		httpx.WriteJSON(w, http.StatusOK, protocol.JoinResponse{
			SessionID: id, UserID: req.UserID, WSURL: wsURL(r, jt.wsURL, jt.trustProxy),
			ParticipantCount: s.ParticipantCount, Token: tok, Role: me.Role, Color: me.Color,
		})
	})
}

// errSessionEnded answers a join of an interview that was ended.
var errSessionEnded = protocol.Errorf(protocol.CodeSessionEnded,
	"The interview has ended: the session can be read but not joined")

// validateJoin checks userId, userName, role and hostKey and returns the
// trimmed name; every field's problem is reported at once.
func validateJoin(req protocol.JoinRequest) (string, error) {
	details := map[string]any{}
	var msgs []string
	if err := protocol.ValidateUserID(req.UserID); err != nil {
		details["userId"] = err.Error()
		msgs = append(msgs, err.Error())
	}
	name, err := protocol.NormalizeUserName(req.UserName)
	if err != nil {
		details["userName"] = err.Error()
		msgs = append(msgs, err.Error())
	}
	switch role := req.Role.OrDefault(); {
	case !role.Valid():
		why := "role must be one of " + roleList()
		details["role"] = why
		msgs = append(msgs, why)
	case req.HostKey != "" && !role.NeedsHostKey():
		why := "hostKey is only for the roles interviewer and observer"
		details["hostKey"] = why
		msgs = append(msgs, why)
	case len(req.HostKey) > maxHostKeyLen:
		why := fmt.Sprintf("hostKey must be at most %d characters", maxHostKeyLen)
		details["hostKey"] = why
		msgs = append(msgs, why)
	}
	if len(msgs) > 0 {
		return "", invalid("Invalid join request: "+strings.Join(msgs, "; "), details)
	}
	return name, nil
}

// maxHostKeyLen bounds what a join may send as hostKey (a key is 43).
const maxHostKeyLen = 256

func roleList() string {
	names := make([]string, len(protocol.Roles))
	for i, r := range protocol.Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// wsURL is the base URL of the realtime gateway, without a path: Socket.IO
// clients connect to <wsUrl>/socket.io/, plain WebSocket clients to <wsUrl>/ws.
// WS_URL wins; otherwise it is derived from the request, honouring
// X-Forwarded-Proto and X-Forwarded-Host only behind a trusted proxy.
func wsURL(r *http.Request, configured string, trustProxy bool) string {
	if configured != "" {
		return strings.TrimRight(configured, "/")
	}
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	host := r.Host
	if trustProxy {
		switch strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))) {
		case "https", "wss":
			scheme = "wss"
		case "http", "ws":
			scheme = "ws"
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); validHost(h) {
			host = h
		}
	}
	if !validHost(host) {
		host = "localhost"
	}
	return scheme + "://" + host
}

// firstValue is the first entry of a comma-separated header (the one the
// proxy nearest the client wrote).
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// validHost accepts host[:port] made of the characters a host may have, so
// a forged header cannot smuggle a path or a scheme into wsUrl.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}
