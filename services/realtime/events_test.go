package realtime_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

func fullCode(code string, version int64, opID string) map[string]any {
	return map[string]any{"delta": map[string]any{"fullCode": code}, "version": version, "opId": opID}
}

type codeUpdateOut struct {
	Delta struct {
		FullCode *string         `json:"fullCode"`
		Ops      json.RawMessage `json:"ops"`
	} `json:"delta"`
	Version int64  `json:"version"`
	OpID    string `json:"opId"`
}

// TestEvents walks every event of the protocol on one instance, for both
// framings: Alice speaks plain WebSocket, Bob Socket.IO with ops deltas.
func TestEvents(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	rec := cl.newSession(protocol.LangPython)
	sid := rec.ID

	alice := connectPlain(t, inst.url, user{sid: sid, id: "alice", name: "Alice"})
	c := decode[protocol.Connected](t, alice.waitFor(t, protocol.TypeConnected).Payload)
	if c.SessionID != sid || c.UserID != "alice" || c.Version != 0 || c.Code != "" || c.Language != protocol.LangPython ||
		len(c.Users) != 1 || c.Users[0].ID != "alice" || c.Users[0].Name != "Alice" || c.Users[0].Color == "" {
		t.Fatalf("alice connected = %+v", c)
	}

	bob, refused := connectSIO(t, inst.url, user{sid: sid, id: "bob", name: "Bob",
		query: url.Values{"deltaFormat": {"ops"}}}, nil)
	if refused != nil {
		t.Fatalf("bob refused: %+v", refused)
	}
	c = decode[protocol.Connected](t, bob.waitFor(t, protocol.TypeConnected).Payload)
	if len(c.Users) != 2 || c.Users[0].ID != "alice" || c.Users[1].ID != "bob" {
		t.Fatalf("bob connected users = %+v", c.Users)
	}
	j := alice.waitFor(t, protocol.TypeUserJoined)
	if u := decode[protocol.User](t, j.Payload); u.ID != "bob" || u.Name != "Bob" || j.UserID != "bob" {
		t.Fatalf("user-joined = %+v %s", u, j.UserID)
	}
	pu := decode[protocol.PresenceUpdate](t, alice.waitFor(t, protocol.TypePresenceUpdate).Payload)
	if len(pu.Users) != 2 || pu.Users[0].Role != protocol.RoleCandidate {
		t.Fatalf("presence-update = %+v", pu)
	}
	for _, u := range pu.Users {
		if seen, err := time.Parse(time.RFC3339, u.LastSeen); err != nil || time.Since(seen) > time.Hour || !strings.HasSuffix(u.LastSeen, "Z") {
			t.Fatalf("presence-update lastSeen %q is not a recent ISO 8601 UTC time: %v", u.LastSeen, err)
		}
	}

	t.Run("code-update", func(t *testing.T) {
		alice.send(t, protocol.TypeCodeUpdate, fullCode("hello", 0, "a1"))
		ack := alice.nextOf(t, protocol.TypeCodeAck, protocol.TypeCodeUpdate, protocol.TypeError)
		if a := decode[protocol.CodeAck](t, ack.Payload); ack.Type != protocol.TypeCodeAck || a.Version != 1 || a.OpID != "a1" {
			t.Fatalf("alice got %s %s", ack.Type, ack.Payload)
		}
		up := bob.waitFor(t, protocol.TypeCodeUpdate)
		u := decode[codeUpdateOut](t, up.Payload)
		if u.Version != 1 || u.OpID != "a1" || string(u.Delta.Ops) != `["hello"]` || u.Delta.FullCode != nil || up.UserID != "alice" {
			t.Fatalf("bob got %s", up.Payload)
		}
		// Bob, in ops format, edits on top; Alice gets the full text.
		bob.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": []any{5, " world"}}, "version": 1, "opId": "b1"})
		if a := decode[protocol.CodeAck](t, bob.waitFor(t, protocol.TypeCodeAck).Payload); a.Version != 2 || a.OpID != "b1" {
			t.Fatalf("bob ack %+v", a)
		}
		u = decode[codeUpdateOut](t, alice.waitFor(t, protocol.TypeCodeUpdate).Payload)
		if u.Delta.FullCode == nil || *u.Delta.FullCode != "hello world" || u.Version != 2 {
			t.Fatalf("alice got %+v", u)
		}
		// A resend of an applied opId is acked with its first version, not applied again.
		alice.send(t, protocol.TypeCodeUpdate, fullCode("hello", 0, "a1"))
		if a := decode[protocol.CodeAck](t, alice.waitFor(t, protocol.TypeCodeAck).Payload); a.Version != 1 || a.OpID != "a1" {
			t.Fatalf("duplicate ack %+v", a)
		}
	})

	t.Run("code-update refusals", func(t *testing.T) {
		alice.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": []any{99, "x"}}, "version": 2, "opId": "bad1"})
		if e := alice.waitError(t); e.Error != protocol.CodeInvalidPayload || e.Details["opId"] != "bad1" {
			t.Fatalf("bad ops: %+v", e)
		}
		alice.send(t, protocol.TypeCodeUpdate, map[string]any{"version": 2})
		if e := alice.waitError(t); e.Error != protocol.CodeInvalidPayload {
			t.Fatalf("no delta: %+v", e)
		}
		big := strings.Repeat("x", protocol.MaxDocumentBytes+1)
		alice.send(t, protocol.TypeCodeUpdate, fullCode(big, 2, "big"))
		if e := alice.waitError(t); e.Error != protocol.CodeDocumentTooLarge || e.Details["opId"] != "big" {
			t.Fatalf("too large: %+v", e)
		}
		alice.sendEnv(t, map[string]any{"type": protocol.TypeCodeUpdate, "sessionId": cl.newSession(protocol.LangPython).ID,
			"payload": fullCode("other", 2, "x1")})
		if e := alice.waitError(t); e.Error != protocol.CodeInvalidSession {
			t.Fatalf("other session: %+v", e)
		}
		alice.send(t, protocol.TypeSync, nil)
		if s := decode[protocol.Sync](t, alice.waitFor(t, protocol.TypeSync).Payload); s.Version != 2 || s.Code != "hello world" {
			t.Fatalf("refused updates were applied: %+v", s)
		}
	})

	t.Run("cursor-update", func(t *testing.T) {
		cur := map[string]any{"position": map[string]any{"line": 1, "column": 4},
			"selection": map[string]any{"start": map[string]any{"line": 0, "column": 0}, "end": map[string]any{"line": 1, "column": 4}}}
		alice.send(t, protocol.TypeCursorUpdate, cur)
		e := bob.waitFor(t, protocol.TypeCursorUpdate)
		got := decode[protocol.CursorUpdate](t, e.Payload)
		if e.UserID != "alice" || got.Position.Line != 1 || got.Position.Column != 4 || got.Selection == nil || got.Selection.End.Column != 4 {
			t.Fatalf("bob got cursor %s from %s", e.Payload, e.UserID)
		}
		alice.send(t, protocol.TypeCursorUpdate, map[string]any{"position": map[string]any{"line": -1, "column": 0}})
		if er := alice.waitError(t); er.Error != protocol.CodeInvalidPayload {
			t.Fatalf("negative cursor: %+v", er)
		}
		alice.send(t, protocol.TypeCursorUpdate, map[string]any{"position": map[string]any{"line": 1.5, "column": 0}})
		if er := alice.waitError(t); er.Error != protocol.CodeInvalidPayload {
			t.Fatalf("fractional cursor: %+v", er)
		}
		alice.quiet(t, protocol.TypeCursorUpdate, 100*time.Millisecond)
	})

	t.Run("language-changed", func(t *testing.T) {
		bob.send(t, protocol.TypeLanguageChanged, "typescript")
		for _, cl := range []*wsClient{alice, bob} {
			e := cl.waitFor(t, protocol.TypeLanguageChanged)
			if l := decode[protocol.Language](t, e.Payload); l != protocol.LangTypeScript || e.UserID != "bob" {
				t.Fatalf("language-changed %s by %q", e.Payload, e.UserID)
			}
		}
		r, _, err := session.NewStore(cl.in.Sessions).Get(context.Background(), sid)
		if err != nil || r.Language != protocol.LangTypeScript {
			t.Fatalf("record language %q, %v", r.Language, err)
		}
		alice.send(t, protocol.TypeLanguageChanged, "cobol")
		if e := alice.waitError(t); e.Error != protocol.CodeInvalidLanguage {
			t.Fatalf("cobol: %+v", e)
		}
	})

	t.Run("malformed and unknown", func(t *testing.T) {
		alice.sendRaw(t, "{not json")
		if e := alice.waitError(t); e.Error != protocol.CodeInvalidPayload {
			t.Fatalf("malformed: %+v", e)
		}
		alice.send(t, "teleport", nil)
		if e := alice.waitError(t); e.Error != protocol.CodeInvalidPayload {
			t.Fatalf("unknown: %+v", e)
		}
		bob.sendRaw(t, "42garbage")
		if e := bob.waitError(t); e.Error != protocol.CodeInvalidPayload {
			t.Fatalf("sio garbage: %+v", e)
		}
		// A Socket.IO event may carry the payload bare, and ask for an ack.
		bob.sendRaw(t, `421["sync"]`)
		bob.waitFrame(t, func(f string) bool { return f == "431[]" })
		if s := decode[protocol.Sync](t, bob.waitFor(t, protocol.TypeSync).Payload); s.Version != 2 || len(s.Users) != 2 {
			t.Fatalf("sync %+v", s)
		}
		alice.send(t, protocol.TypeSync, nil) // the connection is still up
		alice.waitFor(t, protocol.TypeSync)
	})

	t.Run("user-left", func(t *testing.T) {
		bob.sendRaw(t, "41") // Socket.IO DISCONNECT: the user leaves on purpose
		e := alice.waitFor(t, protocol.TypeUserLeft)
		if l := decode[protocol.UserLeft](t, e.Payload); l.Reason != protocol.LeftManual || e.UserID != "bob" {
			t.Fatalf("user-left %s by %s", e.Payload, e.UserID)
		}
		if pu := decode[protocol.PresenceUpdate](t, alice.waitFor(t, protocol.TypePresenceUpdate).Payload); len(pu.Users) != 1 {
			t.Fatalf("presence after leave %+v", pu)
		}
		carol := connectPlain(t, inst.url, user{sid: sid, id: "carol", name: "Carol"})
		carol.waitFor(t, protocol.TypeConnected)
		carol.leave(websocket.CloseGoingAway)
		if l := decode[protocol.UserLeft](t, alice.waitFor(t, protocol.TypeUserLeft).Payload); l.Reason != protocol.LeftDisconnect {
			t.Fatalf("carol left %+v", l)
		}
	})
}

