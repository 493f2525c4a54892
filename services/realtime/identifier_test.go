package realtime_test

import (
	"encoding/json"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestIdentifiersKeptAsSent: encoding/json turns a lone surrogate escape
// into U+FFFD, so "k\ud800" and "k\udc00" would be one opId and the second
// edit would be acknowledged as a duplicate and dropped. Both are refused
// with INVALID_PAYLOAD, a real surrogate pair is kept, and a Socket.IO auth
// userId with a lone surrogate is refused with INVALID_REQUEST.
func TestIdentifiersKeptAsSent(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	c := connectPlain(t, inst.url, user{sid: sid, id: "u1", name: "U1"})
	c.waitFor(t, protocol.TypeConnected)

	edit := func(text, opIDJSON string, version int) string {
		return `{"type":"code-update","payload":{"delta":{"fullCode":"` + text + `"},"version":` +
			string(rune('0'+version)) + `,"opId":` + opIDJSON + `}}`
	}
	for _, id := range []string{`"k\ud800"`, `"k\udc00"`} {
		c.sendRaw(t, edit("a", id, 0))
		e := c.waitError(t)
		if e.Error != protocol.CodeInvalidPayload || e.Details["type"] != protocol.TypeCodeUpdate || e.Details["opId"] != nil {
			t.Fatalf("opId %s: %+v, want INVALID_PAYLOAD naming no opId", id, e)
		}
	}
	// A real pair is an ordinary opId, distinct from its neighbour.
	c.sendRaw(t, edit("ab", `"k\ud83d\ude00"`, 0))
	if a := decode[protocol.CodeAck](t, c.waitFor(t, protocol.TypeCodeAck).Payload); a.Version != 1 || a.OpID != "k😀" {
		t.Fatalf("ack %+v", a)
	}
	c.sendRaw(t, edit("abc", `"k\ud83d\ude01"`, 1))
	if a := decode[protocol.CodeAck](t, c.waitFor(t, protocol.TypeCodeAck).Payload); a.Version != 2 || a.OpID != "k😁" {
		t.Fatalf("ack %+v", a)
	}
	c.send(t, protocol.TypeSync, nil)
	if s := decode[protocol.Sync](t, c.waitFor(t, protocol.TypeSync).Payload); s.Code != "abc" || s.Version != 2 {
		t.Fatalf("sync %+v", s)
	}

	for _, uid := range []string{`"d\ud800"`, `"d\udc00"`} {
		auth := map[string]any{"sessionId": sid, "userId": json.RawMessage(uid), "token": joinToken(sid, "d", "D")}
		_, refused := connectSIO(t, inst.url, user{noToken: true}, auth)
		if refused == nil || refused.Error != protocol.CodeInvalidRequest || refused.Details["field"] != "userId" {
			t.Fatalf("auth userId %s: %+v, want INVALID_REQUEST", uid, refused)
		}
	}
}
