package protocol

import (
	"bytes"
	"encoding/json"

	"github.com/pairpad/pairpad/shared/jsonwire"
)

// The fast path of the decoders a realtime connection runs on every frame:
// one pass of a jsonwire.Reader over the shapes clients send, instead of
// encoding/json's validation and reflection (and, for fullCode, a second
// and third pass to check it is kept as sent). Each answers false for
// anything it does not take (any refusal, a null, a repeated key, a key
// that differs from a field's name only in case, a string decoding would
// rewrite): the encoding/json decoder then decides, with its messages, so
// a refusal is the same whichever path saw the frame. What a fast path
// accepts it decodes exactly as the encoding/json path does
// (FuzzFastPath).

// fastEnvelope is DecodeEnvelope's fast path. The payload aliases raw.
func fastEnvelope(raw []byte) (Envelope, bool) {
	r := jsonwire.NewReader(raw)
	var env Envelope
	var seen jsonwire.Seen
	ok := r.Object(func(key []byte) bool {
		switch string(key) {
		case "type":
			typ, ok := r.Name()
			env.Type = EventType(typ)
			return seen.First(1) && ok && len(typ) > 0
		case "sessionId":
			sid, ok := r.Name()
			env.SessionID = string(sid)
			return seen.First(2) && ok
		case "payload":
			p, ok := r.Value()
			if string(p) != "null" {
				env.Payload = p
			}
			return seen.First(4) && ok
		}
		return skipOther(&r, key, "type", "sessionId", "payload")
	})
	return env, ok && seen&1 != 0 && r.End()
}

// fastCodeUpdate is DecodeCodeUpdate's fast path.
func fastCodeUpdate(raw []byte) (CodeUpdate, bool) {
	r := jsonwire.NewReader(raw)
	var u CodeUpdate
	var seen, delta jsonwire.Seen
	ok := r.Object(func(key []byte) bool {
		switch string(key) {
		case "delta":
			return seen.First(1) && r.Object(func(key []byte) bool {
				switch string(key) {
				case "fullCode":
					s, ok := r.String()
					u.Delta.FullCode = &s
					return delta.First(1) && ok && len(s) <= MaxDocumentBytes
				case "ops":
					ops, ok := r.Value()
					if !delta.First(2) || !ok || ops[0] != '[' {
						return false
					}
					u.Delta.Ops = compact(ops)
					return true
				}
				return skipOther(&r, key, "fullCode", "ops")
			})
		case "version":
			n, ok := r.Int()
			u.Version = n
			return seen.First(2) && ok && n >= 0
		case "opId":
			id, ok := r.String()
			u.OpID = id
			return seen.First(4) && ok && ValidateOpID(id) == nil
		}
		return skipOther(&r, key, "delta", "version", "opId")
	})
	return u, ok && seen&3 == 3 && (delta == 1 || delta == 2) && r.End()
}

// compact is json.Compact of a valid value, without its work when there
// is no space to remove.
func compact(v []byte) []byte {
	if !bytes.ContainsAny(v, " \t\r\n") {
		return bytes.Clone(v)
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, v) // v is valid: the Reader checked it
	return buf.Bytes()
}

// fastCursorUpdate is DecodeCursorUpdate's fast path.
func fastCursorUpdate(raw []byte) (CursorUpdate, bool) {
	r := jsonwire.NewReader(raw)
	var u CursorUpdate
	var seen jsonwire.Seen
	ok := r.Object(func(key []byte) bool {
		switch string(key) {
		case "position":
			return seen.First(1) && fastPosition(&r, &u.Position)
		case "selection":
			if !seen.First(2) {
				return false
			}
			var sel Selection
			var ends jsonwire.Seen
			u.Selection = &sel
			return r.Object(func(key []byte) bool {
				switch string(key) {
				case "start":
					return ends.First(1) && fastPosition(&r, &sel.Start)
				case "end":
					return ends.First(2) && fastPosition(&r, &sel.End)
				}
				return skipOther(&r, key, "start", "end")
			}) && ends == 3
		}
		return skipOther(&r, key, "position", "selection")
	})
	return u, ok && seen&1 != 0 && r.End()
}

// fastPosition reads {line, column}, both required, each from 0 to
// MaxCursorValue.
func fastPosition(r *jsonwire.Reader, p *Position) bool {
	var seen jsonwire.Seen
	return r.Object(func(key []byte) bool {
		var n int64
		var ok bool
		switch string(key) {
		case "line":
			n, ok = r.Int()
			p.Line = int(n)
			ok = ok && seen.First(1)
		case "column":
			n, ok = r.Int()
			p.Column = int(n)
			ok = ok && seen.First(2)
		default:
			return skipOther(r, key, "line", "column")
		}
		return ok && n >= 0 && n <= MaxCursorValue
	}) && seen == 3
}

// skipOther reads the value of a key that is none of names, which
// encoding/json ignores; false for a key it would match to one of them.
func skipOther(r *jsonwire.Reader, key []byte, names ...string) bool {
	if jsonwire.FoldsTo(key, names...) {
		return false
	}
	_, ok := r.Value()
	return ok
}
