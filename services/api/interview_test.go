package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
	"github.com/pairpad/pairpad/shared/token"
)

// createInterview creates a session with body and returns it with its host key.
func (a *testAPI) createInterview(t *testing.T, body string) protocol.CreatedSession {
	t.Helper()
	r := a.do(t, req{method: http.MethodPost, path: "/api/sessions", body: body})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var s protocol.CreatedSession
	r.json(t, &s)
	return s
}

// join posts a join and returns the answer.
func (a *testAPI) join(t *testing.T, sid, userID, role, hostKey string) response {
	t.Helper()
	body := fmt.Sprintf(`{"userId":%q,"userName":"Name of %s"`, userID, userID)
	if role != "" {
		body += fmt.Sprintf(`,"role":%q`, role)
	}
	if hostKey != "" {
		body += fmt.Sprintf(`,"hostKey":%q`, hostKey)
	}
	return a.do(t, req{method: http.MethodPost, path: "/api/sessions/" + sid + "/join", body: body + "}"})
}

// joined is a successful join's answer and its verified token.
func (a *testAPI) joined(t *testing.T, sid, userID, role, hostKey string) (protocol.JoinResponse, token.Claims) {
	t.Helper()
	r := a.join(t, sid, userID, role, hostKey)
	if r.status != http.StatusOK {
		t.Fatalf("join %s as %q: %d %s", userID, role, r.status, r.body)
	}
	var j protocol.JoinResponse
	r.json(t, &j)
	c, err := token.Verify([]byte(tokenSecret), j.Token, start)
	if err != nil {
		t.Fatalf("token of %s: %v", userID, err)
	}
	if c.Role != j.Role || c.Color != j.Color {
		t.Fatalf("token says %s/%s, the answer %s/%s", c.Role, c.Color, j.Role, j.Color)
	}
	return j, c
}

// TestCreateInterview: the creation answers a host key once, stores only its
// hash, and the starter code is version 1 of the document.
func TestCreateInterview(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))

	starter := "def solve(xs):\n    return sorted(xs)  # 😀\n" + strings.Repeat("#", protocol.MaxStarterCodeBytes-48)
	s := a.createInterview(t, fmt.Sprintf(`{"language":"python","title":"Backend screen","starterCode":%q}`, starter))
	if s.Title != "Backend screen" || s.Status != protocol.StatusActive || s.EndedAt != nil || len(s.HostKey) < 22 {
		t.Fatalf("created %+v", s)
	}
	rec, _, err := session.NewStore(in.Sessions).Get(ctx, s.ID)
	if err != nil || !rec.HostKeyMatches(s.HostKey) || strings.Contains(rec.HostKeyHash, s.HostKey) {
		t.Fatalf("record %+v, %v: want the host key's hash only", rec, err)
	}
	entries, _, err := oplog.Read(ctx, in, s.ID, 1, oplog.Limits{Entries: 10})
	if err != nil || len(entries) != 1 || entries[0].Version != 1 || entries[0].UserID != "" {
		t.Fatalf("op log %+v, %v; want the starter code as version 1", entries, err)
	}
	code := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID + "/code", header: bearerHeader(s.HostKey)})
	var c protocol.CurrentCode
	code.json(t, &c)
	if code.status != 200 || c.Code != starter || c.Version != 1 || c.Language != protocol.LangPython {
		t.Fatalf("code: %d, version %d, %d bytes, want the starter code (%d bytes)", code.status, c.Version, len(c.Code), len(starter))
	}
	get := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID})
	if strings.Contains(string(get.body), s.HostKey) || strings.Contains(string(get.body), "hostKey") {
		t.Fatalf("GET shows the host key: %s", get.body)
	}

	// Without a title or starter code: an empty document at version 0.
	plain := a.createInterview(t, `{"language":"rust"}`)
	code = a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + plain.ID + "/code", header: bearerHeader(plain.HostKey)})
	code.json(t, &c)
	if plain.Title != "" || plain.HostKey == s.HostKey || c.Code != "" || c.Version != 0 || !c.UpdatedAt.Equal(plain.CreatedAt) {
		t.Fatalf("plain session %+v, code %+v", plain, c)
	}
}

