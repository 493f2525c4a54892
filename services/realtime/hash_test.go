package realtime_test

import (
	"fmt"
	"hash/fnv"
	"net/url"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// fnvHex is FNV-1a 64 over the UTF-8 bytes as 16 hex digits, written
// independently of protocol.DocumentHash.
func fnvHex(s string) string {
	h := fnv.New64a()
	h.Write([]byte(s))
	return fmt.Sprintf("%016x", h.Sum64())
}

// TestDocumentHash: connected, sync, code-ack and code-update (live, in
// both delta formats, and replayed) carry the hash of the document at
// their version, so a client can tell a divergence from its own text.
func TestDocumentHash(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	hashOf := func(t *testing.T, e protocol.Envelope) string {
		t.Helper()
		return decode[struct {
			Hash string `json:"hash"`
		}](t, e.Payload).Hash
	}

	a := connectPlain(t, inst.url, user{sid: sid, id: "a", name: "A"})
	if h := hashOf(t, a.waitFor(t, protocol.TypeConnected)); h != fnvHex("") || h != "cbf29ce484222325" {
		t.Fatalf("connected hash %q, want the empty text's", h)
	}
	b, refused := connectSIO(t, inst.url, user{sid: sid, id: "b", name: "B", query: url.Values{"deltaFormat": {"ops"}}}, nil)
	if refused != nil {
		t.Fatal(refused)
	}
	b.waitFor(t, protocol.TypeConnected)

	texts := []string{"", "hello", "hello wörld 😀"}
	a.send(t, protocol.TypeCodeUpdate, fullCode(texts[1], 0, "a1"))
	if h := hashOf(t, a.waitFor(t, protocol.TypeCodeAck)); h != fnvHex(texts[1]) {
		t.Fatalf("code-ack hash %q, want %q", h, fnvHex(texts[1]))
	}
	if h := hashOf(t, b.waitFor(t, protocol.TypeCodeUpdate)); h != fnvHex(texts[1]) {
		t.Fatalf("ops code-update hash %q", h)
	}
	b.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": []any{5, " wörld 😀"}}, "version": 1, "opId": "b1"})
	if h := hashOf(t, b.waitFor(t, protocol.TypeCodeAck)); h != fnvHex(texts[2]) {
		t.Fatalf("code-ack hash %q", h)
	}
	if e := a.waitFor(t, protocol.TypeCodeUpdate); hashOf(t, e) != fnvHex(*decode[codeUpdateOut](t, e.Payload).Delta.FullCode) {
		t.Fatalf("fullCode code-update %s: the hash is not its text's", e.Payload)
	}
	// A resent update is acknowledged with the hash of the version it got.
	a.send(t, protocol.TypeCodeUpdate, fullCode(texts[1], 0, "a1"))
	if e := a.waitFor(t, protocol.TypeCodeAck); hashOf(t, e) != fnvHex(texts[1]) {
		t.Fatalf("duplicate ack %s", e.Payload)
	}
	a.send(t, protocol.TypeSync, nil)
	if s := decode[protocol.Sync](t, a.waitFor(t, protocol.TypeSync).Payload); s.Hash != fnvHex(texts[2]) || s.Code != texts[2] {
		t.Fatalf("sync %+v", s)
	}

	// A replay since 0: connected at version 2, then versions 1 and 2,
	// from this instance's hub and from one that loads the op log.
	for _, in := range []*instance{inst, cl.start()} {
		c := connectPlain(t, in.url, user{sid: sid, id: "c", name: "C", query: url.Values{"since": {"0"}}})
		if con := decode[protocol.Connected](t, c.waitFor(t, protocol.TypeConnected).Payload); con.Hash != fnvHex(texts[2]) {
			t.Fatalf("connected %+v", con)
		}
		for v := 1; v <= 2; v++ {
			e := c.waitFor(t, protocol.TypeCodeUpdate)
			if u := decode[codeUpdateOut](t, e.Payload); u.Version != int64(v) || hashOf(t, e) != fnvHex(texts[v]) {
				t.Fatalf("replayed %s, want version %d hashed %s", e.Payload, v, fnvHex(texts[v]))
			}
		}
		c.leave(1000)
	}
}
