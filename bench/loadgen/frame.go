package loadgen

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

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
	if name := eventName(data[4:end]); name != env.Type {
		if env.decoded {
			return envelope{}, false // read ahead as another type than its name's
		}
		env.Type = name
	}
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
	if !ok {
		return envelope{}, false
	}
	// A code-update's or code-ack's payload in the servers' form is read
	// here, which also proves it valid JSON; any other is checked with
	// json.Valid and left to its handler.
	switch env.Type {
	case protocol.TypeCodeUpdate:
		env.code, env.decoded = quickCodeUpdate(payload)
	case protocol.TypeCodeAck:
		var a protocol.CodeAck
		if a, env.decoded = quickCodeAck(payload); env.decoded {
			env.code = protocol.CodeUpdate{Version: a.Version, OpID: a.OpID, Hash: a.Hash}
		}
	}
	if !env.decoded && (len(payload) == 0 || !json.Valid(payload) || string(payload) == "null" ||
		isSpace(payload[0]) || isSpace(payload[len(payload)-1])) {
		return envelope{}, false
	}
	if !env.decoded { // a payload read ahead is not kept: its handler reads code
		env.Payload = bytes.Clone(payload)
	}
	return env, true
}

// quickCodeUpdate reads the payload of a fullCode code-update as the
// servers write it (encoding/json's form of protocol.CodeUpdate):
// {"delta":{"fullCode":"<text>"},"version":N}, then "opId" and "hash" when
// present. It declines any other form (ops, whitespace, another order, a
// \u escape or a byte outside printable ASCII in the text, a negative or
// long version) for json.Unmarshal.
func quickCodeUpdate(payload []byte) (protocol.CodeUpdate, bool) {
	rest, ok := bytes.CutPrefix(payload, []byte(`{"delta":{"fullCode":`))
	if !ok {
		return protocol.CodeUpdate{}, false
	}
	text, rest, ok := quickText(rest)
	if !ok {
		return protocol.CodeUpdate{}, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`},`)); !ok {
		return protocol.CodeUpdate{}, false
	}
	a, ok := quickAckFields(rest)
	if !ok {
		return protocol.CodeUpdate{}, false
	}
	return protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &text}, Version: a.Version, OpID: a.OpID, Hash: a.Hash}, true
}

// quickCodeAck reads the payload of a code-ack as the servers write it:
// {"version":N}, then "opId" and "hash" when present; any other form is
// declined for json.Unmarshal.
func quickCodeAck(payload []byte) (protocol.CodeAck, bool) {
	if len(payload) == 0 || payload[0] != '{' {
		return protocol.CodeAck{}, false
	}
	return quickAckFields(payload[1:])
}

// quickAckFields reads "version":N[,"opId":"..."][,"hash":"..."]} after an
// object's opening (or a comma).
func quickAckFields(b []byte) (protocol.CodeAck, bool) {
	var a protocol.CodeAck
	rest, ok := bytes.CutPrefix(b, []byte(`"version":`))
	if !ok {
		return protocol.CodeAck{}, false
	}
	if a.Version, rest, ok = quickInt64(rest); !ok {
		return protocol.CodeAck{}, false
	}
	if r, ok := bytes.CutPrefix(rest, []byte(`,"opId":`)); ok {
		var v []byte
		if v, rest, ok = quickString(r); !ok {
			return protocol.CodeAck{}, false
		}
		a.OpID = string(v)
	}
	if r, ok := bytes.CutPrefix(rest, []byte(`,"hash":`)); ok {
		var v []byte
		if v, rest, ok = quickString(r); !ok {
			return protocol.CodeAck{}, false
		}
		a.Hash = string(v)
	}
	if string(rest) != "}" {
		return protocol.CodeAck{}, false
	}
	return a, true
}

// quickInt64 reads a non-negative JSON integer of at most 18 digits at the
// start of b.
func quickInt64(b []byte) (int64, []byte, bool) {
	var n int64
	i := 0
	for ; i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	if i == 0 || i > 18 || (i > 1 && b[0] == '0') {
		return 0, nil, false
	}
	return n, b[i:], true
}

