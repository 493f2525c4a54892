package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
	"github.com/pairpad/pairpad/shared/token"
)

// errUnauthorized is the answer to a missing or wrong credential; it never
// says which, so it does not help guessing.
var errUnauthorized = protocol.Errorf(protocol.CodeUnauthorized, "A valid bearer token is required")

// requireAdmin lets a request through only with the admin bearer token. With
// no ADMIN_TOKEN configured the internal endpoints are closed: always 401.
func requireAdmin(adminToken string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !isAdmin(adminToken, r) {
				unauthorized(w)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// isAdmin reports whether r carries the admin token. Both sides are hashed
// first, so the constant-time comparison does not leak the token's length.
func isAdmin(adminToken string, r *http.Request) bool {
	got, ok := bearer(r)
	if !ok || adminToken == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(adminToken))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// caller is who a request's bearer credential says is asking about one
// session: the operator, the session's host, or a participant with a role.
type caller struct {
	admin bool
	host  bool          // the session's host key
	role  protocol.Role // a join token's role; empty for admin and host
}

// readsNotes reports whether the caller may read the interviewer's notes.
func (c caller) readsNotes() bool { return c.admin || c.host || c.role.CanReadNotes() }

// ends reports whether the caller may end the interview.
func (c caller) ends() bool { return c.admin || c.host || c.role.CanEnd() }

// sessionAccess identifies callers of one session's protected routes.
type sessionAccess struct {
	adminToken string
	secret     []byte
	store      *session.Store
	now        func() time.Time
}

// identify returns who r's bearer is for session id, with the session's
// record. The admin token and join tokens are checked before the session is
// looked up, and a bearer that is neither, for a session that does not
// exist, is 401 like a wrong host key: the routes do not tell strangers
// which sessions exist. An ended interview is still found.
func (a sessionAccess) identify(r *http.Request, id string) (caller, session.Record, error) {
	got, ok := bearer(r)
	if !ok {
		return caller{}, session.Record{}, errUnauthorized
	}
	var who caller
	if isAdmin(a.adminToken, r) {
		who.admin = true
	} else if c, err := token.Verify(a.secret, got, a.now()); err == nil && c.SessionID == id {
		who.role = c.Role
	}
	rec, _, err := a.store.Get(r.Context(), id)
	switch {
	case errors.Is(err, session.ErrNotFound) && !who.admin && who.role == "":
		return caller{}, session.Record{}, errUnauthorized
	case err != nil:
		return caller{}, session.Record{}, err
	case !who.admin && who.role == "":
		if !rec.HostKeyMatches(got) {
			return caller{}, session.Record{}, errUnauthorized
		}
		who.host = true
	}
	return who, rec, nil
}

// errForbidden answers a valid credential that does not allow what it asks.
func errForbidden(what string) error {
	return protocol.Errorf(protocol.CodeForbidden, "This credential does not allow %s", what)
}

// writeAccessError answers an identify failure: 401 with its
// WWW-Authenticate header, or the error as it is.
func writeAccessError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, errUnauthorized) {
		unauthorized(w)
		return
	}
	writeError(w, r, log, err)
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="pairpad"`)
	httpx.WriteError(w, errUnauthorized)
}
