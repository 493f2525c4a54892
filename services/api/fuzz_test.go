package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pairpad/pairpad/services/api"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/token"
)

// The fuzz targets drive the real handler, middleware included, over a real
// embedded JetStream: the decoding path a client reaches is the one under
// test, and every answer is checked against openapi.yaml and against an
// independent reading of the input (the oracle functions below).

// fuzzTarget is one api over its own NATS, shared by a fuzz worker's runs.
type fuzzTarget struct {
	h    http.Handler
	spec *specCheck
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	f.Helper()
	s := natstest.Start(f)
	nc := natstest.Connect(f, s)
	in, err := broker.Provision(context.Background(), nc, broker.Layout{Replicas: 1, PresenceTTL: 10 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	e := baseEnv()
	cfg, err := config.Load("api", func(k string) string { return e[k] })
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc, err := api.New(context.Background(), process.Deps{Config: cfg, Infra: in, Log: log, Now: time.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Shutdown(ctx)
	})
	return &fuzzTarget{h: httpx.Middleware(log, nil)(svc.Handler()), spec: loadSpec(f)}
}

// serve answers hr and checks the answer against openapi.yaml; an error
// answer must carry one of codes.
func (ft *fuzzTarget) serve(t *testing.T, hr *http.Request, codes ...protocol.Code) response {
	t.Helper()
	w := httptest.NewRecorder()
	ft.h.ServeHTTP(w, hr)
	r := response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
	if err := ft.spec.verify(hr, r); err != nil {
		t.Fatalf("%s %s -> %d does not match openapi.yaml: %v\nbody: %s", hr.Method, hr.URL, r.status, err, r.body)
	}
	if r.status < 300 {
		return r
	}
	var b protocol.ErrorBody
	if err := json.Unmarshal(r.body, &b); err != nil || b.Message == "" {
		t.Fatalf("error answer %d is not the protocol's body: %s", r.status, r.body)
	}
	for _, c := range codes {
		if b.Error == c {
			return r
		}
	}
	t.Fatalf("%s %s -> %d %s, want one of %v", hr.Method, hr.URL, r.status, r.body, codes)
	return r
}

func postJSON(path string, body []byte) *http.Request {
	hr := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	return hr
}

// FuzzCreateBody: POST /api/sessions answers 201 exactly when the body is a
// JSON object with the field "language" naming a protocol language and,
// optionally, "title" (at most 120 characters, no control characters) and
// "starterCode" (at most 256 KiB); anything else is 400 INVALID_REQUEST (413
// over the route's body limit).
func FuzzCreateBody(f *testing.F) {
	for _, s := range []string{
		`{"language":"python"}`, ` {"language":"typescript"}` + "\n", `{"language":"cobol"}`, `{}`, ``, `null`,
		`{"language":"python","x":1}`, `{"LANGUAGE":"python"}`, `{"language":1}`, `{"language":"python"}{}`,
		`["python"]`, `{"language":"pyth\u006fn"}`, "\u00a0{\"language\":\"python\"}", `{"language":"python",}`,
		`{"language":"python","language":"python"}`, `{"language":"python\ud800"}`,
		`{"language":"go","title":"Screen","starterCode":"package main\n"}`, `{"language":"go","title":"a\u0007"}`,
		`{"language":"go","title":""}`, `{"language":"go","starterCode":"x\udc00"}`, `{"language":"go","Title":"t"}`,
	} {
		f.Add([]byte(s))
	}
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := ft.serve(t, postJSON("/api/sessions", body), protocol.CodeInvalidRequest, protocol.CodePayloadTooLarge)
		want, verdict := oracleBody(body, createBodyLimit, map[string]field{
			"language": required(func(v string) bool { return protocol.Language(v).Valid() }),
			"title": optional(func(v string) bool {
				return utf8.RuneCountInString(v) <= 120 && !strings.ContainsFunc(v, unicode.IsControl)
			}),
			"starterCode": optional(func(v string) bool { return len(v) <= 256<<10 }),
		})
		switch {
		case verdict == ambiguous:
			return
		case verdict == invalid && r.status < 300:
			t.Fatalf("POST /api/sessions %q -> %d %s: the body is not a valid create request", body, r.status, r.body)
		case verdict == valid && r.status != http.StatusCreated:
			t.Fatalf("POST /api/sessions %q -> %d %s: want 201", body, r.status, r.body)
		case verdict == valid:
			var s protocol.CreatedSession
			if err := json.Unmarshal(r.body, &s); err != nil || string(s.Language) != want["language"] || !protocol.ValidSessionID(s.ID) ||
				s.Title != want["title"] || len(s.HostKey) < 22 {
				t.Fatalf("created %s from %q, want language %q, title %q and a host key", r.body, body, want["language"], want["title"])
			}
		}
	})
}

