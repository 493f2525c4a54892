package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
	"github.com/pairpad/pairpad/shared/token"
)

// framings are the two ways a client speaks to realtime.
var framings = []struct {
	name string
	sio  bool
}{{"plain", false}, {"socket.io", true}}

// connectAs opens a connection as u in either framing.
func connectAs(t testing.TB, base string, u user, sio bool) *wsClient {
	t.Helper()
	if !sio {
		return connectPlain(t, base, u)
	}
	c, refused := connectSIO(t, base, u, nil)
	if refused != nil {
		t.Fatalf("%s refused: %+v", u.id, refused)
	}
	return c
}

func runPayload(runID string) map[string]any {
	return map[string]any{"runId": runID, "language": "python", "stdout": "4\n", "stderr": "warning: x\n",
		"exitCode": 1, "durationMs": 37}
}

// TestObserverIsReadOnly: an observer's code-update, language-changed and
// run-output are refused with FORBIDDEN, answered (with the opId), and
// change nothing; the connection stays, and the others see the observer
// with its role.
func TestObserverIsReadOnly(t *testing.T) {
	for _, fr := range framings {
		t.Run(fr.name, func(t *testing.T) {
			cl := newCluster(t)
			a, b := cl.start(), cl.start()
			sid := cl.newSession(protocol.LangPython).ID
			iv := connectPlain(t, a.url, user{sid: sid, id: "iv", name: "Ivy", role: protocol.RoleInterviewer})
			iv.waitFor(t, protocol.TypeConnected)
			ob := connectAs(t, b.url, user{sid: sid, id: "ob", name: "Otto", role: protocol.RoleObserver}, fr.sio)
			if c := decode[protocol.Connected](t, ob.waitFor(t, protocol.TypeConnected).Payload); c.Role != protocol.RoleObserver {
				t.Fatalf("observer connected as %q", c.Role)
			}
			if u := decode[protocol.User](t, iv.waitFor(t, protocol.TypeUserJoined).Payload); u.ID != "ob" || u.Role != protocol.RoleObserver {
				t.Fatalf("user-joined %+v, want ob as observer", u)
			}
			roles := map[string]protocol.Role{}
			for _, u := range waitUsers(t, iv, "iv", "ob") {
				roles[u.ID] = u.Role
			}
			if roles["iv"] != protocol.RoleInterviewer || roles["ob"] != protocol.RoleObserver {
				t.Fatalf("presence roles %v", roles)
			}

			refused := []struct {
				typ     string
				payload any
				opID    string
			}{
				{protocol.TypeCodeUpdate, fullCode("the observer was here", 0, "o-1"), "o-1"},
				// The role is checked first: malformed or not, it is FORBIDDEN.
				{protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{}, "version": -1, "opId": "o-2"}, "o-2"},
				{protocol.TypeLanguageChanged, "go", ""},
				{protocol.TypeRunOutput, runPayload("r-ob"), ""},
			}
			for _, r := range refused {
				ob.send(t, r.typ, r.payload)
				p := ob.waitError(t)
				if p.Error != protocol.CodeForbidden || p.Details["type"] != r.typ || p.Details["role"] != string(protocol.RoleObserver) {
					t.Fatalf("%s: got %+v, want FORBIDDEN naming the event and the role", r.typ, p)
				}
				if r.opID != "" && p.Details["opId"] != r.opID {
					t.Fatalf("%s: refusal %+v does not name opId %s", r.typ, p, r.opID)
				}
			}
			// The connection stays, and nothing changed.
			ob.send(t, protocol.TypeSync, nil)
			if s := decode[protocol.Sync](t, ob.waitFor(t, protocol.TypeSync).Payload); s.Version != 0 || s.Code != "" || s.Language != protocol.LangPython {
				t.Fatalf("observer's sync %+v, want the untouched document", s)
			}
			iv.send(t, protocol.TypeCodeUpdate, fullCode("x = 1", 0, "i-1"))
			if ack := decode[protocol.CodeAck](t, iv.nextOf(t, protocol.TypeCodeAck, protocol.TypeError).Payload); ack.Version != 1 {
				t.Fatalf("interviewer's first edit got version %d, want 1", ack.Version)
			}
			if u := decode[codeUpdateOut](t, ob.waitFor(t, protocol.TypeCodeUpdate).Payload); u.Version != 1 || *u.Delta.FullCode != "x = 1" {
				t.Fatalf("observer got %+v", u)
			}
			rec, _, err := session.NewStore(cl.in.Sessions).Get(context.Background(), sid)
			if err != nil || rec.Language != protocol.LangPython {
				t.Fatalf("language %q (%v), want python untouched", rec.Language, err)
			}
			for _, typ := range []string{protocol.TypeLanguageChanged, protocol.TypeRunOutput} {
				if n := iv.count(typ) + ob.count(typ); n != 0 {
					t.Fatalf("%d %s events after refused ones", n, typ)
				}
			}
			// The op log records who typed what.
			entries, _, err := oplog.Read(context.Background(), cl.in, sid, 1, oplog.Limits{})
			if err != nil || len(entries) != 1 {
				t.Fatalf("op log: %d entries, %v; want 1", len(entries), err)
			}
			if e := entries[0]; e.UserID != "iv" || e.UserName != "Ivy" || e.Role != protocol.RoleInterviewer {
				t.Fatalf("op log entry by %q %q %q, want iv Ivy interviewer", e.UserID, e.UserName, e.Role)
			}
		})
	}
}