// TestSince: a client reconnecting with since gets connected, then exactly
// the updates it missed, its own included; one ahead of the document gets a sync.
func TestSince(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	sid := cl.newSession(protocol.LangJavaScript).ID
	a := connectPlain(t, inst.url, user{sid: sid, id: "a", name: "A"})
	a.waitFor(t, protocol.TypeConnected)
	for i, code := range []string{"1", "12", "123", "1234"} {
		a.send(t, protocol.TypeCodeUpdate, fullCode(code, int64(i), "op"+code))
		a.waitFor(t, protocol.TypeCodeAck)
	}
	tests := []struct {
		name, since, format string
		want                []int64 // replayed versions; nil: a sync
	}{
		{"replay fullCode", "1", "", []int64{2, 3, 4}},
		{"replay ops", "2", "ops", []int64{3, 4}},
		{"up to date", "4", "", []int64{}},
		{"ahead", "9", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"since": {tc.since}}
			if tc.format != "" {
				q.Set("deltaFormat", tc.format)
			}
			b := connectPlain(t, inst.url, user{sid: sid, id: "b", name: "B", query: q})
			if v := decode[protocol.Connected](t, b.waitFor(t, protocol.TypeConnected).Payload).Version; v != 4 {
				t.Fatalf("connected version %d", v)
			}
			if tc.want == nil {
				if s := decode[protocol.Sync](t, b.nextOf(t, protocol.TypeSync, protocol.TypeCodeUpdate).Payload); s.Version != 4 {
					t.Fatalf("sync %+v", s)
				}
				return
			}
			for _, v := range tc.want {
				u := decode[codeUpdateOut](t, b.nextOf(t, protocol.TypeCodeUpdate, protocol.TypeSync).Payload)
				if u.Version != v || u.OpID == "" || (tc.format == "ops") != (u.Delta.Ops != nil) {
					t.Fatalf("replayed %+v, want version %d", u, v)
				}
			}
			a.send(t, protocol.TypeCursorUpdate, map[string]any{"position": map[string]any{"line": 0, "column": 0}})
			b.waitFor(t, protocol.TypeCursorUpdate)
			if n := b.count(protocol.TypeCodeUpdate); n != len(tc.want) {
				t.Fatalf("%d code-updates, want %d", n, len(tc.want))
			}
			b.leave(websocket.CloseNormalClosure)
		})
	}
	t.Run("older than the instance's own history", func(t *testing.T) {
		// Another instance starts holding the session at version 4 for a
		// client without since; a later client with since=1 is replayed
		// from the document engine's history. The first instance writes
		// its snapshot at version 4 once the edits settle; it is removed,
		// so the other instance loads the whole op log whatever the
		// timing (a load from that snapshot holds nothing before 4).
		within(t, 20*time.Second, "the snapshot at version 4", func() bool {
			var snap struct {
				Version int64 `json:"version"`
			}
			e, err := cl.in.Documents.Get(context.Background(), sid)
			return err == nil && json.Unmarshal(e.Value(), &snap) == nil && snap.Version == 4
		})
		if err := cl.in.Documents.Delete(context.Background(), sid); err != nil {
			t.Fatal(err)
		}
		other := cl.start()
		connectPlain(t, other.url, user{sid: sid, id: "c", name: "C"}).waitFor(t, protocol.TypeConnected)
		b := connectPlain(t, other.url, user{sid: sid, id: "b", name: "B", query: url.Values{"since": {"1"}}})
		b.waitFor(t, protocol.TypeConnected)
		for v := int64(2); v <= 4; v++ {
			if u := decode[codeUpdateOut](t, b.nextOf(t, protocol.TypeCodeUpdate, protocol.TypeSync).Payload); u.Version != v {
				t.Fatalf("replayed %+v, want version %d", u, v)
			}
		}
	})
}