// createBodyLimit is POST /api/sessions' body limit: room for the largest
// starter code with every byte escaped.
const createBodyLimit = 6*(256<<10) + 64<<10

// FuzzJoinBody: POST .../join answers 200 exactly when the body is a JSON
// object with the fields userId and userName satisfying the protocol's
// rules and, optionally, role "candidate" (or empty) without a hostKey; the
// answer echoes the userId and carries a candidate's token for this
// session, this user and the trimmed name. Anything else is 400
// INVALID_REQUEST, or 403 FORBIDDEN for interviewer and observer without the
// session's host key (which the fuzzer never has).
func FuzzJoinBody(f *testing.F) {
	for _, s := range []string{
		`{"userId":"u1","userName":"Ann"}`, `{"userId":"u 😀","userName":"  Ann Lee  "}`, `{"userId":"","userName":"Ann"}`,
		`{"userId":"u1"}`, `{"userId":"u1","userName":"A\u0000"}`, `{"userId":"u1","userName":"   "}`,
		`{"userId":1,"userName":"Ann"}`, `{"userId":"u1","userName":"Ann","admin":true}`, `{"UserId":"u1","userName":"Ann"}`,
		`{"userId":"\ud800","userName":"Ann"}`, "{\"userId\":\"u\xff\",\"userName\":\"Ann\"}", `{"userId":"u1","userName":"Ann"} x`,
		`{"userId":"k\udc00","userName":"Ann"}`, `{"userId":"k\ud83d\ude00","userName":"Ann"}`, `{"userId":"k\\ud800","userName":"Ann"}`,
		`{"userId":"u1","userId":"u2","userName":"Ann"}`, `{"userId":"u1","userName":"Ann","userName":"Bob"}`,
		`{"userId":"k\ufffd","userName":"A\udfff"}`,
		`{"userId":"u1","userName":"Ann","role":"candidate"}`, `{"userId":"u2","userName":"Ann","role":"interviewer","hostKey":"k"}`,
		`{"userId":"u3","userName":"Ann","role":"observer"}`, `{"userId":"u4","userName":"Ann","hostKey":"k"}`,
		`{"userId":"u5","userName":"Ann","role":""}`, `{"userId":"u6","userName":"Ann","role":"admin"}`,
	} {
		f.Add([]byte(s))
	}
	ft := newFuzzTarget(f)
	var sess protocol.Session
	joins := 0
	newSession := func(tb testing.TB) {
		hr := postJSON("/api/sessions", []byte(`{"language":"python"}`))
		w := httptest.NewRecorder()
		ft.h.ServeHTTP(w, hr)
		if err := json.Unmarshal(w.Body.Bytes(), &sess); err != nil || w.Code != http.StatusCreated {
			tb.Fatalf("create: %d %s", w.Code, w.Body)
		}
		joins = 0
	}
	newSession(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if joins >= 400 {
			// A session keeps SESSION_MAX_USER_IDS (500) user ids: start
			// another before a new one would be SESSION_FULL.
			newSession(t)
		}
		r := ft.serve(t, postJSON("/api/sessions/"+sess.ID+"/join", body), protocol.CodeInvalidRequest, protocol.CodePayloadTooLarge, protocol.CodeForbidden)
		if r.status == http.StatusOK {
			joins++
		}
		want, verdict := oracleBody(body, protocol.MaxBodyBytes, map[string]field{
			"userId":   required(func(v string) bool { return protocol.ValidateUserID(v) == nil }),
			"userName": required(func(v string) bool { _, err := protocol.NormalizeUserName(v); return err == nil }),
			"role":     optional(func(v string) bool { return v == "" || protocol.Role(v).Valid() }),
			"hostKey":  optional(func(v string) bool { return len(v) <= 256 }),
		})
		if verdict == valid && (protocol.Role(want["role"]).NeedsHostKey() || want["hostKey"] != "") {
			verdict = invalid // no host key the fuzzer has is right; a candidate sends none
		}
		switch {
		case verdict == ambiguous:
			return
		case verdict == invalid && r.status < 300:
			t.Fatalf("join %q -> %d %s: the body is not a valid join request", body, r.status, r.body)
		case verdict == valid && r.status != http.StatusOK:
			t.Fatalf("join %q -> %d %s: want 200", body, r.status, r.body)
		case verdict == valid:
			var jr protocol.JoinResponse
			if err := json.Unmarshal(r.body, &jr); err != nil || jr.SessionID != sess.ID || jr.UserID != want["userId"] || jr.Role != protocol.RoleCandidate {
				t.Fatalf("joined %s from %q", r.body, body)
			}
			name, _ := protocol.NormalizeUserName(want["userName"])
			c, err := token.Verify([]byte(tokenSecret), jr.Token, time.Now())
			if err != nil || c.SessionID != sess.ID || c.UserID != jr.UserID || c.UserName != name {
				t.Fatalf("token of %s: %+v, %v; want user %q named %q", r.body, c, err, jr.UserID, name)
			}
		}
	})
}

