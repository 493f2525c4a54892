package local

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/pairpad/pairpad/services/api"
	"github.com/pairpad/pairpad/services/janitor"
	"github.com/pairpad/pairpad/services/realtime"
	"github.com/pairpad/pairpad/shared/process"
)

// AllInOne is the three services behind one handler.
type AllInOne struct {
	api      *api.Service
	realtime *realtime.Service
	janitor  *janitor.Service
	mux      *http.ServeMux
}

var (
	_ process.Service = (*AllInOne)(nil)
	_ process.Failer  = (*AllInOne)(nil)
)

// New builds the three services on one set of dependencies.
func New(ctx context.Context, d process.Deps) (*AllInOne, error) {
	a, err := api.New(ctx, d)
	if err != nil {
		return nil, err
	}
	r, err := realtime.New(ctx, d)
	if err != nil {
		return nil, errors.Join(err, a.Shutdown(context.Background()))
	}
	j, err := janitor.New(ctx, d)
	if err != nil {
		return nil, errors.Join(err, r.Shutdown(context.Background()), a.Shutdown(context.Background()))
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", a.Handler())
	mux.Handle("/", r.Handler()) // /socket.io/, /ws, the demo page and the client
	return &AllInOne{api: a, realtime: r, janitor: j, mux: mux}, nil
}

// Handler routes /api to the api and everything else to realtime.
func (s *AllInOne) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
			s.api.Handler().ServeHTTP(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Failed is realtime's: the one of the three that can fail while it runs
// (its epoll reader); the whole process then ends.
func (s *AllInOne) Failed() <-chan error { return s.realtime.Failed() }

// Shutdown drains WebSockets first, then stops the janitor and the api.
func (s *AllInOne) Shutdown(ctx context.Context) error {
	return errors.Join(s.realtime.Shutdown(ctx), s.janitor.Shutdown(ctx), s.api.Shutdown(ctx))
}
