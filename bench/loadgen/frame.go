package loadgen

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/pairpad/pairpad/shared/protocol"
)

// The generator's per-frame shortcuts: every receipt and every cursor move
// of a run goes through them, so they decode and encode the common frames
// in one pass instead of several. Each gives exactly what the general path
// (ParseServerFrame, decodeEnvelope, encodeEnvelope) gives, and declines
// (ok false) any frame it is not sure of, which then takes the general
// path: what the generator checks and reports stays the same.

// quickEvent decodes a Socket.IO event frame of the form the servers send,
// 42["name",{envelope}], with one json.Unmarshal of the envelope. It
// declines an ack id, whitespace, an empty, escaped or non-ASCII name, an argument
// that is not an object, more than one argument and anything malformed: the
// general path reads (or refuses) those.
func quickEvent(data []byte) (envelope, bool) {
	if len(data) < 8 || data[0] != '4' || data[1] != '2' || data[2] != '[' || data[3] != '"' || data[len(data)-1] != ']' {
		return envelope{}, false
	}
	end := 4
	for ; end < len(data); end++ {
		c := data[end]
		if c == '"' {
			break
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return envelope{}, false
		}
	}
	if end == 4 || end+2 >= len(data) || data[end+1] != ',' || data[end+2] != '{' {
		return envelope{}, false
	}
	var env envelope
	if err := json.Unmarshal(data[end+2:len(data)-1], &env); err != nil {
		return envelope{}, false // one argument too many, or not JSON: the general path decides
	}
	if env.Type == "" && env.Payload == nil {
		return envelope{}, false // a bare object payload
	}
	env.Type = string(data[4:end])
	return env, true
}

// appendCursorFrame appends the frame of a cursor-update to position p in
// session sessionID stamped now (Unix milliseconds): byte for byte what
// encodeEnvelope (and, with socketIO, AppendEvent) writes. ok is false for
// a session id JSON would escape.
func appendCursorFrame(dst []byte, socketIO bool, sessionID string, p protocol.Position, now int64) ([]byte, bool) {
	if !plainJSON(sessionID) {
		return dst, false
	}
	if socketIO {
		dst = append(dst, `42["`+protocol.TypeCursorUpdate+`",`...)
	}
	dst = append(dst, `{"type":"`+protocol.TypeCursorUpdate+`"`...)
	if sessionID != "" {
		dst = append(append(append(dst, `,"sessionId":"`...), sessionID...), '"')
	}
	dst = append(dst, `,"payload":{"position":{"line":`...)
	dst = strconv.AppendInt(dst, int64(p.Line), 10)
	dst = append(dst, `,"column":`...)
	dst = strconv.AppendInt(dst, int64(p.Column), 10)
	dst = append(dst, `}},"timestamp":`...)
	dst = strconv.AppendInt(dst, now, 10)
	dst = append(dst, '}')
	if socketIO {
		dst = append(dst, ']')
	}
	return dst, true
}

// plainJSON reports whether encoding/json writes s between quotes as it is:
// printable ASCII without a quote, a backslash or the HTML characters it
// escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || bytes.IndexByte([]byte(`"\<>&`), c) >= 0 {
			return false
		}
	}
	return true
}

// quickCursor reads the payload of a cursor-update as the generator sends
// it, {"position":{"line":L,"column":C}}, without json.Unmarshal; any other
// form (a selection, whitespace, another order, a number JSON would read
// differently) is declined for the general decoding.
func quickCursor(payload []byte) (protocol.CursorUpdate, bool) {
	rest, ok := bytes.CutPrefix(payload, []byte(`{"position":{"line":`))
	if !ok {
		return protocol.CursorUpdate{}, false
	}
	line, rest, ok := quickInt(rest)
	if !ok {
		return protocol.CursorUpdate{}, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"column":`)); !ok {
		return protocol.CursorUpdate{}, false
	}
	column, rest, ok := quickInt(rest)
	if !ok || string(rest) != "}}" {
		return protocol.CursorUpdate{}, false
	}
	return protocol.CursorUpdate{Position: protocol.Position{Line: line, Column: column}}, true
}

// quickInt reads a non-negative JSON integer of at most nine digits at the
// start of b.
func quickInt(b []byte) (int, []byte, bool) {
	n, i := 0, 0
	for ; i < len(b) && i < 10 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int(b[i]-'0')
	}
	if i == 0 || i > 9 || (i > 1 && b[0] == '0') {
		return 0, nil, false
	}
	return n, b[i:], true
}