// TestJoinRoles: interviewer and observer need the host key; a user id keeps
// its first role, so a candidate cannot take the interviewer's identity;
// colours are distinct for the first 16 users and the same at every join.
func TestJoinRoles(t *testing.T) {
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	s := a.createInterview(t, `{"language":"go"}`)
	other := a.createInterview(t, `{"language":"go"}`)

	iv, ivTok := a.joined(t, s.ID, "ivy", "interviewer", s.HostKey)
	if iv.Role != protocol.RoleInterviewer || ivTok.Role != protocol.RoleInterviewer || iv.Color != protocol.PaletteColor(0) {
		t.Fatalf("interviewer join %+v", iv)
	}
	tests := []struct {
		name, userID, role, hostKey string
		status                      int
		code                        protocol.Code
	}{
		{"candidate with the interviewer's userId", "ivy", "", "", 409, protocol.CodeUserIDTaken},
		{"explicit candidate with the interviewer's userId", "ivy", "candidate", "", 409, protocol.CodeUserIDTaken},
		{"observer with the interviewer's userId", "ivy", "observer", s.HostKey, 409, protocol.CodeUserIDTaken},
		{"interviewer with a wrong host key", "mallory", "interviewer", s.HostKey + "x", 403, protocol.CodeForbidden},
		{"interviewer with another session's host key", "mallory", "interviewer", other.HostKey, 403, protocol.CodeForbidden},
		{"interviewer without a host key", "mallory", "interviewer", "", 403, protocol.CodeForbidden},
		{"observer with a wrong host key", "mallory", "observer", "nope", 403, protocol.CodeForbidden},
		{"the interviewer's userId with a wrong host key", "ivy", "interviewer", "nope", 403, protocol.CodeForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := a.join(t, s.ID, tc.userID, tc.role, tc.hostKey)
			if b := r.errorBody(t); r.status != tc.status || b.Error != tc.code {
				t.Fatalf("got %d %+v, want %d %s", r.status, b, tc.status, tc.code)
			}
		})
	}

	// A refused join registered nothing: mallory is still free, as a candidate.
	cand, candTok := a.joined(t, s.ID, "mallory", "", "")
	if cand.Role != protocol.RoleCandidate || candTok.Role != protocol.RoleCandidate || cand.Color != protocol.PaletteColor(1) {
		t.Fatalf("candidate join %+v", cand)
	}
	if r := a.join(t, s.ID, "mallory", "interviewer", s.HostKey); r.status != 409 || r.errorBody(t).Error != protocol.CodeUserIDTaken {
		t.Fatalf("the candidate's id as interviewer, with the host key: %d %s", r.status, r.body)
	}
	obs, _ := a.joined(t, s.ID, "olga", "observer", s.HostKey)
	again, _ := a.joined(t, s.ID, "ivy", "interviewer", s.HostKey)
	if obs.Role != protocol.RoleObserver || again.Color != iv.Color {
		t.Fatalf("observer %+v, interviewer again %+v (colour was %s)", obs, again, iv.Color)
	}

	seen := map[string]string{iv.Color: "ivy", cand.Color: "mallory", obs.Color: "olga"}
	for i := 3; i < protocol.PaletteSize(); i++ {
		id := fmt.Sprintf("user-%d", i)
		j, _ := a.joined(t, s.ID, id, "", "")
		if prev, dup := seen[j.Color]; dup {
			t.Fatalf("user %d got %s, already %s's", i, j.Color, prev)
		}
		seen[j.Color] = id
	}
	// In the other session colours start over.
	if j, _ := a.joined(t, other.ID, "ivy", "", ""); j.Color != protocol.PaletteColor(0) || j.Role != protocol.RoleCandidate {
		t.Fatalf("the same userId in another session: %+v", j)
	}
}

// TestJoinRaceAcrossReplicas: two api replicas joining one new user id with
// two roles at once give it exactly one role.
func TestJoinRaceAcrossReplicas(t *testing.T) {
	_, in := startNATS(t)
	clk := newClock(start)
	a, b := newAPI(t, in, baseEnv(), clk), newAPI(t, in, baseEnv(), clk)
	s := a.createInterview(t, `{"language":"go"}`)
	for i := range 10 {
		id := fmt.Sprintf("racer-%d", i)
		var wg sync.WaitGroup
		got := make([]response, 2)
		for k, api := range []*testAPI{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				role := []string{"candidate", "interviewer"}[k]
				got[k] = api.join(t, s.ID, id, role, map[string]string{"candidate": "", "interviewer": s.HostKey}[role])
			}()
		}
		wg.Wait()
		if ok := (got[0].status == 200) != (got[1].status == 200); !ok {
			t.Fatalf("%s: statuses %d and %d, want exactly one 200 (%s / %s)", id, got[0].status, got[1].status, got[0].body, got[1].body)
		}
		for _, r := range got {
			if r.status != 200 && (r.status != 409 || r.errorBody(t).Error != protocol.CodeUserIDTaken) {
				t.Fatalf("%s: the loser got %d %s, want 409 USER_ID_TAKEN", id, r.status, r.body)
			}
		}
	}
}