// TestCandidateNeverSeesNotes: while an interviewer on one instance writes
// notes, an observer on the other instance receives them and a candidate
// beside that observer receives no frame that carries them; the
// candidate's own notes-update is FORBIDDEN, and connected and sync carry
// notes only for the roles that read them.
func TestCandidateNeverSeesNotes(t *testing.T) {
	for _, fr := range framings {
		t.Run(fr.name, func(t *testing.T) {
			cl := newCluster(t)
			a, b := cl.start(), cl.start()
			sid := cl.newSession(protocol.LangPython).ID
			const secret = "SECRET-hire-"
			iv := connectPlain(t, a.url, user{sid: sid, id: "iv", name: "Ivy", role: protocol.RoleInterviewer})
			if c := decode[protocol.Connected](t, iv.waitFor(t, protocol.TypeConnected).Payload); c.Notes == nil || *c.Notes != "" ||
				c.NotesVersion == nil || *c.NotesVersion != 0 {
				t.Fatalf("interviewer's connected: notes %v version %v, want empty notes at version 0", c.Notes, c.NotesVersion)
			}
			// A token without a role is a candidate's.
			cand := connectAs(t, b.url, user{sid: sid, id: "cand", name: "Cara"}, fr.sio)
			cc := cand.waitFor(t, protocol.TypeConnected)
			if c := decode[protocol.Connected](t, cc.Payload); c.Role != protocol.RoleCandidate {
				t.Fatalf("candidate connected as %q", c.Role)
			}
			ob := connectPlain(t, b.url, user{sid: sid, id: "ob", name: "Otto", role: protocol.RoleObserver, query: opsFormat()})
			ob.waitFor(t, protocol.TypeConnected)
			waitUsers(t, iv, "iv", "cand", "ob")

			notes := ""
			for i := range 6 {
				notes += fmt.Sprintf("%s%d\n", secret, i)
				iv.send(t, protocol.TypeNotesUpdate, fullCode(notes, int64(i), fmt.Sprintf("n-%d", i)))
				ack := iv.nextOf(t, protocol.TypeNotesAck, protocol.TypeError)
				if a := decode[protocol.CodeAck](t, ack.Payload); ack.Type != protocol.TypeNotesAck || a.Version != int64(i+1) ||
					a.Hash != protocol.DocumentHash(notes) {
					t.Fatalf("interviewer got %s %s, want notes-ack %d with the notes' hash", ack.Type, ack.Payload, i+1)
				}
				up := ob.waitFor(t, protocol.TypeNotesUpdate)
				if u := decode[codeUpdateOut](t, up.Payload); u.Version != int64(i+1) || up.UserID != "iv" || len(u.Delta.Ops) == 0 {
					t.Fatalf("observer got notes-update %s", up.Payload)
				}
				// The candidate types code meanwhile: the code is everyone's.
				cand.send(t, protocol.TypeCodeUpdate, fullCode(fmt.Sprintf("print(%d)", i), int64(i), fmt.Sprintf("c-%d", i)))
				cand.nextOf(t, protocol.TypeCodeAck, protocol.TypeError)
			}
			cand.send(t, protocol.TypeNotesUpdate, fullCode("let me in", 0, "cn-1"))
			if p := cand.waitError(t); p.Error != protocol.CodeForbidden || p.Details["type"] != protocol.TypeNotesUpdate || p.Details["opId"] != "cn-1" {
				t.Fatalf("candidate's notes-update: %+v, want FORBIDDEN with its opId", p)
			}
			// Everything queued for the candidate before this answer has arrived.
			cand.send(t, protocol.TypeSync, nil)
			sync := cand.waitFor(t, protocol.TypeSync)

			late := connectPlain(t, a.url, user{sid: sid, id: "ob", name: "Otto", role: protocol.RoleObserver}) // another tab
			// The interviewer's acks came from instance a, so a holds the
			// notes at 6; the code, typed on b, may still be on its way to a.
			if c := decode[protocol.Connected](t, late.waitFor(t, protocol.TypeConnected).Payload); c.Notes == nil || *c.Notes != notes ||
				*c.NotesVersion != 6 || *c.NotesHash != protocol.DocumentHash(notes) || c.Hash != protocol.DocumentHash(c.Code) {
				b, _ := json.Marshal(c)
				t.Fatalf("late observer's connected: %s; want notes %q at 6 with their hash", b, notes)
			}
			iv.send(t, protocol.TypeSync, nil)
			if s := decode[protocol.Sync](t, iv.waitFor(t, protocol.TypeSync).Payload); s.Notes == nil || *s.Notes != notes {
				t.Fatalf("interviewer's sync has notes %q, want %q", deref(s.Notes), notes)
			}

			for _, env := range []protocol.Envelope{cc, sync} {
				var p map[string]json.RawMessage
				if err := json.Unmarshal(env.Payload, &p); err != nil {
					t.Fatal(err)
				}
				if _, ok := p["notes"]; ok {
					t.Fatalf("candidate's %s carries notes: %s", env.Type, env.Payload)
				}
			}
			if n := cand.count(protocol.TypeNotesUpdate) + cand.count(protocol.TypeNotesAck); n != 0 {
				t.Fatalf("the candidate received %d notes events", n)
			}
			frames := cand.rawFrames()
			for _, f := range frames {
				if strings.Contains(f, secret) || strings.Contains(f, `"`+protocol.TypeNotesUpdate+`",`) ||
					strings.Contains(f, protocol.TypeNotesAck) || strings.Contains(f, "notesVersion") || strings.Contains(f, "notesHash") {
					t.Fatalf("the candidate received a frame about the notes: %s", f)
				}
			}
			if len(frames) < 12 {
				t.Fatalf("the candidate received only %d frames; the check above saw too little", len(frames))
			}

			for _, doc := range []struct {
				id   string
				want int
			}{{sid, 6}, {broker.NotesDocID(sid), 6}} {
				entries, _, err := oplog.Read(context.Background(), cl.in, doc.id, 1, oplog.Limits{})
				if err != nil || len(entries) != doc.want {
					t.Fatalf("op log of %s: %d entries, %v; want %d", doc.id, len(entries), err, doc.want)
				}
				wantUser, wantName, wantRole := "cand", "Cara", protocol.RoleCandidate
				if doc.id != sid {
					wantUser, wantName, wantRole = "iv", "Ivy", protocol.RoleInterviewer
				}
				for _, e := range entries {
					if e.UserID != wantUser || e.UserName != wantName || e.Role != wantRole {
						t.Fatalf("%s entry %d by %q %q %q, want %s %s %s", doc.id, e.Version, e.UserID, e.UserName, e.Role,
							wantUser, wantName, wantRole)
					}
				}
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestRunOutputIsShared: a run reaches every connection on every instance
// (the sender's too), is the lastRun of whoever connects later, anywhere,
// and is validated field by field and rate-limited per user.
func TestRunOutputIsShared(t *testing.T) {
	cl := newCluster(t)
	clk := &clock{t: time.Now()} // frozen: the per-user limit is exact
	a, b := cl.start(instanceOpts{now: clk.now}), cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	cand := connectPlain(t, a.url, user{sid: sid, id: "cand", name: "Cara"})
	if c := decode[protocol.Connected](t, cand.waitFor(t, protocol.TypeConnected).Payload); c.LastRun != nil {
		t.Fatalf("lastRun before any run: %+v", c.LastRun)
	}
	iv := connectAs(t, b.url, user{sid: sid, id: "iv", name: "Ivy", role: protocol.RoleInterviewer}, true)
	iv.waitFor(t, protocol.TypeConnected)
	ob := connectPlain(t, b.url, user{sid: sid, id: "ob", name: "Otto", role: protocol.RoleObserver})
	ob.waitFor(t, protocol.TypeConnected)
	waitUsers(t, cand, "cand", "iv", "ob")

	bad := []struct {
		name    string
		payload any
		code    protocol.Code
		field   string
	}{
		{"no runId", map[string]any{"language": "python", "stdout": "", "stderr": "", "exitCode": 0, "durationMs": 1}, protocol.CodeInvalidPayload, "runId"},
		{"fractional exitCode", merge(runPayload("r"), "exitCode", 1.5), protocol.CodeInvalidPayload, "exitCode"},
		{"negative duration", merge(runPayload("r"), "durationMs", -1), protocol.CodeInvalidPayload, "durationMs"},
		{"stdout not a string", merge(runPayload("r"), "stdout", 4), protocol.CodeInvalidPayload, "stdout"},
		{"no stderr", merge(runPayload("r"), "stderr", nil), protocol.CodeInvalidPayload, "stderr"},
		{"unknown language", merge(runPayload("r"), "language", "cobol"), protocol.CodeInvalidLanguage, ""},
		{"over 64 KiB", merge(runPayload("r"), "stdout", strings.Repeat("x", protocol.MaxRunOutputBytes)), protocol.CodePayloadTooLarge, ""},
		{"not an object", "ran fine", protocol.CodeInvalidPayload, ""},
	}
	for _, c := range bad {
		cand.send(t, protocol.TypeRunOutput, c.payload)
		p := cand.waitError(t)
		if _, named := p.Details[c.field]; p.Error != c.code || p.Details["type"] != protocol.TypeRunOutput || (c.field != "" && !named) {
			t.Fatalf("%s: got %+v, want %s naming %q", c.name, p, c.code, c.field)
		}
	}

	cand.send(t, protocol.TypeRunOutput, runPayload("r-1"))
	for _, c := range []*wsClient{cand, iv, ob} {
		e := c.waitFor(t, protocol.TypeRunOutput)
		r := decode[protocol.RunOutput](t, e.Payload)
		if e.UserID != "cand" || r.RunID != "r-1" || r.Stdout != "4\n" || r.Stderr != "warning: x\n" || r.ExitCode != 1 ||
			r.DurationMs != 37 || r.Language != protocol.LangPython || r.UserID != "cand" || r.UserName != "Cara" || r.Timestamp == 0 {
			t.Fatalf("run-output %s from %q", e.Payload, e.UserID)
		}
	}
	// One per 2 s per user: at once again is refused, and nobody hears of it.
	cand.send(t, protocol.TypeRunOutput, runPayload("r-2"))
	if p := cand.waitError(t); p.Error != protocol.CodeRateLimited || p.Details["type"] != protocol.TypeRunOutput {
		t.Fatalf("second run at once: %+v, want RATE_LIMIT_EXCEEDED", p)
	}
	clk.advance(2 * time.Second)
	cand.send(t, protocol.TypeRunOutput, runPayload("r-3"))
	for _, c := range []*wsClient{cand, iv, ob} {
		if r := decode[protocol.RunOutput](t, c.waitFor(t, protocol.TypeRunOutput).Payload); r.RunID != "r-3" {
			t.Fatalf("after r-1 came %s, want r-3 (r-2 was refused)", r.RunID)
		}
	}
	// Whoever connects later (here another tab), on either instance, gets the latest run.
	for i, inst := range []*instance{a, b} {
		late := connectPlain(t, inst.url, user{sid: sid, id: "ob", name: "Otto", role: protocol.RoleObserver})
		c := decode[protocol.Connected](t, late.waitFor(t, protocol.TypeConnected).Payload)
		if c.LastRun == nil || c.LastRun.RunID != "r-3" || c.LastRun.UserID != "cand" || c.LastRun.Stdout != "4\n" {
			t.Fatalf("late joiner on instance %d: lastRun %+v, want r-3 by cand", i, c.LastRun)
		}
	}
}

func merge(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

// TestEndDisconnectsEveryone: when the interview ends (the api's POST
// .../end sets the record's status), every connection on every instance
// gets session-ended with reason ended and is closed, new handshakes are
// refused with SESSION_ENDED, and the code, the notes and the history stay.
func TestEndDisconnectsEveryone(t *testing.T) {
	cl := newCluster(t)
	a, b := cl.start(), cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	iv := connectPlain(t, a.url, user{sid: sid, id: "iv", name: "Ivy", role: protocol.RoleInterviewer})
	iv.waitFor(t, protocol.TypeConnected)
	cand := connectAs(t, b.url, user{sid: sid, id: "cand", name: "Cara"}, true)
	cand.waitFor(t, protocol.TypeConnected)
	ob := connectPlain(t, b.url, user{sid: sid, id: "ob", name: "Otto", role: protocol.RoleObserver})
	ob.waitFor(t, protocol.TypeConnected)

	cand.send(t, protocol.TypeCodeUpdate, fullCode("print('done')", 0, "c-1"))
	cand.waitFor(t, protocol.TypeCodeAck)
	iv.send(t, protocol.TypeNotesUpdate, fullCode("strong hire", 0, "n-1"))
	iv.waitFor(t, protocol.TypeNotesAck)

	if _, err := session.NewStore(cl.in.Sessions).EndInterview(context.Background(), sid, time.Now()); err != nil {
		t.Fatalf("end: %v", err)
	}
	for name, c := range map[string]*wsClient{"interviewer": iv, "candidate": cand, "observer": ob} {
		if r := decode[protocol.SessionEnded](t, c.waitFor(t, protocol.TypeSessionEnded).Payload); r.Reason != protocol.EndedByHost {
			t.Fatalf("%s: session-ended %+v, want reason ended", name, r)
		}
		if err := c.waitClosed(t); closeCode(err) != websocket.CloseNormalClosure {
			t.Fatalf("%s: closed with %v, want 1000", name, err)
		}
	}
	cand.waitFrame(t, func(f string) bool { return f == "41" }) // DISCONNECT: socket.io-client does not reconnect

	for _, inst := range []*instance{a, b} {
		u := user{sid: sid, id: "cand", name: "Cara"}
		_, resp, err := tryPlain(t, inst.url, u)
		if err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
			t.Fatalf("plain handshake after the end: %v, %s; want 409", err, body(resp))
		}
		var eb protocol.ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error != protocol.CodeSessionEnded || eb.StatusCode != 409 {
			t.Fatalf("plain refusal %+v (%v), want SESSION_ENDED", eb, err)
		}
		if _, refused := connectSIO(t, inst.url, u, nil); refused == nil || refused.Error != protocol.CodeSessionEnded {
			t.Fatalf("socket.io handshake after the end: %+v, want CONNECT_ERROR SESSION_ENDED", refused)
		}
	}

	// Nothing was purged: the op logs stay, and the snapshots the instances
	// wrote when they let the documents go hold the last texts.
	ctx := context.Background()
	for doc, want := range map[string]string{sid: "print('done')", broker.NotesDocID(sid): "strong hire"} {
		if entries, _, err := oplog.Read(ctx, cl.in, doc, 1, oplog.Limits{}); err != nil || len(entries) != 1 {
			t.Fatalf("op log of %s after the end: %d entries, %v", doc, len(entries), err)
		}
		within(t, waitTimeout, "the snapshot of "+doc, func() bool {
			e, err := cl.in.Documents.Get(ctx, doc)
			if err != nil {
				return false
			}
			var snap struct {
				Code string `json:"code"`
			}
			return json.Unmarshal(e.Value(), &snap) == nil && snap.Code == want
		})
	}
	if rec, _, err := session.NewStore(cl.in.Sessions).GetAny(ctx, sid); err != nil || !rec.Ended() || !rec.Live() {
		t.Fatalf("record after the end: %+v, %v; want ended and kept", rec, err)
	}
}

func opsFormat() map[string][]string { return map[string][]string{"deltaFormat": {"ops"}} }

// TestRoleAndColourFromTheToken: the role and colour come from the signed
// join token; an anonymous connection (when allowed) is a candidate whatever
// it claims, and a token without a colour gets one derived from the user id.
func TestRoleAndColourFromTheToken(t *testing.T) {
	cl := newCluster(t)
	inst := cl.start(instanceOpts{env: map[string]string{"WS_ALLOW_ANONYMOUS": "true"}})
	sid := cl.newSession(protocol.LangPython).ID
	tok := token.Sign([]byte(testSecret), token.Claims{SessionID: sid, UserID: "iv", UserName: "Ivy",
		Role: protocol.RoleInterviewer, Color: "#123456", Expiry: time.Now().Add(time.Hour).Unix()})
	iv := connectPlain(t, inst.url, user{sid: sid, noToken: true, query: url.Values{"token": {tok}}})
	if c := decode[protocol.Connected](t, iv.waitFor(t, protocol.TypeConnected).Payload); c.Role != protocol.RoleInterviewer ||
		c.Users[0].Color != "#123456" {
		t.Fatalf("interviewer connected as %q with %+v, want the token's role and colour", c.Role, c.Users)
	}
	anon := connectPlain(t, inst.url, user{sid: sid, id: "anon", name: "Anon", noToken: true,
		query: url.Values{"role": {"interviewer"}}})
	if c := decode[protocol.Connected](t, anon.waitFor(t, protocol.TypeConnected).Payload); c.Role != protocol.RoleCandidate || c.Notes != nil {
		t.Fatalf("anonymous connection: role %q, notes %v; want a candidate without notes", c.Role, c.Notes)
	}
	anon.send(t, protocol.TypeNotesUpdate, fullCode("x", 0, "a-1"))
	if p := anon.waitError(t); p.Error != protocol.CodeForbidden {
		t.Fatalf("anonymous notes-update: %+v, want FORBIDDEN", p)
	}
	u := decode[protocol.User](t, iv.waitFor(t, protocol.TypeUserJoined).Payload)
	if u.ID != "anon" || u.Role != protocol.RoleCandidate || u.Color != protocol.UserColor("anon") {
		t.Fatalf("user-joined %+v, want anon as a candidate with the colour of its id", u)
	}
}
