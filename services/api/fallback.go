package api

import (
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gorilla/mux"

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
// gets 204, anything else 405. Both carry Allow, read off the router so it
// can never disagree with routes.go.
func handleMethodNotAllowed(router *mux.Router, origins []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		template, methods := allowed(router, r)
		if template != "" {
			httpx.SetRoute(r, template)
		}
		switch {
		case isPreflight(r):
			preflight(w, r, origins, methods)
		case r.Method == http.MethodOptions:
			w.Header().Set("Allow", strings.Join(methods, ", "))
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", strings.Join(methods, ", "))
			httpx.WriteError(w, protocol.Errorf(protocol.CodeMethodNotAllowed,
				"Method %s is not allowed here; allowed: %s", protocol.Truncate(r.Method, 20), strings.Join(methods, ", ")))
		}
	})
}

// allowed returns the template of the routes matching r's path and the
// methods they accept, OPTIONS included.
func allowed(router *mux.Router, r *http.Request) (string, []string) {
	var template string
	methods := []string{http.MethodOptions}
	_ = router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		re, err := route.GetPathRegexp()
		if err != nil || !matchesPath(re, r.URL.Path) {
			return nil
		}
		template, _ = route.GetPathTemplate()
		ms, _ := route.GetMethods()
		methods = append(methods, ms...)
		return nil
	})
	slices.Sort(methods)
	return template, slices.Compact(methods)
}

// matchesPath compiles the route's regexp on each call: 405s and
// preflights are rare, and mux generated the regexp, so it compiles.
func matchesPath(re, path string) bool {
	ok, _ := regexp.MatchString(re, path)
	return ok
}