// TestJoinUserIDBound: a session keeps SESSION_MAX_USER_IDS user ids; a new
// one beyond is SESSION_FULL, a known one still joins.
func TestJoinUserIDBound(t *testing.T) {
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv().with("SESSION_MAX_USER_IDS", "16"), newClock(start))
	s := a.createInterview(t, `{"language":"go"}`)
	for i := range 16 {
		a.joined(t, s.ID, fmt.Sprintf("u%d", i), "", "")
	}
	if r := a.join(t, s.ID, "u16", "", ""); r.status != 409 || r.errorBody(t).Error != protocol.CodeSessionFull {
		t.Fatalf("the 17th user id: %d %s", r.status, r.body)
	}
	a.joined(t, s.ID, "u3", "", "")
}

// TestEndInterview: who may end, what ending does, and what stays readable.
func TestEndInterview(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	clk := newClock(start)
	a := newAPI(t, in, baseEnv(), clk)
	s := a.createInterview(t, `{"language":"typescript","title":"Frontend","starterCode":"let x = 1;\n"}`)
	_, ivTok := a.joined(t, s.ID, "ivy", "interviewer", s.HostKey)
	_, obsTok := a.joined(t, s.ID, "olga", "observer", s.HostKey)
	_, candTok := a.joined(t, s.ID, "cara", "", "")
	iv, obs, cand := token.Sign([]byte(tokenSecret), ivTok), token.Sign([]byte(tokenSecret), obsTok), token.Sign([]byte(tokenSecret), candTok)
	other := a.createInterview(t, `{"language":"go"}`)
	_, otherIvTok := a.joined(t, other.ID, "ivy", "interviewer", other.HostKey)
	otherIv := token.Sign([]byte(tokenSecret), otherIvTok)

	// What realtime would append: the candidate types, the interviewer writes notes.
	appendOps(t, in, s.ID, 1, oplog.Entry{UserID: "cara", UserName: "Cara", Role: protocol.RoleCandidate, Ops: ot.Op{ot.Retain(11), ot.Insert("x++;\n")}})
	appendOps(t, in, broker.NotesDocID(s.ID), 0,
		oplog.Entry{UserID: "ivy", UserName: "Ivy", Role: protocol.RoleInterviewer, Ops: ot.Op{ot.Insert("good start")}},
		oplog.Entry{UserID: "olga", UserName: "Olga", Role: protocol.RoleObserver, Ops: ot.Op{ot.Retain(10), ot.Insert("; tests?")}})
	const wantCode, wantNotes = "let x = 1;\nx++;\n", "good start; tests?"

	path := func(id, what string) string { return "/api/sessions/" + id + what }
	refused := []struct {
		name   string
		id     string
		bearer string
		status int
		code   protocol.Code
	}{
		{"candidate", s.ID, cand, 403, protocol.CodeForbidden},
		{"observer", s.ID, obs, 403, protocol.CodeForbidden},
		{"no credential", s.ID, "", 401, protocol.CodeUnauthorized},
		{"wrong host key", s.ID, s.HostKey + "x", 401, protocol.CodeUnauthorized},
		{"another session's host key", s.ID, other.HostKey, 401, protocol.CodeUnauthorized},
		{"another session's interviewer", s.ID, otherIv, 401, protocol.CodeUnauthorized},
		{"a stranger asking about an unknown session", "0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11", "guess", 401, protocol.CodeUnauthorized},
		{"admin, unknown session", "0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11", adminToken, 404, protocol.CodeSessionNotFound},
	}
	for _, tc := range refused {
		t.Run("end refused: "+tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.bearer != "" {
				h = bearerHeader(tc.bearer)
			}
			r := a.do(t, req{method: http.MethodPost, path: path(tc.id, "/end"), header: h})
			if b := r.errorBody(t); r.status != tc.status || b.Error != tc.code {
				t.Fatalf("got %d %+v, want %d %s", r.status, b, tc.status, tc.code)
			}
		})
	}
	if rec, _, _ := session.NewStore(in.Sessions).Get(ctx, s.ID); rec.Ended() {
		t.Fatal("a refused end ended the interview")
	}

	clk.Advance(time.Minute)
	endedAt := clk.Now()
	for i, bearer := range []string{iv, s.HostKey, adminToken} {
		if i > 0 {
			clk.Advance(time.Second)
		}
		r := a.do(t, req{method: http.MethodPost, path: path(s.ID, "/end"), header: bearerHeader(bearer)})
		var got protocol.Session
		r.json(t, &got)
		if r.status != 200 || got.Status != protocol.StatusEnded || got.EndedAt == nil || !got.EndedAt.Equal(endedAt) {
			t.Fatalf("end %d: %d %+v, want ended at %v (the first end)", i, r.status, got, endedAt)
		}
	}

	// Afterwards: readable, not joinable.
	var sess protocol.Session
	a.do(t, req{method: http.MethodGet, path: path(s.ID, "")}).json(t, &sess)
	if sess.Status != protocol.StatusEnded || sess.Title != "Frontend" || sess.EndedAt == nil {
		t.Fatalf("GET after end: %+v", sess)
	}
	for _, tc := range []struct{ id, role, key string }{{"cara", "", ""}, {"newbie", "", ""}, {"ivy", "interviewer", s.HostKey}} {
		if r := a.join(t, s.ID, tc.id, tc.role, tc.key); r.status != 409 || r.errorBody(t).Error != protocol.CodeSessionEnded {
			t.Fatalf("join %s after end: %d %s", tc.id, r.status, r.body)
		}
	}
	for _, bearer := range []string{cand, obs, iv, s.HostKey, adminToken} {
		var c protocol.CurrentCode
		r := a.do(t, req{method: http.MethodGet, path: path(s.ID, "/code"), header: bearerHeader(bearer)})
		r.json(t, &c)
		if r.status != 200 || c.Code != wantCode || c.Version != 2 || c.Language != protocol.LangTypeScript {
			t.Fatalf("code after end: %d %+v", r.status, c)
		}
		var h protocol.History
		r = a.do(t, req{method: http.MethodGet, path: path(s.ID, "/history"), header: bearerHeader(bearer)})
		r.json(t, &h)
		if r.status != 200 || len(h.Updates) != 2 || h.Updates[0].UserID != "" || h.Updates[1].UserName != "Cara" || h.Updates[1].Role != protocol.RoleCandidate {
			t.Fatalf("history after end: %d %+v", r.status, h)
		}
	}

	notesCases := []struct {
		name   string
		bearer string
		status int
	}{
		{"interviewer", iv, 200}, {"observer", obs, 200}, {"host key", s.HostKey, 200}, {"admin", adminToken, 200},
		{"candidate", cand, 403}, {"nobody", "x", 401}, {"another session's interviewer", otherIv, 401},
	}
	for _, tc := range notesCases {
		t.Run("notes: "+tc.name, func(t *testing.T) {
			r := a.do(t, req{method: http.MethodGet, path: path(s.ID, "/notes"), header: bearerHeader(tc.bearer)})
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tc.status)
			}
			if tc.status != 200 {
				if strings.Contains(string(r.body), "good start") {
					t.Fatalf("a refusal carries the notes: %s", r.body)
				}
				return
			}
			var n protocol.CurrentNotes
			r.json(t, &n)
			if n.Notes != wantNotes || n.Version != 2 || !n.UpdatedAt.Equal(start.Add(2*time.Millisecond)) {
				t.Fatalf("notes %+v", n)
			}
		})
	}
}

