package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

func TestCreateSession(t *testing.T) {
	_, in := startNATS(t)
	clk := newClock(start)
	a := newAPI(t, in, baseEnv(), clk)

	for _, lang := range protocol.Languages {
		lang := string(lang)
		t.Run("ok "+lang, func(t *testing.T) {
			r := a.do(t, req{method: http.MethodPost, path: "/api/sessions", body: `{"language":"` + lang + `"}`})
			if r.status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var s protocol.Session
			r.json(t, &s)
			if !protocol.ValidSessionID(s.ID) || string(s.Language) != lang || !s.CreatedAt.Equal(start) || s.ParticipantCount != 0 {
				t.Errorf("session %+v", s)
			}
			if got := r.header.Get("Location"); got != "/api/sessions/"+s.ID {
				t.Errorf("Location %q", got)
			}
			if _, _, err := session.NewStore(in.Sessions).Get(context.Background(), s.ID); err != nil {
				t.Errorf("not stored: %v", err)
			}
		})
	}

	// POST /api/sessions takes up to 1,600 KiB (the starter code, escaped).
	big := `{"language":"python","x":"` + strings.Repeat("a", 1601<<10) + `"}`
	tests := []struct {
		name, body string
		chunked    bool
		status     int
		code       protocol.Code
		detail     string // a key expected in details
		msg        string // a substring expected in message
	}{
		{"missing body", "", false, 400, protocol.CodeInvalidRequest, "", "required"},
		{"whitespace body", "  \n", false, 400, protocol.CodeInvalidRequest, "", "required"},
		{"malformed", `{"language":`, false, 400, protocol.CodeInvalidRequest, "", "Malformed"},
		{"malformed token", `{"language": python}`, false, 400, protocol.CodeInvalidRequest, "", "Malformed"},
		{"array", `["python"]`, false, 400, protocol.CodeInvalidRequest, "", "object"},
		{"null", `null`, false, 400, protocol.CodeInvalidRequest, "", "object"},
		{"string", `"python"`, false, 400, protocol.CodeInvalidRequest, "", "object"},
		{"unknown field", `{"language":"python","admin":true}`, false, 400, protocol.CodeInvalidRequest, "admin", "Unknown field"},
		{"wrong type", `{"language":42}`, false, 400, protocol.CodeInvalidRequest, "language", "wrong type"},
		{"bad language", `{"language":"cobol"}`, false, 400, protocol.CodeInvalidRequest, "language", "javascript"},
		{"missing language", `{}`, false, 400, protocol.CodeInvalidRequest, "language", "language"},
		{"trailing garbage", `{"language":"python"} x`, false, 400, protocol.CodeInvalidRequest, "", "after"},
		{"two objects", `{"language":"python"}{"language":"python"}`, false, 400, protocol.CodeInvalidRequest, "", "after"},
		{"too large", big, false, 413, protocol.CodePayloadTooLarge, "", "1638400"},
		{"too large chunked", big, true, 413, protocol.CodePayloadTooLarge, "", "1638400"},
		{"title too long", `{"language":"go","title":"` + strings.Repeat("é", 121) + `"}`, false, 400, protocol.CodeInvalidRequest, "title", "120"},
		{"title with a control character", `{"language":"go","title":"a\u0000b"}`, false, 400, protocol.CodeInvalidRequest, "title", "control"},
		{"starter code too large", `{"language":"go","starterCode":"` + strings.Repeat("é", 128<<10) + `x"}`, false, 400, protocol.CodeInvalidRequest, "starterCode", "262144"},
		{"every field wrong", `{"language":"cobol","title":"` + strings.Repeat("t", 121) + `"}`, false, 400, protocol.CodeInvalidRequest, "title", "language"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rq := req{method: http.MethodPost, path: "/api/sessions", body: tc.body}
			if tc.chunked {
				// A reader of unknown length makes the client send chunked, without Content-Length.
				rq.rawBody = opaqueReader{strings.NewReader(tc.body)}
			}
			r := a.do(t, rq)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			b := r.errorBody(t)
			if b.Error != tc.code || !strings.Contains(b.Message, tc.msg) {
				t.Errorf("body %+v, want code %s and message with %q", b, tc.code, tc.msg)
			}
			if _, ok := b.Details[tc.detail]; tc.detail != "" && !ok {
				t.Errorf("details %v lack %q", b.Details, tc.detail)
			}
		})
	}
}

// opaqueReader hides a reader's concrete type so net/http cannot learn its length.
type opaqueReader struct{ r *strings.Reader }