// quickText reads a JSON string of printable ASCII at the start of b,
// unescaping \n, \r, \t, \b, \f, \/, \" and \\; it declines a \u escape,
// a control character and any byte outside ASCII (json.Unmarshal's
// handling of those is left to it).
func quickText(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	// One pass to find the end and the unescaped length, one to copy.
	n, end := 0, -1
	for i := 1; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			end = i
			break
		}
		if c < 0x20 || c >= 0x80 {
			return "", nil, false
		}
		if c == '\\' {
			if i+1 >= len(b) || unescape(b[i+1]) == 0 {
				return "", nil, false
			}
			i++
		}
		n++
	}
	if end < 0 {
		return "", nil, false
	}
	if n == end-1 {
		return string(b[1:end]), b[end+1:], true // no escapes
	}
	var out strings.Builder
	out.Grow(n)
	for i := 1; i < end; i++ {
		c := b[i]
		if c == '\\' {
			i++
			c = unescape(b[i])
		}
		out.WriteByte(c)
	}
	return out.String(), b[end+1:], true
}

// unescape is the byte a JSON escape \c stands for; 0 for \u and
// anything that is not an escape.
func unescape(c byte) byte {
	switch c {
	case '"', '\\', '/':
		return c
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	}
	return 0
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

// appendCodeFrame appends the frame of a fullCode code-update upd (no ops,
// no hash: what a client sends) in session sessionID stamped now (Unix
// milliseconds): byte for byte what encodeEnvelope (and, with socketIO,
// AppendEvent) writes. ok is false for a session id, text or opId that
// JSON would escape otherwise than appendText does.
func appendCodeFrame(dst []byte, socketIO bool, sessionID string, upd protocol.CodeUpdate, now int64) ([]byte, bool) {
	if upd.Delta.FullCode == nil || upd.Delta.Ops != nil || upd.Hash != "" || !plainJSON(sessionID) || !plainJSON(upd.OpID) {
		return dst, false
	}
	start := len(dst)
	if socketIO {
		dst = append(dst, `42["`+protocol.TypeCodeUpdate+`",`...)
	}
	dst = append(dst, `{"type":"`+protocol.TypeCodeUpdate+`"`...)
	if sessionID != "" {
		dst = append(append(append(dst, `,"sessionId":"`...), sessionID...), '"')
	}
	dst = append(dst, `,"payload":{"delta":{"fullCode":`...)
	var ok bool
	if dst, ok = appendText(dst, *upd.Delta.FullCode); !ok {
		return dst[:start], false
	}
	dst = append(dst, `},"version":`...)
	dst = strconv.AppendInt(dst, upd.Version, 10)
	if upd.OpID != "" {
		dst = append(append(append(dst, `,"opId":"`...), upd.OpID...), '"')
	}
	dst = append(dst, `},"timestamp":`...)
	dst = strconv.AppendInt(dst, now, 10)
	dst = append(dst, '}')
	if socketIO {
		dst = append(dst, ']')
	}
	return dst, true
}

// appendText appends s as encoding/json writes it, a quoted string, when
// it is printable ASCII and newlines, carriage returns, tabs, quotes and
// backslashes (escaped as encoding/json escapes them); ok is false, with
// dst cut back, for anything else (another control character, an HTML
// character, a byte outside ASCII).
func appendText(dst []byte, s string) ([]byte, bool) {
	start := len(dst)
	dst = append(dst, '"')
	plain := 0 // s[plain:i] is still to be copied as it is
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		var esc byte
		switch c {
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		case '\t':
			esc = 't'
		case '"', '\\':
			esc = c
		default:
			return dst[:start], false
		}
		dst = append(append(dst, s[plain:i]...), '\\', esc)
		plain = i + 1
	}
	return append(append(dst, s[plain:]...), '"'), true
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
