package realtime

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/services/realtime/internal/wsconn"
	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// benchCode is a 2 KiB program, the fullCode of the interview load's
// updates: tabs, newlines, quotes and the < > & that encoding/json escapes.
var benchCode = func() string {
	const unit = "func f(a []int) bool {\n\tif len(a) < 2 && a[0] > 1 {\n\t\treturn \"x\" == `y`\n\t}\n\treturn false\n}\n"
	return strings.Repeat(unit, 2048/len(unit)+1)[:2048]
}()

// benchFrames are client frames as the load generator and the JS client
// send them: the envelope (type, sessionId, payload, timestamp) encoded by
// encoding/json, alone (plain) or as the argument of a Socket.IO event.
func benchFrames(tb testing.TB) []struct {
	name  string
	fr    wsconn.Framing
	frame []byte
} {
	full := benchCode
	payloads := []struct {
		typ     string
		payload any
	}{
		{"cursor", protocol.CursorUpdate{Position: protocol.Position{Line: 12, Column: 30},
			Selection: &protocol.Selection{Start: protocol.Position{Line: 12, Column: 4}, End: protocol.Position{Line: 12, Column: 30}}}},
		{"code", protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &full}, Version: 41, OpID: "u2-1705315800000-17"}},
		{"ops", protocol.CodeUpdate{Delta: protocol.Delta{Ops: json.RawMessage(`[1480,"x",-1,567]`)}, Version: 41, OpID: "u2-1705315800000-17"}},
	}
	types := map[string]string{"cursor": protocol.TypeCursorUpdate, "code": protocol.TypeCodeUpdate, "ops": protocol.TypeCodeUpdate}
	var out []struct {
		name  string
		fr    wsconn.Framing
		frame []byte
	}
	for _, p := range payloads {
		env, err := protocol.NewEnvelope(types[p.typ], fuzzSID, "", p.payload, fuzzNow)
		if err != nil {
			tb.Fatal(err)
		}
		body, err := json.Marshal(env)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out,
			struct {
				name  string
				fr    wsconn.Framing
				frame []byte
			}{"socketio/" + p.typ, wsconn.SocketIO{}, sio.EncodeEvent(sio.MainNamespace, types[p.typ], body)},
			struct {
				name  string
				fr    wsconn.Framing
				frame []byte
			}{"plain/" + p.typ, wsconn.Plain{}, body})
	}
	return out
}

// BenchmarkDecodeFrame is the reader's decoding of one client frame, from
// the bytes to the validated event: the inbound hot path.
func BenchmarkDecodeFrame(b *testing.B) {
	for _, f := range benchFrames(b) {
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(int64(len(f.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeFrame(f.fr, websocket.TextMessage, f.frame, fuzzSID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeEvent is the outbound encoding of the events every
// update fans out: a code-update in each format, its code-ack and a
// cursor-update, each framed for Socket.IO as a broadcast does once.
func BenchmarkEncodeEvent(b *testing.B) {
	ops := ot.Op{ot.Retain(1480), ot.Insert("x"), ot.Delete(1), ot.Retain(567)}
	a := document.Applied{Version: 42, OpID: "u2-1705315800000-17", UserID: "u2", Code: benchCode, Ops: ops,
		Hash: "sha256:" + strings.Repeat("ab", 32), Timestamp: fuzzNow.UnixMilli()}
	cur := protocol.CursorUpdate{Position: protocol.Position{Line: 12, Column: 30},
		Selection: &protocol.Selection{Start: protocol.Position{Line: 12, Column: 4}, End: protocol.Position{Line: 12, Column: 30}}}
	cases := []struct {
		name string
		ev   func() *outEvent
	}{
		{"code-update/fullCode", func() *outEvent { return updateEvent(protocol.TypeCodeUpdate, fuzzSID, a, formatFullCode) }},
		{"code-update/ops", func() *outEvent { return updateEvent(protocol.TypeCodeUpdate, fuzzSID, a, formatOps) }},
		{"code-ack", func() *outEvent {
			return ackEvent(protocol.TypeCodeAck, fuzzSID, "u2", a.Version, a.OpID, a.Hash, fuzzNow)
		}},
		{"cursor-update", func() *outEvent { return newEvent(protocol.TypeCursorUpdate, fuzzSID, "u2", cur, fuzzNow) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.ev().Frame(wsconn.SocketIO{})
			}
		})
	}
}