func (o opaqueReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestGetSession(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	s := a.createSession(t, "typescript")

	// Three connections of two users count as two participants.
	for i, u := range []string{"alice", "alice", "bob"} {
		e := presence.Entry{SessionID: s.ID, UserID: u, Name: u, ConnID: "c" + itoa(i)}
		b, _ := json.Marshal(e)
		if _, err := in.Presence.Put(ctx, e.Key(), b); err != nil {
			t.Fatal(err)
		}
	}
	r := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID})
	var got protocol.Session
	r.json(t, &got)
	if r.status != 200 || got.ID != s.ID || got.Language != protocol.LangTypeScript || got.ParticipantCount != 2 || !got.CreatedAt.Equal(s.CreatedAt) {
		t.Errorf("got %d %+v", r.status, got)
	}

	for _, id := range []string{"0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11", "not-a-uuid", strings.ToUpper(s.ID) + "x", "%20"} {
		t.Run("missing "+id, func(t *testing.T) {
			r := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + id})
			if b := r.errorBody(t); r.status != 404 || b.Error != protocol.CodeSessionNotFound {
				t.Errorf("got %d %+v", r.status, b)
			}
		})
	}
}

func TestListSessions(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	clk := newClock(start)
	a := newAPI(t, in, baseEnv(), clk)
	var ids []string
	for range 5 {
		ids = append(ids, a.createSession(t, "python").ID)
		clk.Advance(time.Second)
	}
	// An ended session is not listed.
	st := session.NewStore(in.Sessions)
	rec, rev, _ := st.Get(ctx, ids[2])
	if err := st.MarkPurging(ctx, rec, rev, protocol.EndedExpired); err != nil {
		t.Fatal(err)
	}
	live := []string{ids[0], ids[1], ids[3], ids[4]}

	admin := bearerHeader(adminToken)
	tests := []struct {
		query   string
		want    []string
		limit   int
		offset  int
		bad     string // the parameter a 400 names
		headers map[string]string
	}{
		{query: "", want: live, limit: 20},
		{query: "?limit=2", want: live[:2], limit: 2},
		{query: "?limit=2&offset=2", want: live[2:], limit: 2, offset: 2},
		{query: "?offset=3", want: live[3:], limit: 20, offset: 3},
		{query: "?offset=10", want: nil, limit: 20, offset: 10},
		{query: "?limit=100", want: live, limit: 100},
		{query: "?limit=1&unknown=x", want: live[:1], limit: 1},
		{query: "?limit=0", bad: "limit"},
		{query: "?limit=101", bad: "limit"},
		{query: "?limit=abc", bad: "limit"},
		{query: "?limit=", bad: "limit"},
		{query: "?limit=1.5", bad: "limit"},
		{query: "?offset=-1", bad: "offset"},
		{query: "?offset=x", bad: "offset"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := a.do(t, req{method: http.MethodGet, path: "/api/sessions" + tc.query, header: admin})
			if tc.bad != "" {
				b := r.errorBody(t)
				if _, ok := b.Details[tc.bad]; r.status != 400 || b.Error != protocol.CodeInvalidRequest || !ok {
					t.Errorf("got %d %+v, want 400 naming %s", r.status, b, tc.bad)
				}
				return
			}
			var l protocol.SessionList
			r.json(t, &l)
			if r.status != 200 || l.Total != len(live) || l.Limit != tc.limit || l.Offset != tc.offset || len(l.Sessions) != len(tc.want) {
				t.Fatalf("got %d %+v", r.status, l)
			}
			for i, s := range l.Sessions {
				if s.ID != tc.want[i] {
					t.Errorf("sessions[%d] = %s, want %s (oldest first)", i, s.ID, tc.want[i])
				}
			}
		})
	}
}

