package api

import (
	"net/http"
	"path"
	"slices"

	"github.com/pairpad/pairpad/shared/httpx"
)

// route is one REST operation: a method on a path pattern of net/http's
// ServeMux ("/api/sessions/{sessionId}"), which is also the metrics' route label.
type route struct {
	method, path string
	handler      http.Handler
}

// routes is the whole REST surface. Rate limits wrap authentication, so
// guessing the admin token is limited too; health, readiness and the
// document are never limited and never wait on NATS. Every route that needs
// NATS is bounded: 503 at once while NATS is down, a deadline otherwise.
func (s *Service) routes() []route {
	c, cfg, now := s.catalog, s.cfg, s.now
	create := s.limit(classCreate, cfg.RateCreate)
	join := s.limit(classJoin, cfg.RateJoin)
	other := s.limit(classDefault, cfg.RateDefault)
	admin := requireAdmin(cfg.AdminToken)
	bound := bounded(s.infra.NC) // outermost: an outage answers 503 before anything waits on NATS
	access := sessionAccess{adminToken: cfg.AdminToken, secret: cfg.TokenSecret, store: s.store, now: now}
	tokens := joinTokens{secret: cfg.TokenSecret, ttl: cfg.TokenTTL, wsURL: cfg.WSURL, trustProxy: cfg.TrustProxy}

	return []route{
		{http.MethodGet, "/api/health", httpx.Health()},
		{http.MethodGet, "/api/ready", httpx.Ready(s.infra.Ready)},
		{http.MethodGet, "/api/openapi.yaml", handleOpenAPI()},

		{http.MethodPost, "/api/sessions", bound(create(handleCreateSession(c, s.log)))},
		{http.MethodGet, "/api/sessions", bound(other(admin(handleListSessions(c, s.log))))},
		{http.MethodGet, "/api/sessions/{sessionId}", bound(other(handleGetSession(c, s.log)))},
		{http.MethodDelete, "/api/sessions/{sessionId}", bound(other(admin(handleDeleteSession(s.infra, s.store, s.log))))},
		{http.MethodPost, "/api/sessions/{sessionId}/join", bound(join(handleJoin(c, s.store, s.participants, tokens, now, s.log)))},
		{http.MethodGet, "/api/sessions/{sessionId}/history", bound(other(handleHistory(s.infra, access, s.log)))},
		{http.MethodPost, "/api/sessions/{sessionId}/end", bound(other(handleEnd(c, access, s.log)))},
		{http.MethodGet, "/api/sessions/{sessionId}/code", bound(other(handleCode(s.infra, access, s.log)))},
		{http.MethodGet, "/api/sessions/{sessionId}/notes", bound(other(handleNotes(s.infra, access, s.log)))},
	}
}

// newRouter registers routes as "METHOD path" patterns on a ServeMux. Every
// path also gets a method-less pattern answering its other methods (JSON 405,
// OPTIONS and CORS preflights, with Allow from this same table), and "/"
// answers the JSON 404. A GET pattern would also take HEAD; HEAD is not part
// of the api, so it gets the 405 answer too.
func newRouter(routes []route, origins []string) http.Handler {
	m := http.NewServeMux()
	methods := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		if _, ok := methods[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
		m.Handle(rt.method+" "+rt.path, labelled(rt.path, rt.handler))
	}
	for _, p := range paths {
		allow := append([]string{http.MethodOptions}, methods[p]...)
		slices.Sort(allow)
		allow = slices.Compact(allow)
		other := labelled(p, handleMethodNotAllowed(allow, origins))
		m.Handle(p, other)
		if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
			m.Handle(http.MethodHead+" "+p, other)
		}
	}
	m.Handle("/", handleNotFound())
	return cleanPaths(m)
}

// labelled reports template as the request's route, for the metrics and the access log.
func labelled(template string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r, template)
		next.ServeHTTP(w, r)
	})
}

// cleanPaths answers a path that path.Clean would change ("/api//sessions",
// "/api/sessions/") with the JSON 404 before ServeMux would redirect it:
// redirects are not part of the protocol. Routes match the decoded path: an
// escaped slash separates segments like a plain one ("/api/sessions/a%2Fb"
// matches no route).
func cleanPaths(next http.Handler) http.Handler {
	notFound := handleNotFound()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || path.Clean(p) != p {
			notFound.ServeHTTP(w, r)
			return
		}
		if r.URL.RawPath != "" {
			u := *r.URL
			u.RawPath = ""
			r = r.WithContext(r.Context())
			r.URL = &u
		}
		next.ServeHTTP(w, r)
	})
}
