package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/services/api"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/protocol"
)

const (
	adminToken  = "admin-secret-token"
	tokenSecret = "test-token-secret"
	frontend    = "http://localhost:3000"
)

// clock is a settable clock shared by a test and the services it runs.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// start is 30 s into a minute, so fixed one-minute windows have 30 s left.
var start = time.Date(2025, 3, 1, 10, 0, 30, 0, time.UTC)

// env is a test's environment: the variables config.Load reads.
type env map[string]string

// baseEnv disables rate limits and sets the secrets; tests override it.
func baseEnv() env {
	return env{
		"ADMIN_TOKEN": adminToken, "TOKEN_SECRET": tokenSecret, "FRONTEND_URL": frontend + ",https://app.example.com",
		"RATE_LIMIT_CREATE": "0", "RATE_LIMIT_JOIN": "0", "RATE_LIMIT_DEFAULT": "0",
	}
}

func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// startNATS runs an embedded JetStream server and provisions the layout.
func startNATS(t *testing.T) (*server.Server, *broker.Infra) {
	t.Helper()
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	in, err := broker.Provision(context.Background(), nc, broker.Layout{Replicas: 1, PresenceTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s, in
}

// testAPI is one api Service behind the process middleware on a real HTTP server.
type testAPI struct {
	svc  *api.Service
	srv  *httptest.Server
	reg  *prometheus.Registry
	spec *specCheck
}

// newAPI starts an api Service over in, configured by e, wrapped in the
// middleware process.Run uses, on a real listener.
func newAPI(t *testing.T, in *broker.Infra, e env, clk *clock) *testAPI {
	t.Helper()
	cfg, err := config.Load("api", func(k string) string { return e[k] })
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	svc, err := api.New(context.Background(), process.Deps{Config: cfg, Infra: in, Log: log, Metrics: reg, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpx.Middleware(log, reg)(svc.Handler()))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testAPI{svc: svc, srv: srv, reg: reg, spec: loadSpec(t)}
}

// response is what a request got, already checked against openapi.yaml.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorBody decodes a documented error body and checks it agrees with the status.
func (r response) errorBody(t *testing.T) protocol.ErrorBody {
	t.Helper()
	var b protocol.ErrorBody
	r.json(t, &b)
	if b.StatusCode != r.status || protocol.HTTPStatus(b.Error) != r.status {
		t.Errorf("error body %+v does not agree with status %d", b, r.status)
	}
	return b
}

// req is a request to send with do.
type req struct {
	method, path string
	body         string
	rawBody      io.Reader // used instead of body when set (e.g. chunked)
	header       map[string]string
	host         string
}

// do sends rq to a and checks the response against openapi.yaml: every
// request in these tests goes through here, so the document cannot drift
// from the code.
func (a *testAPI) do(t *testing.T, rq req) response {
	t.Helper()
	var body io.Reader = strings.NewReader(rq.body)
	if rq.rawBody != nil {
		body = rq.rawBody
	}
	hr, err := http.NewRequest(rq.method, a.srv.URL+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if rq.rawBody == nil && rq.body == "" {
		hr.Body, hr.ContentLength = http.NoBody, 0
	}
	if rq.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		hr.Header.Set(k, v)
	}
	if rq.host != "" {
		hr.Host = rq.host
	}
	resp, err := a.srv.Client().Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, body: b}
	a.spec.check(t, hr, out)
	return out
}

// specCheck validates responses against the embedded openapi.yaml.
type specCheck struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(t testing.TB) *specCheck {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is invalid: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specCheck{doc: doc, router: router}
}

func (s *specCheck) check(t *testing.T, hr *http.Request, r response) {
	t.Helper()
	if err := s.verify(hr, r); err != nil {
		t.Errorf("%s %s -> %d does not match openapi.yaml: %v\nbody: %s", hr.Method, hr.URL.Path, r.status, err, r.body)
	}
}

// verify says how r, the answer to hr, departs from openapi.yaml.
func (s *specCheck) verify(hr *http.Request, r response) error {
	route, params, err := s.router.FindRoute(hr)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		// No operation: the answer must be the documented NotFound.
		route = s.synthetic(hr, http.StatusNotFound, "NotFound")
	case errors.Is(err, routers.ErrMethodNotAllowed):
		route = s.synthetic(hr, http.StatusMethodNotAllowed, "MethodNotAllowed")
	case err != nil:
		return fmt.Errorf("no route in the document: %w", err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return err
	}
	// A documented response without content must have none.
	if ref := route.Operation.Responses.Status(r.status); ref != nil && len(ref.Value.Content) == 0 && len(r.body) > 0 {
		return fmt.Errorf("a body where the document has none")
	}
	if r.status >= 400 {
		var b protocol.ErrorBody
		if err := json.Unmarshal(r.body, &b); err != nil || b.StatusCode != r.status || protocol.HTTPStatus(b.Error) != r.status {
			return fmt.Errorf("error body disagrees with the status (%v)", err)
		}
	}
	return nil
}

// synthetic is a route whose one operation answers status with a response
// from components.responses, for answers to requests no operation covers.
func (s *specCheck) synthetic(hr *http.Request, status int, name string) *routers.Route {
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(openapi3.WithStatus(status, s.doc.Components.Responses[name]))
	return &routers.Route{Spec: s.doc, Path: hr.URL.Path, Method: hr.Method, Operation: op}
}

func bearerHeader(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

// createSession creates a session through a and returns it.
func (a *testAPI) createSession(t *testing.T, lang string) protocol.Session {
	t.Helper()
	r := a.do(t, req{method: http.MethodPost, path: "/api/sessions", body: `{"language":"` + lang + `"}`})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var s protocol.Session
	r.json(t, &s)
	return s
}

// counter reads a counter from reg; labels is "k=v,k=v".
func counter(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, kv := range strings.Split(labels, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			want[k] = v
		}
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func itoa(n int) string { return strconv.Itoa(n) }
