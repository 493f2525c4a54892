package api

import (
	"net/http"
	"strings"

	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
)

// handleNotFound answers a path no route has.
func handleNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, protocol.Errorf(protocol.CodeNotFound, "No route for %s %s", r.Method, protocol.Truncate(r.URL.Path, 200)))
	})
}

// handleMethodNotAllowed answers a known path asked with a method it does not
// take: OPTIONS (a CORS preflight, or a plain question about the methods)
// gets 204, anything else 405. Both carry Allow, the sorted methods the
// path's routes take (OPTIONS included), built from the route table so it
// can never disagree with routes.go.
func handleMethodNotAllowed(methods []string, origins []string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case isPreflight(r):
			preflight(w, r, origins, methods)
		case r.Method == http.MethodOptions:
			w.Header().Set("Allow", allow)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", allow)
			httpx.WriteError(w, protocol.Errorf(protocol.CodeMethodNotAllowed,
				"Method %s is not allowed here; allowed: %s", protocol.Truncate(r.Method, 20), allow))
		}
	})
}
