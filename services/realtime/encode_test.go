package realtime

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// FuzzEncodePayload holds newEvent's hand-written payloads (code-update in
// either format, code-ack, cursor-update) to encoding/json: the same
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
		for _, p := range []any{u, protocol.CodeAck{Version: version, OpID: opID, Hash: hash}, cur} {
			got := newEvent("code-update", fuzzSID, opID, p, fuzzNow)
			want := oldEvent("code-update", fuzzSID, opID, p)
			if got.Type != want.Type || !bytes.Equal(got.Body, want.Body) {
				t.Fatalf("newEvent(%#v) = %s %s\nencoding/json: %s %s", p, got.Type, got.Body, want.Type, want.Body)
			}
		}
	})
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