// FuzzListQuery: GET /api/sessions (admin) answers 200 or 400
// INVALID_REQUEST whatever the query; 200 exactly when limit and offset are
// absent or integers in range, and then the page says what was asked.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"", "limit=1", "limit=100&offset=0", "limit=0", "limit=101", "offset=-1", "limit=abc", "limit=1.5",
		"limit=+5", "limit=", "offset=9223372036854775807", "offset=9223372036854775808", "limit=1&limit=x",
		"limit=%31%30", "limit=10;offset=2", "%zz=1&limit=2", "limit=\x00", "limit= 5", "offset=0x10",
	} {
		f.Add(s)
	}
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		hr := httptest.NewRequest(http.MethodGet, "/api/sessions", nil)
		hr.URL.RawQuery = rawQuery
		hr.Header.Set("Authorization", "Bearer "+adminToken)
		r := ft.serve(t, hr, protocol.CodeInvalidRequest)
		limit, lok := queryInt(hr.URL.Query(), "limit", 20, 1, 100)
		offset, ook := queryInt(hr.URL.Query(), "offset", 0, 0, 1<<63-1)
		if r.status != http.StatusOK {
			if r.status != http.StatusBadRequest || (lok && ook) {
				t.Fatalf("?%s -> %d %s", rawQuery, r.status, r.body)
			}
			return
		}
		var l protocol.SessionList
		if err := json.Unmarshal(r.body, &l); err != nil || !lok || !ook {
			t.Fatalf("?%s -> 200 %s; want 400", rawQuery, r.body)
		}
		if int64(l.Limit) != limit || int64(l.Offset) != min(offset, 1<<40) || len(l.Sessions) > l.Limit || l.Total < len(l.Sessions) {
			t.Fatalf("?%s -> %s; want limit %d offset %d", rawQuery, r.body, limit, offset)
		}
	})
}

// queryInt is the protocol's reading of an integer parameter: absent is
// def; present, its first value must be a base-10 integer in lo..hi.
func queryInt(q url.Values, name string, def, lo, hi int64) (int64, bool) {
	vs, ok := q[name]
	if !ok {
		return def, true
	}
	digits := strings.TrimLeft(vs[0], "+-")
	if digits == "" || len(vs[0])-len(digits) > 1 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	return n, err == nil && n >= lo && n <= hi
}

// verdict is what the oracle makes of a request body.
type verdict int

const (
	invalid verdict = iota
	valid
	ambiguous // a string that holds a U+FFFD as sent and one made by decoding
)

// field is what the oracle knows of one body field.
type field struct {
	ok       func(string) bool
	optional bool
}

// required and optional are fields with their check.
func required(ok func(string) bool) field { return field{ok: ok} }
func optional(ok func(string) bool) field { return field{ok: ok, optional: true} }

// oracleBody reads body as the protocol does, independently of the api's
// decoder: at most limit bytes, JSON whitespace around exactly one object
// whose keys are (case included) among those of fields, each once, each
// required one present, each a string that its check accepts and that
// decoding does not rewrite (no invalid UTF-8, no lone surrogate escape). It
// returns the fields' values when the body is valid.
func oracleBody(body []byte, limit int, fields map[string]field) (map[string]string, verdict) {
	if len(body) > limit || !json.Valid(body) {
		return nil, invalid
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, invalid
	}
	got := map[string]string{}
	repeated, wrongType, rewritten, mixed := false, false, false, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, invalid
		}
		if _, known := fields[key]; !known {
			return nil, invalid
		}
		if _, dup := got[key]; dup {
			repeated = true
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			wrongType = true
		}
		if strings.ContainsRune(s, utf8.RuneError) {
			// Decoding made a U+FFFD: from invalid UTF-8 or a lone
			// surrogate (refused), or the client sent one (fine); with
			// both in one string, either answer is fine.
			if !bytes.Contains(raw, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`)) {
				rewritten = true
			} else {
				mixed = true
			}
		}
		got[key] = s
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, invalid
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid
	}
	if repeated || wrongType || rewritten {
		return nil, invalid
	}
	if mixed {
		return nil, ambiguous
	}
	for name, f := range fields {
		v, present := got[name]
		if (!present && !f.optional) || (present && !f.ok(v)) {
			return nil, invalid
		}
	}
	return got, valid
}
