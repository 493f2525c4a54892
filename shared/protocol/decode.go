package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pairpad/pairpad/shared/jsonstr"
)

// Decoding of what WebSocket clients send. Each function takes untrusted
// bytes and returns either a value that satisfies the protocol or an *Error
// with INVALID_PAYLOAD (INVALID_LANGUAGE, DOCUMENT_TOO_LARGE where the
// protocol names those) whose message says what was wrong; details name the
// offending field. They never panic, whatever the input.
//
// Unknown fields are tolerated, on the envelope and in payloads: the
// protocol fixes the fields the server reads, not the ones a newer client
// may add, and refusing them would break such a client for nothing. A null
// field is treated as an absent one. Every other departure from the shape
// is refused: a wrong type, a missing required field, a fraction or an
// exponent where an integer is required, data after the value. Keys match
// case-insensitively, as encoding/json matches them everywhere else.

// MaxCursorValue bounds a cursor's line and column: far beyond any document
// the protocol allows, and exact in every client's number type.
const MaxCursorValue = math.MaxInt32

// DecodeEnvelope parses one client frame: a JSON object whose type is a
// non-empty string. sessionId, when present, must be a string. The client's
// userId and timestamp are not read: the server stamps both. A null payload
// is returned as an absent one. The payload may alias raw.
func DecodeEnvelope(raw []byte) (Envelope, error) {
	if env, ok := fastEnvelope(raw); ok {
		return env, nil
	}
	return decodeEnvelopeJSON(raw)
}

// decodeEnvelopeJSON is DecodeEnvelope with encoding/json: every refusal,
// and what the fast path leaves to it.
func decodeEnvelopeJSON(raw []byte) (Envelope, error) {
	// Plain strings, not pointers: a repeated key whose last value is null
	// then keeps the earlier value, as encoding/json reads an Envelope.
	var e struct {
		Type      string          `json:"type"`
		SessionID string          `json:"sessionId"`
		Payload   json.RawMessage `json:"payload"`
	}
	if err := decodeObject(raw, &e, "the frame", ""); err != nil {
		return Envelope{}, err
	}
	if e.Type == "" {
		return Envelope{}, fieldError("type", "must be a non-empty string")
	}
	env := Envelope{Type: e.Type, SessionID: e.SessionID, Payload: e.Payload}
	if isNull(env.Payload) {
		env.Payload = nil
	}
	return env, nil
}

// DecodeCodeUpdate parses a code-update payload: {delta, version, opId?}.
// delta has exactly one of fullCode (a string of at most MaxDocumentBytes,
// else DOCUMENT_TOO_LARGE) and ops (a JSON array, returned compacted; its
// items are the document engine's to check, with ot.Decode); version is an
// integer >= 0; opId, when present, a string of at most MaxOpIDLen
// characters. opId and fullCode are kept exactly as sent: one that
// encoding/json would rewrite to U+FFFD (invalid UTF-8, a lone surrogate
// escape) is refused, with details naming the field and why (DecodeString).
func DecodeCodeUpdate(raw json.RawMessage) (CodeUpdate, error) {
	if u, ok := fastCodeUpdate(raw); ok {
		return u, nil
	}
	return decodeCodeUpdateJSON(raw)
}

// decodeCodeUpdateJSON is DecodeCodeUpdate with encoding/json.
func decodeCodeUpdateJSON(raw json.RawMessage) (CodeUpdate, error) {
	var p struct {
		Delta *struct {
			FullCode json.RawMessage `json:"fullCode"` // raw: checked for what decoding would rewrite
			Ops      json.RawMessage `json:"ops"`
		} `json:"delta"`
		Version *int64      `json:"version"` // a pointer: a missing version is refused, not read as 0
		OpID    exactString `json:"opId"`
	}
	p.OpID.field = "opId"
	const shape = "{delta: {fullCode} or {ops}, version, opId?}"
	if err := decodeObject(raw, &p, "the code-update payload", shape); err != nil {
		return CodeUpdate{}, err
	}
	var u CodeUpdate
	switch {
	case p.Delta == nil:
		return CodeUpdate{}, fieldError("delta", "is required: "+shape)
	case p.Version == nil:
		return CodeUpdate{}, fieldError("version", "is required: the document version the update is based on")
	case *p.Version < 0:
		return CodeUpdate{}, fieldError("version", "must be an integer of at least 0")
	}
	u.Version = *p.Version
	if err := ValidateOpID(p.OpID.s); err != nil {
		return CodeUpdate{}, fieldError("opId", fmt.Sprintf("must be at most %d characters", MaxOpIDLen))
	}
	u.OpID = p.OpID.s
	hasFull, hasOps := !isNull(p.Delta.FullCode), !isNull(p.Delta.Ops)
	switch {
	case hasFull && hasOps:
		return CodeUpdate{}, fieldError("delta", "must have exactly one of fullCode and ops, not both")
	case !hasFull && !hasOps:
		return CodeUpdate{}, fieldError("delta", "must have fullCode (a string) or ops (an array)")
	case hasFull:
		full, err := decodeFullCode(p.Delta.FullCode)
		if err != nil {
			return CodeUpdate{}, err
		}
		u.Delta.FullCode = &full
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, p.Delta.Ops); err != nil || buf.Bytes()[0] != '[' {
			return CodeUpdate{}, fieldError("delta.ops", "must be an array of retains (n > 0), inserts (strings) and deletes (n < 0)")
		}
		u.Delta.Ops = buf.Bytes()
	}
	return u, nil
}

