package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

var usersOf5 = instanceOpts{env: map[string]string{"SESSION_MAX_USERS": "5"}}

// TestSameLineBothFramings: a plain-WebSocket ops client on one instance and
// a Socket.IO fullCode client on the other type into the same line at the
// same position at the same moment; both keep their text, the one applied
// first comes first, and everyone converges.
func TestSameLineBothFramings(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	one, two := cl.start(usersOf5), cl.start(usersOf5)
	sid := cl.newSession(protocol.LangPython).ID
	alice := connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice", query: map[string][]string{"deltaFormat": {"ops"}}})
	alice.waitFor(t, protocol.TypeConnected)
	bob, refused := connectSIO(t, two.url, user{sid: sid, id: "bob", name: "Bob"}, nil)
	if refused != nil {
		t.Fatalf("bob refused: %+v", refused)
	}
	bob.waitFor(t, protocol.TypeConnected)

	alice.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"fullCode": "def f():\n"}, "version": 0, "opId": "a0"})
	alice.waitFor(t, protocol.TypeCodeAck)
	bob.waitFor(t, protocol.TypeCodeUpdate)

	// Both at version 1, both inserting right after "def f():" at once.
	alice.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": []any{8, " # alice", 1}}, "version": 1, "opId": "a1"})
	bob.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"fullCode": "def f(): # bob\n"}, "version": 1, "opId": "b1"})
	aAck := decode[protocol.CodeAck](t, alice.waitFor(t, protocol.TypeCodeAck).Payload)
	bAck := decode[protocol.CodeAck](t, bob.waitFor(t, protocol.TypeCodeAck).Payload)
	want := "def f(): # alice # bob\n"
	if bAck.Version < aAck.Version {
		want = "def f(): # bob # alice\n"
	}
	for c, own := range map[*wsClient]protocol.CodeAck{alice: aAck, bob: bAck} {
		if own.Version != 3 { // the other's update is version 3: each instance delivers it in its own time
			c.await(t, "the code-update of version 3", func(e protocol.Envelope) bool {
				return e.Type == protocol.TypeCodeUpdate && decode[codeUpdateOut](t, e.Payload).Version == 3
			})
		}
		c.send(t, protocol.TypeSync, nil)
		if got := decode[protocol.Sync](t, c.waitFor(t, protocol.TypeSync).Payload); got.Code != want || got.Version != 3 {
			t.Errorf("sync: got %q v%d, want %q v3", got.Code, got.Version, want)
		}
	}
}

// fullCodeWriter is a client that sends fullCode updates from whatever
// version it last saw, without waiting for its acks: stale bases by design.
type fullCodeWriter struct {
	c       *wsClient
	name    string
	text    string // the text of the last code-update received
	version int64
	latest  int64    // the newest version its instance told it of, by update or ack
	sent    []string // markers sent
	acked   map[string]bool
}

func (w *fullCodeWriter) receive(t testing.TB) {
	t.Helper()
	for _, e := range w.c.unread() {
		switch e.Type {
		case protocol.TypeCodeUpdate:
			u := decode[codeUpdateOut](t, e.Payload)
			if u.Delta.FullCode == nil {
				t.Fatalf("%s: a fullCode client got %s", w.name, e.Payload)
			}
			if u.Version > w.version {
				w.text, w.version = *u.Delta.FullCode, u.Version
			}
			w.latest = max(w.latest, u.Version)
		case protocol.TypeCodeAck:
			a := decode[protocol.CodeAck](t, e.Payload)
			w.acked[a.OpID] = true
			w.latest = max(w.latest, a.Version)
		case protocol.TypeError:
			t.Fatalf("%s: error %s", w.name, e.Payload)
		}
	}
}

func (w *fullCodeWriter) edit(t testing.TB, r *rand.Rand) {
	t.Helper()
	marker := fmt.Sprintf("<%s%d>", w.name, len(w.sent))
	// Insert between characters (never inside a marker) of the stale text.
	cuts := []int{0}
	for i, ch := range w.text {
		if ch == '>' {
			cuts = append(cuts, i+1)
		}
	}
	at := cuts[r.IntN(len(cuts))]
	w.sent = append(w.sent, marker)
	w.c.send(t, protocol.TypeCodeUpdate, map[string]any{
		"delta": map[string]any{"fullCode": w.text[:at] + marker + w.text[at:]}, "version": w.version, "opId": marker,
	})
}

// TestFullCodeFromStaleVersions: four fullCode clients, both framings, over
// two instances, send at full speed from stale versions; every client, the
// snapshot and a fresh joiner end on the same text, with every acknowledged
// insert in it exactly once.
func TestFullCodeFromStaleVersions(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	one, two := cl.start(usersOf5), cl.start(usersOf5)
	sid := cl.newSession(protocol.LangJavaScript).ID
	var writers []*fullCodeWriter
	for i, inst := range []*instance{one, two, one, two} {
		name := string(rune('a' + i))
		u := user{sid: sid, id: name, name: name}
		var c *wsClient
		if i%2 == 0 {
			c = connectPlain(t, inst.url, u)
		} else {
			var refused *protocol.ErrorPayload
			if c, refused = connectSIO(t, inst.url, u, nil); refused != nil {
				t.Fatalf("%s refused: %+v", name, refused)
			}
		}
		c.waitFor(t, protocol.TypeConnected)
		writers = append(writers, &fullCodeWriter{c: c, name: name, acked: map[string]bool{}})
	}
	r := rand.New(rand.NewPCG(7, 11))
	const rounds = 12
	for round := 0; round < rounds; round++ {
		for _, w := range writers {
			w.receive(t)
			w.edit(t, r)
		}
	}
	// Acknowledged on one instance is not yet delivered on the other: wait
	// until every writer, on both instances, has been told of the last
	// version, so the fresh joiner's instance holds it too.
	within(t, waitTimeout, "every update to be acknowledged and delivered everywhere", func() bool {
		for _, w := range writers {
			w.receive(t)
			if len(w.acked) != len(w.sent) || w.latest < int64(rounds*len(writers)) {
				return false
			}
		}
		return true
	})
	fresh := connectPlain(t, two.url, user{sid: sid, id: "e", name: "e"})
	final := decode[protocol.Connected](t, fresh.waitFor(t, protocol.TypeConnected).Payload)
	if want := int64(rounds * len(writers)); final.Version != want {
		t.Errorf("version %d, want %d: one per applied update", final.Version, want)
	}
	for _, w := range writers {
		for _, m := range w.sent {
			if n := strings.Count(final.Code, m); n != 1 {
				t.Errorf("acknowledged insert %s appears %d times in %q", m, n, final.Code)
			}
		}
		w.c.send(t, protocol.TypeSync, nil)
		if got := decode[protocol.Sync](t, w.c.waitFor(t, protocol.TypeSync).Payload); got.Code != final.Code {
			t.Errorf("%s: sync %q, want %q", w.name, got.Code, final.Code)
		}
	}
	var snap struct {
		Code    string `json:"code"`
		Version int64  `json:"version"`
	}
	within(t, 20*time.Second, "the snapshot to reach the final version", func() bool {
		e, err := cl.in.Documents.Get(context.Background(), sid)
		return err == nil && json.Unmarshal(e.Value(), &snap) == nil && snap.Version == final.Version
	})
	if snap.Code != final.Code {
		t.Errorf("snapshot %q, want %q", snap.Code, final.Code)
	}
}