// appendOps appends entries to a document's log after version `after`,
// numbering them and stamping them start+1ms, start+2ms...
func appendOps(t *testing.T, in *broker.Infra, docID string, after int64, entries ...oplog.Entry) {
	t.Helper()
	ctx := context.Background()
	var last uint64
	if e, ok, err := oplog.Last(ctx, in, docID); err != nil {
		t.Fatal(err)
	} else if ok {
		last = e.Seq
	}
	for i, e := range entries {
		e.Version = after + int64(i) + 1
		e.Timestamp = start.Add(time.Duration(i+1) * time.Millisecond).UnixMilli()
		seq, err := oplog.Append(ctx, in.JS, docID, e, last)
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
}

// TestCodeDownload: with Accept: text/plain the code is the raw text, as a
// file named for the session's language.
func TestCodeDownload(t *testing.T) {
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	for _, lang := range protocol.Languages {
		t.Run(string(lang), func(t *testing.T) {
			s := a.createInterview(t, fmt.Sprintf(`{"language":%q,"starterCode":"line 1\r\nZoë \"quoted\"\n"}`, lang))
			h := bearerHeader(s.HostKey)
			h["Accept"] = "text/plain"
			r := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID + "/code", header: h})
			want := `attachment; filename="main.` + lang.Extension() + `"`
			if r.status != 200 || string(r.body) != "line 1\r\nZoë \"quoted\"\n" || r.header.Get("Content-Disposition") != want ||
				!strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") || r.header.Get("X-Pairpad-Version") != "1" {
				t.Fatalf("got %d %q, headers %v; want %s", r.status, r.body, r.header, want)
			}
		})
	}
	s := a.createInterview(t, `{"language":"go","starterCode":"package main\n"}`)
	for _, tc := range []struct {
		accept string
		text   bool
	}{
		{"", false}, {"*/*", false}, {"application/json", false}, {"text/plain", true},
		{"text/plain;q=0.5, application/json", false}, {"application/json;q=0.2, text/plain", true},
		{"text/*", true}, {"text/html", false}, {"garbage;;;", false},
	} {
		h := bearerHeader(s.HostKey)
		if tc.accept != "" {
			h["Accept"] = tc.accept
		}
		r := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID + "/code", header: h})
		if isText := strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"); r.status != 200 || isText != tc.text {
			t.Errorf("Accept %q: %d %s, want text %v", tc.accept, r.status, r.header.Get("Content-Type"), tc.text)
		}
	}
}
