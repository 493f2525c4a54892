package api

import (
	"net/http"
	"strings"

	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
)

// CORS answers. Only bearer tokens authenticate, never cookies, so
// credentials are not allowed; Retry-After and X-Request-Id are exposed so a
// browser client can honour a 429 and report a request id.
const (
	corsAllowHeaders  = "Content-Type, Authorization"
	corsExposeHeaders = "Retry-After, " + httpx.HeaderRequestID
	corsMaxAge        = "600"
)

// cors adds Access-Control-Allow-Origin to every answer for an allowed
// origin (httpx.OriginAllowed: FRONTEND_URL, or the api's own host). Other
// origins get no CORS headers at all, so the browser withholds the answer
// from the page.
func cors(origins []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Vary", "Origin")
			if origin := r.Header.Get("Origin"); origin != "" && httpx.OriginAllowed(origins, origin, r.Host) {
				w.Header().Set("Access-Control-Allow-Origin", origin)
				w.Header().Set("Access-Control-Expose-Headers", corsExposeHeaders)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// isPreflight reports whether r is a CORS preflight, not a plain OPTIONS.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// preflight answers a CORS preflight for a route that accepts methods: 204
// with what the browser may send when the origin is allowed, else 403.
func preflight(w http.ResponseWriter, r *http.Request, origins []string, methods []string) {
	if !httpx.OriginAllowed(origins, r.Header.Get("Origin"), r.Host) {
		httpx.WriteError(w, protocol.Errorf(protocol.CodeOriginNotAllowed, "Origin %q is not allowed", protocol.Truncate(r.Header.Get("Origin"), 200)))
		return
	}
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Allow", strings.Join(methods, ", "))
	h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}
