package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
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

// joinTokenFor reports whether r carries a valid, unexpired join token of sessionID.
func joinTokenFor(secret []byte, sessionID string, r *http.Request, now time.Time) bool {
	got, ok := bearer(r)
	if !ok {
		return false
	}
	c, err := token.Verify(secret, got, now)
	return err == nil && c.SessionID == sessionID
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
