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
// (ParseServerFrame, decodeEnvelope, encodeEnvelope, json.Unmarshal) gives,
// and declines (ok false) any frame it is not sure of, which then takes the
// general path: what the generator checks and reports stays the same.
// FuzzQuickEvent, FuzzQuickEnvelope and FuzzQuickCursor hold them to it.

// quickEvent decodes a Socket.IO event frame of the form the servers send,
// 42["name",{envelope}]: the envelope with quickEnvelope, or one
// json.Unmarshal when it is in another form. It declines an ack id,
// whitespace, an empty, escaped or non-ASCII name, an argument that is not
// an object, more than one argument and anything malformed: the general
// path reads (or refuses) those.
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
	arg := data[end+2 : len(data)-1]
	env, ok := quickEnvelope(arg)
	if !ok {
		if err := json.Unmarshal(arg, &env); err != nil {
			return envelope{}, false // one argument too many, or not JSON: the general path decides
		}
	}
	if env.Type == "" && env.Payload == nil {
		return envelope{}, false // a bare object payload
	}
	env.Type = eventName(data[4:end])
	return env, true
}

// quickEnvelope reads an envelope as the servers write it (encoding/json's
// order and form: type, then sessionId, userId and payload when present,
// then timestamp; no whitespace, no escapes in the strings) without
// json.Unmarshal, checking the payload with json.Valid; any other form is
// declined.
func quickEnvelope(b []byte) (envelope, bool) {
	var env envelope
	rest, ok := bytes.CutPrefix(b, []byte(`{"type":`))
	if !ok {
		return envelope{}, false
	}
	var typ []byte
	if typ, rest, ok = quickString(rest); !ok {
		return envelope{}, false
	}
	env.Type = eventName(typ)
	if r, ok := bytes.CutPrefix(rest, []byte(`,"sessionId":`)); ok {
		var v []byte
		if v, rest, ok = quickString(r); !ok {
			return envelope{}, false
		}
		env.SessionID = string(v)
	}
	if r, ok := bytes.CutPrefix(rest, []byte(`,"userId":`)); ok {
		var v []byte
		if v, rest, ok = quickString(r); !ok {
			return envelope{}, false
		}
		env.UserID = string(v)
	}
	// The timestamp closes the envelope: its last key, an integer.
	at := bytes.LastIndex(rest, []byte(`,"timestamp":`))
	if at < 0 || rest[len(rest)-1] != '}' {
		return envelope{}, false
	}
	digits := rest[at+len(`,"timestamp":`) : len(rest)-1]
	if len(digits) == 0 || !allDigits(digits) || (len(digits) > 1 && digits[0] == '0') {
		return envelope{}, false
	}
	if rest = rest[:at]; len(rest) == 0 {
		return env, true
	}
	payload, ok := bytes.CutPrefix(rest, []byte(`,"payload":`))
	if !ok || len(payload) == 0 || !json.Valid(payload) || string(payload) == "null" ||
		isSpace(payload[0]) || isSpace(payload[len(payload)-1]) {
		return envelope{}, false
	}
	env.Payload = bytes.Clone(payload)
	return env, true
}

// quickString reads a JSON string without escapes or non-ASCII bytes at
// the start of b.
func quickString(b []byte) ([]byte, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[1:i], b[i+1:], true
		case c < 0x20 || c >= 0x80 || c == '\\':
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// eventName returns name as a string, without allocating for the event
// types the generator receives most.
func eventName(name []byte) string {
	switch string(name) {
	case protocol.TypeCursorUpdate:
		return protocol.TypeCursorUpdate
	case protocol.TypeCodeUpdate:
		return protocol.TypeCodeUpdate
	case protocol.TypeCodeAck:
		return protocol.TypeCodeAck
	case protocol.TypePresenceUpdate:
		return protocol.TypePresenceUpdate
	}
	return string(name)
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

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