func TestDeleteSession(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	s := a.createSession(t, "python")
	admin := bearerHeader(adminToken)

	// Realtime instances learn of the end by watching the sessions bucket.
	w, err := in.Sessions.Watch(ctx, s.ID, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	pe := presence.Entry{SessionID: s.ID, UserID: "u", ConnID: "c"}
	if _, err := in.Presence.Put(ctx, pe.Key(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Documents.Put(ctx, s.ID, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	if r := a.do(t, req{method: http.MethodDelete, path: "/api/sessions/" + s.ID, header: admin}); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	select {
	case e := <-w.Updates():
		var rec session.Record
		if e == nil || json.Unmarshal(e.Value(), &rec) != nil || rec.PurgeReason != protocol.EndedDeleted {
			t.Errorf("first change after delete: %v, want the record marked ended=deleted", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watchers saw no change")
	}
	if _, err := in.Documents.Get(ctx, s.ID); err == nil {
		t.Error("document not purged")
	}
	if n, _ := presence.Count(ctx, in, s.ID); n != 0 {
		t.Errorf("presence not purged: %d", n)
	}
	for _, tc := range []struct{ name, method, id string }{
		{"get after delete", http.MethodGet, s.ID},
		{"delete twice", http.MethodDelete, s.ID},
		{"delete unknown", http.MethodDelete, "0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11"},
		{"delete non-uuid", http.MethodDelete, "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(t, req{method: tc.method, path: "/api/sessions/" + tc.id, header: admin})
			if b := r.errorBody(t); r.status != 404 || b.Error != protocol.CodeSessionNotFound {
				t.Errorf("got %d %+v", r.status, b)
			}
		})
	}
}

// TestDeleteRacingActivity ends a session while joins keep touching it: the
// compare-and-swap loses to activity, and DELETE retries until it wins.
func TestDeleteRacingActivity(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	clk := newClock(start)
	a := newAPI(t, in, baseEnv(), clk)
	s := a.createSession(t, "python")
	st := session.NewStore(in.Sessions)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if st.Touch(ctx, s.ID, start.Add(time.Duration(i)*time.Millisecond)) != nil {
				return // ended
			}
			time.Sleep(time.Millisecond)
		}
	}()
	r := a.do(t, req{method: http.MethodDelete, path: "/api/sessions/" + s.ID, header: bearerHeader(adminToken)})
	close(stop)
	<-done
	if r.status != 204 {
		t.Fatalf("delete under activity: %d %s", r.status, r.body)
	}
	if _, _, err := st.Get(ctx, s.ID); protocol.ErrorCode(err) != protocol.CodeSessionNotFound {
		t.Errorf("session still live: %v", err)
	}
}

// A full op log (the SESSION_OPS stream at OPS_MAX_BYTES) cannot store
// starter code: the creation is refused with 503 SERVICE_UNAVAILABLE naming
// OPS_MAX_BYTES and Retry-After, the half-made session is taken back, and
// the sessions created before keep their code. A session without starter
// code needs no room and is still created.
func TestCreateSessionWithFullOpLog(t *testing.T) {
	srv, _ := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The layout's own options: config.Load floors OPS_MAX_BYTES at 64 MiB.
	in, err := broker.Provision(ctx, natstest.Connect(t, srv), broker.Layout{Replicas: 1, PresenceTTL: 10 * time.Second, OpsMaxBytes: 600 << 10})
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, in, baseEnv(), newClock(start))
	starter := strings.Repeat("x", 250<<10)
	body := `{"language":"go","starterCode":"` + starter + `"}`
	var made []protocol.CreatedSession
	var r response
	for {
		if len(made) > 3 {
			t.Fatalf("%d sessions with 250 KiB of starter code in a 600 KiB op log", len(made))
		}
		if r = a.do(t, req{method: http.MethodPost, path: "/api/sessions", body: body}); r.status != http.StatusCreated {
			break
		}
		var s protocol.CreatedSession
		r.json(t, &s)
		made = append(made, s)
	}
	b := r.errorBody(t)
	if r.status != http.StatusServiceUnavailable || b.Error != protocol.CodeServiceUnavailable || b.Details["limit"] != "OPS_MAX_BYTES" ||
		r.header.Get("Retry-After") != "5" || len(made) != 2 {
		t.Fatalf("after %d sessions: %d %s (Retry-After %q), want 503 SERVICE_UNAVAILABLE naming OPS_MAX_BYTES after 2",
			len(made), r.status, r.body, r.header.Get("Retry-After"))
	}
	all, err := session.NewStore(in.Sessions).All(ctx)
	if err != nil || len(all) != len(made) {
		t.Fatalf("%d session records (%v), want the %d created: the refused one is taken back", len(all), err, len(made))
	}
	for _, s := range made {
		if e, ok, err := oplog.Last(ctx, in, s.ID); err != nil || !ok || e.Version != 1 || len(e.Ops) != 1 {
			t.Fatalf("starter code of %s: %+v %t %v", s.ID, e, ok, err)
		}
	}
	a.createSession(t, "go")
}

// When the NATS server's own storage is full (its max_file_store; here
// another bucket took it), a creation is refused with 503
// SERVICE_UNAVAILABLE saying the storage is full, naming max_file_store,
// with Retry-After 5, not with an outage's message, and nothing is created.
func TestCreateSessionWithoutStorage(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{MaxStore: 8 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, natstest.Connect(t, srv), broker.Layout{Replicas: 1, PresenceTTL: 10 * time.Second, OpsMaxBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, in, baseEnv(), newClock(start))
	blob := []byte(strings.Repeat("d", 16<<10))
	for i := 0; ; i++ {
		if _, err := in.Participants.Put(ctx, "filler-"+strconv.Itoa(i), blob); err != nil {
			break
		}
		if i > 1000 {
			t.Fatal("16 MiB stored on a server with 8 MiB of storage")
		}
	}
	for _, body := range []string{`{"language":"go"}`, `{"language":"go","starterCode":"x"}`} {
		r := a.do(t, req{method: http.MethodPost, path: "/api/sessions", body: body})
		b := r.errorBody(t)
		if r.status != http.StatusServiceUnavailable || b.Error != protocol.CodeServiceUnavailable || b.Details["limit"] != "max_file_store" ||
			!strings.Contains(b.Message, "storage is full") || r.header.Get("Retry-After") != "5" {
			t.Fatalf("%s with the server's storage full: %d %s (Retry-After %q)", body, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	all, err := session.NewStore(in.Sessions).All(ctx)
	if err != nil || len(all) != 0 {
		t.Fatalf("%d session records (%v), want none", len(all), err)
	}
}
