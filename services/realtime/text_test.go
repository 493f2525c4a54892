package realtime_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestTextKeptAsSent: a code-update or notes-update whose fullCode or ops
// insert holds a lone surrogate escape or invalid UTF-8, which decoding
// would turn into U+FFFD (changing the text and its UTF-16 length under the
// sender), is refused with INVALID_PAYLOAD naming the field and the update,
// over both framings (a Socket.IO frame with invalid UTF-8 is refused as a
// frame), and nothing of it is applied or relayed. A real
// surrogate pair and a U+FFFD the client sent are kept exactly.
func TestTextKeptAsSent(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	for _, sio := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "socket.io"}[sio], func(t *testing.T) {
			sid := cl.newSession(protocol.LangPython).ID
			iv := connectAs(t, inst.url, user{sid: sid, id: "iv", name: "Ivy", role: protocol.RoleInterviewer}, sio)
			iv.waitFor(t, protocol.TypeConnected)
			peer := connectPlain(t, inst.url, user{sid: sid, id: "peer", name: "Pat", role: protocol.RoleInterviewer})
			peer.waitFor(t, protocol.TypeConnected)

			ack := 0
			send := func(typ, payload string) {
				t.Helper()
				if !sio {
					iv.sendRaw(t, `{"type":"`+typ+`","payload":`+payload+`}`)
					return
				}
				ack++
				iv.sendRaw(t, fmt.Sprintf(`42%d["%s",%s]`, ack, typ, payload))
			}
			refused := func(typ, payload, opID, field, why string) {
				t.Helper()
				send(typ, payload)
				e := iv.waitError(t)
				if sio && !utf8.ValidString(payload) {
					// Socket.IO frames are UTF-8 text: such a frame is
					// refused whole, before its event can be read.
					if e.Error != protocol.CodeInvalidPayload || !strings.Contains(e.Message, "UTF-8") {
						t.Fatalf("%s %q: %+v; want the frame refused as not UTF-8", typ, payload, e)
					}
					return
				}
				reason, _ := e.Details[field].(string)
				if e.Error != protocol.CodeInvalidPayload || e.Details["type"] != typ || e.Details["opId"] != opID ||
					!strings.Contains(reason, why) || !strings.Contains(e.Message, field) {
					t.Fatalf("%s %s: %+v; want INVALID_PAYLOAD naming %s (%q) and opId %s", typ, payload, e, field, why, opID)
				}
				if sio {
					f := iv.waitFrame(t, func(f string) bool { return strings.HasPrefix(f, fmt.Sprintf("43%d[", ack)) })
					if !strings.Contains(f, `"error":"INVALID_PAYLOAD"`) || !strings.Contains(f, field) {
						t.Fatalf("ack of %s: %s, want the refusal", opID, f)
					}
				}
			}
			accepted := func(typ, ackType, payload string, version int64, opID string) {
				t.Helper()
				send(typ, payload)
				a := iv.nextOf(t, ackType, protocol.TypeError)
				if p := decode[protocol.CodeAck](t, a.Payload); a.Type != ackType || p.Version != version || p.OpID != opID {
					t.Fatalf("%s %s: %s %s, want %s of version %d", typ, payload, a.Type, a.Payload, ackType, version)
				}
			}

			for _, d := range []struct{ typ, ack string }{
				{protocol.TypeCodeUpdate, protocol.TypeCodeAck},
				{protocol.TypeNotesUpdate, protocol.TypeNotesAck},
			} {
				refused(d.typ, `{"delta":{"fullCode":"x\ud800"},"version":0,"opId":"f1"}`, "f1", "delta.fullCode", `\ud800`)
				refused(d.typ, `{"delta":{"fullCode":"\udc00"},"version":0,"opId":"f2"}`, "f2", "delta.fullCode", `\udc00`)
				refused(d.typ, "{\"delta\":{\"fullCode\":\"a\xffb\"},\"version\":0,\"opId\":\"f3\"}", "f3", "delta.fullCode", "0xff")
				refused(d.typ, `{"delta":{"ops":["a\ud83d"]},"version":0,"opId":"o1"}`, "o1", "delta.ops[0]", `\ud83d`)
				// A pair and a U+FFFD the client sent, escaped and as UTF-8:
				// 😀 is 2 UTF-16 units, each U+FFFD 1.
				accepted(d.typ, d.ack, `{"delta":{"fullCode":"\ud83d\ude00\ufffd"},"version":0,"opId":"f4"}`, 1, "f4")
				refused(d.typ, `{"delta":{"ops":[3,"z\udfff"]},"version":1,"opId":"o2"}`, "o2", "delta.ops[1]", `\udfff`)
				refused(d.typ, "{\"delta\":{\"ops\":[3,\"\xed\xa0\x80\"]},\"version\":1,\"opId\":\"o3\"}", "o3", "delta.ops[1]", "0xed")
				accepted(d.typ, d.ack, "{\"delta\":{\"ops\":[3,\"\\uD83D\\uDE01\uFFFD\"]},\"version\":1,\"opId\":\"o4\"}", 2, "o4")
			}
			want := "😀\uFFFD😁\uFFFD"

			// Only the accepted updates reached the other user, as sent.
			for _, typ := range []string{protocol.TypeCodeUpdate, protocol.TypeNotesUpdate} {
				var got []string
				for range 2 {
					u := decode[codeUpdateOut](t, peer.waitFor(t, typ).Payload)
					got = append(got, fmt.Sprintf("%d:%s", u.Version, u.OpID))
				}
				if strings.Join(got, " ") != "1:f4 2:o4" {
					t.Fatalf("peer got %s %v, want versions 1 and 2 only", typ, got)
				}
			}
			iv.send(t, protocol.TypeSync, nil)
			s := decode[protocol.Sync](t, iv.waitFor(t, protocol.TypeSync).Payload)
			if s.Code != want || s.Version != 2 || s.Notes == nil || *s.Notes != want {
				t.Fatalf("sync: code %q v%d, notes %q; want %q at version 2 in both", s.Code, s.Version, deref(s.Notes), want)
			}
			if c := decode[protocol.Connected](t, connectPlain(t, inst.url, user{sid: sid, id: "late", name: "Lee"}).waitFor(t, protocol.TypeConnected).Payload); c.Code != want ||
				c.Hash != protocol.DocumentHash(want) {
				t.Fatalf("a late joiner got %q (hash %s), want %q", c.Code, c.Hash, want)
			}
			if n := peer.count(protocol.TypeError); n != 0 {
				t.Fatalf("the other user got %d errors: %s", n, peer.dump())
			}
		})
	}
}
