package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/pairpad/pairpad/shared/httpx"
)

// addRoutes is the whole REST surface. Rate limits wrap authentication, so
// guessing the admin token is limited too; health, readiness and the
// document are never limited and never wait on NATS. Every route that needs
// NATS is bounded: 503 at once while NATS is down, a deadline otherwise.
func (s *Service) addRoutes(r *mux.Router) {
	c, cfg, now := s.catalog, s.cfg, s.now
	create := s.limit(classCreate, cfg.RateCreate)
	join := s.limit(classJoin, cfg.RateJoin)
	other := s.limit(classDefault, cfg.RateDefault)
	admin := requireAdmin(cfg.AdminToken)
	bound := bounded(s.infra.NC) // outermost: an outage answers 503 before anything waits on NATS
	access := sessionAccess{adminToken: cfg.AdminToken, secret: cfg.TokenSecret, store: s.store, now: now}
	tokens := joinTokens{secret: cfg.TokenSecret, ttl: cfg.TokenTTL, wsURL: cfg.WSURL, trustProxy: cfg.TrustProxy}

	r.Handle("/api/health", httpx.Health()).Methods(http.MethodGet)
	r.Handle("/api/ready", httpx.Ready(s.infra.Ready)).Methods(http.MethodGet)
	r.Handle("/api/openapi.yaml", handleOpenAPI()).Methods(http.MethodGet)

	r.Handle("/api/sessions", bound(create(handleCreateSession(c, s.log)))).Methods(http.MethodPost)
	r.Handle("/api/sessions", bound(other(admin(handleListSessions(c, s.log))))).Methods(http.MethodGet)
	r.Handle("/api/sessions/{sessionId}", bound(other(handleGetSession(c, s.log)))).Methods(http.MethodGet)
	r.Handle("/api/sessions/{sessionId}", bound(other(admin(handleDeleteSession(s.infra, s.store, s.log))))).Methods(http.MethodDelete)
	r.Handle("/api/sessions/{sessionId}/join", bound(join(handleJoin(c, s.store, s.participants, tokens, now, s.log)))).Methods(http.MethodPost)
	r.Handle("/api/sessions/{sessionId}/history", bound(other(handleHistory(s.infra, access, s.log)))).Methods(http.MethodGet)
	r.Handle("/api/sessions/{sessionId}/end", bound(other(handleEnd(c, access, s.log)))).Methods(http.MethodPost)
	r.Handle("/api/sessions/{sessionId}/code", bound(other(handleCode(s.infra, access, s.log)))).Methods(http.MethodGet)
	r.Handle("/api/sessions/{sessionId}/notes", bound(other(handleNotes(s.infra, access, s.log)))).Methods(http.MethodGet)

	r.NotFoundHandler = handleNotFound()
	r.MethodNotAllowedHandler = handleMethodNotAllowed(r, cfg.FrontendURLs)
	r.Use(httpx.LabelRoute(routeTemplate))
}

// routeTemplate is the matched route's path template, the metrics' route label.
func routeTemplate(r *http.Request) string {
	if cur := mux.CurrentRoute(r); cur != nil {
		t, _ := cur.GetPathTemplate()
		return t
	}
	return ""
}
