package realtime

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/services/realtime/internal/wsconn"
	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/protocol"
)

// FuzzEncodePayload holds newEvent's hand-written payloads (code-update in
// either format, code-ack, cursor-update, presence-update) to encoding/json: the same
// envelope, byte for byte, as rawEvent around marshal's payload.
func FuzzEncodePayload(f *testing.F) {
	f.Add("print(1)\n<a> & \"b\"\t\u2028\xff", []byte(`[3,"x y",-1]`), "u2-17", "sha256:ab", int64(41), 12, 30, true)
	f.Add("", []byte(nil), "", "", int64(0), 0, 0, false)
	f.Add("x", []byte(`[1, 2]`), "k\xed\xa0\x80", "", int64(-1), -5, 2147483647, true)
	f.Add("", []byte(`[1,"a\"b\\",{"c":null}]`), "é", "h", int64(9007199254740993), 1, 2, false)
	f.Add("", []byte(`[1,`), "", "", int64(1), 1, 2, false)
	f.Fuzz(func(t *testing.T, code string, ops []byte, opID, hash string, version int64, line, col int, full bool) {
		u := protocol.CodeUpdate{Delta: protocol.Delta{Ops: ops}, Version: version, OpID: opID, Hash: hash}
		if full {
			u.Delta.FullCode = &code
		}
		cur := protocol.CursorUpdate{Position: protocol.Position{Line: line, Column: col}}
		if full {
			cur.Selection = &protocol.Selection{Start: protocol.Position{Line: col, Column: line}, End: cur.Position}
		}
		users := protocol.PresenceUpdate{Users: []protocol.User{{ID: opID, Name: code, Color: hash, Role: protocol.Role(hash), LastSeen: opID},
			{ID: hash, Name: opID, Color: code}}}
		for _, p := range []any{u, protocol.CodeAck{Version: version, OpID: opID, Hash: hash}, cur,
			users, protocol.PresenceUpdate{}, protocol.PresenceUpdate{Users: []protocol.User{}}} {
			got := newEvent("code-update", fuzzSID, opID, p, fuzzNow)
			want := oldEvent("code-update", fuzzSID, opID, p)
			if got.Type != want.Type || !bytes.Equal(got.Body, want.Body) {
				t.Fatalf("newEvent(%#v) = %s %s\nencoding/json: %s %s", p, got.Type, got.Body, want.Type, want.Body)
			}
			if f, w := got.Frame(wsconn.SocketIO{}), sio.EncodeEvent(sio.MainNamespace, got.Type, got.Body); !bytes.Equal(f, w) {
				t.Fatalf("newEvent(%#v) framed for Socket.IO = %s, want %s", p, f, w)
			}
		}
	})
}

// TestEventFrameShared holds an event's Socket.IO frame, encoded around
// its envelope in one buffer, to the frame sio encodes from the envelope,
// and checks that appending to the envelope leaves the shared frame as it
// was.
func TestEventFrameShared(t *testing.T) {
	code := "x\n\"<y>\""
	cases := []struct {
		name string
		ev   *outEvent
	}{
		{"code-update", newEvent(protocol.TypeCodeUpdate, fuzzSID, "u1",
			protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &code}, Version: 3, OpID: "u1-1", Hash: "h"}, fuzzNow)},
		{"code-ack", ackEvent(protocol.TypeCodeAck, fuzzSID, "u1", 3, "u1-1", "", fuzzNow)},
		{"encoding/json payload", newEvent(protocol.TypeLanguageChanged, fuzzSID, "", protocol.Language("go"), fuzzNow)},
		{"raw, no payload", rawEvent(protocol.TypeSync, fuzzSID, "", nil, fuzzNow.UnixMilli())},
		{"name escaped", rawEvent("a\"b\u00e9", fuzzSID, "u1", []byte(`{}`), fuzzNow.UnixMilli())},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := bytes.Clone(c.ev.Body)
			if !json.Valid(body) {
				t.Fatalf("envelope %s is not JSON", body)
			}
			want := sio.EncodeEvent(sio.MainNamespace, c.ev.Type, body)
			got := c.ev.Frame(wsconn.SocketIO{})
			if !bytes.Equal(got, want) {
				t.Fatalf("frame %s, want %s", got, want)
			}
			if p := c.ev.Frame(wsconn.Plain{}); !bytes.Equal(p, body) {
				t.Fatalf("plain frame %s, want %s", p, body)
			}
			_ = append(c.ev.Body, "garbage"...)
			if !bytes.Equal(c.ev.Frame(wsconn.SocketIO{}), want) || !bytes.Equal(c.ev.Body, body) {
				t.Fatalf("appending to the envelope changed the shared frame: %s", c.ev.Frame(wsconn.SocketIO{}))
			}
		})
	}
}

// oldEvent is newEvent with encoding/json for every payload.
func oldEvent(typ, sid, uid string, payload any) *outEvent {
	raw, err := marshal(payload)
	if err != nil {
		typ = protocol.TypeError
		raw, _ = marshal(protocol.PayloadOf(err))
	}
	return rawEvent(typ, sid, uid, raw, fuzzNow.UnixMilli())
}

// TestEncodePayloadTaken holds the hot payloads to the hand-written path.
func TestEncodePayloadTaken(t *testing.T) {
	code := "x"
	for _, p := range []any{
		protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &code}, Version: 1},
		protocol.CodeUpdate{Delta: protocol.Delta{Ops: json.RawMessage(`[1,"a b",-1]`)}, Version: 1, OpID: "o", Hash: "h"},
		protocol.CodeAck{Version: 1},
		protocol.CursorUpdate{},
	} {
		if _, ok := appendPayload(nil, p); !ok {
			t.Errorf("appendPayload leaves %#v to encoding/json", p)
		}
	}
}

// TestCollapseKeys: a cursor's collapse key is its user's id, no copy, and
// no valid user id is the presence list's key, whatever its text.
func TestCollapseKeys(t *testing.T) {
	for _, uid := range []string{"alice", "presence", "presence-update", protocol.TypePresenceUpdate, "\u00e9t\u00e9"} {
		if protocol.ValidateUserID(uid) != nil {
			t.Fatalf("%q is not a valid user id", uid)
		}
		if cursorKey(uid) == presenceKey {
			t.Errorf("user %q's cursor key is the presence key", uid)
		}
	}
	if protocol.ValidateUserID(presenceKey) == nil {
		t.Errorf("the presence key %q is a valid user id: a user's cursor moves could replace a presence list", presenceKey)
	}
	uid := strings.Repeat("u", 40)
	if n := testing.AllocsPerRun(100, func() { _ = cursorKey(uid) }); n != 0 {
		t.Errorf("cursorKey allocates %v times", n)
	}
}