// decodeFullCode reads a fullCode: a string of at most MaxDocumentBytes
// (DOCUMENT_TOO_LARGE, before anything else about its text), kept exactly
// as sent.
func decodeFullCode(raw json.RawMessage) (string, error) {
	const field = "delta.fullCode"
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fieldError(field, "has the wrong type: it must be a string")
	}
	if len(s) > MaxDocumentBytes {
		return "", Errorf(CodeDocumentTooLarge, "fullCode is %d bytes; the document is at most %d bytes",
			len(s), MaxDocumentBytes).WithDetails(map[string]any{field: "too large"})
	}
	var re *jsonstr.RewriteError
	if errors.As(jsonstr.Check(raw), &re) {
		return "", fieldError(field, "must be the text as sent: "+re.Reason())
	}
	return s, nil
}

// DecodeCursorUpdate parses a cursor-update payload: {position: {line,
// column}, selection?: {start, end}}; every position needs both line and
// column, each an integer from 0 to MaxCursorValue.
func DecodeCursorUpdate(raw json.RawMessage) (CursorUpdate, error) {
	if u, ok := fastCursorUpdate(raw); ok {
		return u, nil
	}
	return decodeCursorUpdateJSON(raw)
}

// decodeCursorUpdateJSON is DecodeCursorUpdate with encoding/json.
func decodeCursorUpdateJSON(raw json.RawMessage) (CursorUpdate, error) {
	var p struct {
		Position  *wirePosition `json:"position"`
		Selection *struct {
			Start *wirePosition `json:"start"`
			End   *wirePosition `json:"end"`
		} `json:"selection"`
	}
	const shape = "{position: {line, column}, selection?: {start: {line, column}, end: {line, column}}}"
	if err := decodeObject(raw, &p, "the cursor-update payload", shape); err != nil {
		return CursorUpdate{}, err
	}
	pos, err := p.Position.check("position")
	if err != nil {
		return CursorUpdate{}, err
	}
	u := CursorUpdate{Position: pos}
	if p.Selection != nil {
		start, err := p.Selection.Start.check("selection.start")
		if err != nil {
			return CursorUpdate{}, err
		}
		end, err := p.Selection.End.check("selection.end")
		if err != nil {
			return CursorUpdate{}, err
		}
		u.Selection = &Selection{Start: start, End: end}
	}
	return u, nil
}

// wirePosition tells a missing line or column from a zero one.
type wirePosition struct {
	Line   *int64 `json:"line"`
	Column *int64 `json:"column"`
}

func (w *wirePosition) check(field string) (Position, error) {
	const why = "must be {line, column} with integers from 0 to %d"
	if w == nil || w.Line == nil || w.Column == nil {
		return Position{}, fieldError(field, fmt.Sprintf(why, MaxCursorValue))
	}
	for _, n := range []int64{*w.Line, *w.Column} {
		if n < 0 || n > MaxCursorValue {
			return Position{}, fieldError(field, fmt.Sprintf(why, MaxCursorValue))
		}
	}
	return Position{Line: int(*w.Line), Column: int(*w.Column)}, nil
}

// DecodeLanguage parses a language-changed payload: one of the protocol's
// languages as a JSON string, or, for clients that wrap it, {language}.
// Anything else is INVALID_LANGUAGE.
func DecodeLanguage(raw json.RawMessage) (Language, error) {
	var l Language
	if err := json.Unmarshal(raw, &l); err != nil {
		var obj struct {
			Language *Language `json:"language"`
		}
		if json.Unmarshal(raw, &obj) != nil || obj.Language == nil {
			return "", languageError(Truncate(string(raw), 40))
		}
		l = *obj.Language
	}
	if !l.Valid() {
		return "", languageError(strconv.Quote(string(l)))
	}
	return l, nil
}

func languageError(got string) error {
	names := make([]string, len(Languages))
	for i, l := range Languages {
		names[i] = string(l)
	}
	why := "must be one of " + strings.Join(names, ", ")
	return Errorf(CodeInvalidLanguage, "The language %s, got %s", why, got).
		WithDetails(map[string]any{"language": why})
}

// decodeObject unmarshals raw, which must be one JSON object, into dst; what
// names the value in messages and shape describes it.
func decodeObject(raw []byte, dst any, what, shape string) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		msg := what + " must be a JSON object"
		if shape != "" {
			msg += ": " + shape
		}
		return Errorf(CodeInvalidPayload, "%s", capitalize(msg))
	}
	err := json.Unmarshal(trimmed, dst)
	var typ *json.UnmarshalTypeError
	var field *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &field):
		return field // an exactString's refusal
	case errors.As(err, &typ) && typ.Field != "":
		return fieldError(typ.Field, "has the wrong type: a JSON "+typ.Value+" is not allowed here")
	}
	return Wrap(CodeInvalidPayload, capitalize(what+" is not valid JSON: "+Truncate(err.Error(), 200)), err)
}

// exactString is a string field read with DecodeString, so it is never
// rewritten; null keeps the earlier value, as encoding/json does for a
// plain string with a repeated key.
type exactString struct {
	field string // for the refusal
	s     string
}

// UnmarshalJSON implements json.Unmarshaler.
func (e *exactString) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		return nil
	}
	s, err := DecodeString(raw)
	switch {
	case errors.Is(err, ErrNotString):
		return fieldError(e.field, "has the wrong type: it must be a string")
	case err != nil:
		return fieldError(e.field, err.Error())
	}
	e.s = s
	return nil
}

// fieldError is an INVALID_PAYLOAD about one field.
func fieldError(field, why string) *Error {
	return Errorf(CodeInvalidPayload, "Field %q %s", field, why).WithDetails(map[string]any{field: why})
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