// TestActivity: the handshake touches the session record at once; events
// touch it at most once per interval (a quarter of the idle timeout), and
// leaving touches it again, so the idle clock starts when people leave.
func TestActivity(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	sid := cl.newSession(protocol.LangPython).ID
	clk := &clock{t: time.Now().Add(time.Minute)}
	inst := cl.start(instanceOpts{now: clk.now, env: map[string]string{"SESSION_IDLE_TIMEOUT": "1m"}}) // touch every 15s
	st := session.NewStore(cl.in.Sessions)
	record := func() (time.Time, uint64) {
		r, rev, err := st.Get(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		return r.LastActivityAt, rev
	}

	a := connectPlain(t, inst.url, user{sid: sid, id: "a", name: "A"})
	a.waitFor(t, protocol.TypeConnected)
	at, rev := record()
	if !at.Equal(clk.now().UTC()) {
		t.Fatalf("lastActivityAt %v after the handshake, want %v", at, clk.now())
	}
	burst := func() {
		for i := 0; i < 20; i++ {
			a.send(t, protocol.TypeSync, nil)
		}
		for i := 0; i < 20; i++ {
			a.waitFor(t, protocol.TypeSync)
		}
	}
	burst()
	time.Sleep(100 * time.Millisecond)
	if _, r := record(); r != rev {
		t.Fatalf("20 events wrote the record %d times", r-rev)
	}
	clk.advance(16 * time.Second)
	burst()
	within(t, waitTimeout, "the debounced touch", func() bool { at, _ := record(); return at.Equal(clk.now().UTC()) })
	_, rev = record()
	burst()
	time.Sleep(100 * time.Millisecond)
	if _, r := record(); r != rev {
		t.Fatalf("events within the interval wrote the record %d times", r-rev)
	}
	clk.advance(time.Second)
	a.leave(websocket.CloseNormalClosure)
	within(t, waitTimeout, "the touch on leave", func() bool { at, _ := record(); return at.Equal(clk.now().UTC()) })
}

// TestTouchesSpread: two sessions whose handshakes touched them at the
// same moment fall due at their own intervals (realtime.TouchInterval), not
// together: at a moment between the two intervals the one with the shorter
// interval is touched and the other not, which it is once its own interval
// has passed. With one interval for every session both would be touched
// together, or neither.
func TestTouchesSpread(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	const every = 15 * time.Second // SESSION_IDLE_TIMEOUT 1m
	var early, late string
	for i := 0; early == "" || late == ""; i++ { // each session's interval lies in (11.25s, 15s]
		if i == 100 {
			t.Fatalf("no two of 100 sessions have touch intervals below 12.5s and above 14s (found %q, %q)", early, late)
		}
		id := cl.newSession(protocol.LangPython).ID
		switch d := realtime.TouchInterval(every, id); {
		case d < 12500*time.Millisecond && early == "":
			early = id
		case d > 14*time.Second && late == "":
			late = id
		}
	}
	clk := &clock{t: time.Now().Add(time.Minute)}
	inst := cl.start(instanceOpts{now: clk.now, env: map[string]string{"SESSION_IDLE_TIMEOUT": "1m"}})
	st := session.NewStore(cl.in.Sessions)
	record := func(sid string) time.Time {
		r, _, err := st.Get(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		return r.LastActivityAt
	}
	burst := func(c *wsClient) {
		for i := 0; i < 5; i++ {
			c.send(t, protocol.TypeSync, nil)
		}
		for i := 0; i < 5; i++ {
			c.waitFor(t, protocol.TypeSync)
		}
	}
	a := connectPlain(t, inst.url, user{sid: early, id: "a", name: "A"})
	a.waitFor(t, protocol.TypeConnected)
	b := connectPlain(t, inst.url, user{sid: late, id: "b", name: "B"})
	b.waitFor(t, protocol.TypeConnected)

	clk.advance(13 * time.Second) // past the early session's interval, short of the late one's
	burst(b)
	burst(a)
	within(t, waitTimeout, "the early session's touch", func() bool { return record(early).Equal(clk.now().UTC()) })
	// 15s: past the late session's interval, and 2s after a touch of it at
	// 13s, which would leave it not due now.
	clk.advance(2 * time.Second)
	burst(b)
	within(t, waitTimeout, "the late session's touch", func() bool { return record(late).Equal(clk.now().UTC()) })
}

// TestActivityAcrossInstances: an instance whose record (as the sessions
// watcher delivered it) holds an activity within the touch interval,
// written by the other instance hosting the session, does not write its
// own; once that activity is an interval old it does, so the record lags
// the last activity by less than the interval either way.
func TestActivityAcrossInstances(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	sid := cl.newSession(protocol.LangPython).ID
	clk := &clock{t: time.Now().Add(time.Minute)}
	env := map[string]string{"SESSION_IDLE_TIMEOUT": "1m"} // touch every 15s
	one := cl.start(instanceOpts{now: clk.now, env: env})
	two := cl.start(instanceOpts{now: clk.now, env: env})
	st := session.NewStore(cl.in.Sessions)
	record := func() (session.Record, uint64) {
		r, rev, err := st.Get(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		return r, rev
	}
	burst := func(c *wsClient) {
		for i := 0; i < 5; i++ {
			c.send(t, protocol.TypeSync, nil)
		}
		for i := 0; i < 5; i++ {
			c.waitFor(t, protocol.TypeSync)
		}
	}
	a := connectPlain(t, one.url, user{sid: sid, id: "a", name: "A"})
	a.waitFor(t, protocol.TypeConnected)
	b := connectPlain(t, two.url, user{sid: sid, id: "b", name: "B"})
	b.waitFor(t, protocol.TypeConnected)

	clk.advance(16 * time.Second)
	burst(a)
	within(t, waitTimeout, "the first instance's touch", func() bool { r, _ := record(); return r.LastActivityAt.Equal(clk.now().UTC()) })
	// A language change written after the touch: once B hears of it, the
	// second instance's watcher has delivered the touched record too.
	if _, err := st.Update(context.Background(), sid, func(r *session.Record) error { r.Language = protocol.LangGo; return nil }); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, protocol.TypeLanguageChanged)
	_, rev := record()
	clk.advance(time.Second)
	burst(b)
	time.Sleep(100 * time.Millisecond)
	if _, r := record(); r != rev {
		t.Fatalf("the second instance wrote the record %d times within the interval of the first's touch", r-rev)
	}
	clk.advance(15 * time.Second)
	burst(b)
	within(t, waitTimeout, "the second instance's touch once the first's is an interval old", func() bool {
		r, _ := record()
		return r.LastActivityAt.Equal(clk.now().UTC()) && r.Language == protocol.LangGo
	})
}
