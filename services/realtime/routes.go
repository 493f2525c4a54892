package realtime

import (
	"net/http"

	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/services/realtime/web"
	"github.com/pairpad/pairpad/shared/httpx"
)

// routes is the service's whole HTTP surface.
func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(sio.Path, s.handleSocketIO()) // every method: polling gets its clear 400
	mux.Handle("/ws", s.handlePlain())
	// The demo page at / and the client modules under /client/ (with CORS
	// for the FRONTEND_URL origins); any other path is NOT_FOUND in the
	// documented shape, from the web handler.
	mux.Handle("/", labelled("web", web.Handler(s.originAllowed)))
	return mux
}

// labelled reports route to the process's access log and metrics.
func labelled(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r, route)
		h.ServeHTTP(w, r)
	})
}
