package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// decodeBody reads r's JSON body into dst strictly: a missing body, malformed
// JSON, a body that is not an object, unknown fields, wrong types and data
// after the object are 400 INVALID_REQUEST saying what was wrong; a body over
// protocol.MaxBodyBytes is 413 PAYLOAD_TOO_LARGE.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	return decodeBodyUpTo(w, r, dst, protocol.MaxBodyBytes)
}

// decodeBodyUpTo is decodeBody with a body limit of limit bytes.
func decodeBodyUpTo(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	// The server has no ReadTimeout (WebSocket upgrades share it), so the body
	// gets the request's deadline (see bounded): a client dribbling 64 KiB
	// cannot hold a handler. The deadline is lifted once the whole body is
	// read, so it cannot cut the connection under the rest of the request.
	rc := http.NewResponseController(w)
	deadline := false
	if dl, ok := r.Context().Deadline(); ok {
		deadline = rc.SetReadDeadline(dl) == nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.As(err, &ne) && ne.Timeout():
		// The deadline stays and the connection closes after the answer:
		// net/http would otherwise wait, with no deadline, for the rest of
		// the body before answering.
		w.Header().Set("Connection", "close")
		return protocol.Wrap(protocol.CodeInvalidRequest, "The request body did not arrive in time", err)
	case deadline:
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		return protocol.Wrap(protocol.CodeInvalidRequest, "The request body could not be read", err)
	}
	return decodeStrict(data, dst)
}

func tooLarge(limit int64) error {
	return protocol.Errorf(protocol.CodePayloadTooLarge, "The request body exceeds %d bytes", limit)
}

// decodeStrict is decodeBody's rules for bytes already read (micro requests too).
func decodeStrict(data []byte, dst any) error {
	// JSON whitespace only: bytes.TrimSpace would also drop Unicode spaces
	// (U+00A0, U+0085), which are not JSON.
	trimmed := bytes.Trim(data, jsonSpace)
	if len(trimmed) == 0 {
		return invalid("A JSON request body is required", nil)
	}
	if trimmed[0] != '{' {
		return invalid("The request body must be a JSON object", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("Unexpected data after the JSON object", nil)
	}
	return exactKeys(trimmed, dst)
}

// jsonSpace is the whitespace JSON allows around values.
const jsonSpace = " \t\r\n"

// exactKeys refuses a key that matches a field only when case is ignored:
// encoding/json would read {"LANGUAGE": ...} as language, but the protocol
// (and openapi.yaml) names fields exactly. It also refuses a repeated key
// and a string encoding/json would rewrite (invalid UTF-8, a lone surrogate
// escape: "u\ud800" and "u\udc00" would be one userId). data is a valid JSON object and
// dst a pointer to a flat struct, as every request body is.
func exactKeys(data []byte, dst any) error {
	names := map[string]bool{}
	if t := reflect.TypeOf(dst); t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		for f := range t.Elem().Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names[name] = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return decodeError(err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return decodeError(err)
		}
		key, _ := tok.(string)
		if !names[key] {
			return invalid(fmt.Sprintf("Unknown field %q", protocol.Truncate(key, 100)), map[string]any{protocol.Truncate(key, 100): "unknown field"})
		}
		if seen[key] {
			// encoding/json would keep the last value: which one the
			// client meant is not ours to guess.
			return invalid(fmt.Sprintf("Field %q appears more than once", key), map[string]any{key: "duplicate field"})
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return decodeError(err)
		}
		if len(value) > 0 && value[0] == '"' {
			if _, err := protocol.DecodeString(value); err != nil {
				return invalid(fmt.Sprintf("Field %q: %v", key, err), map[string]any{key: err.Error()})
			}
		}
	}
	return nil
}

// decodeError turns an encoding/json error into what the client did wrong.
func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return invalid(fmt.Sprintf("Malformed JSON at byte %d: %s", syn.Offset, syn.Error()), nil)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("Malformed JSON: the body ends too early", nil)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		why := fmt.Sprintf("must be a %s, not a %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		return invalid(fmt.Sprintf("Field %q has the wrong type: it %s", field, why), map[string]any{field: why})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		field = protocol.Truncate(field, 100) // the client's text: echo a bounded amount
		return invalid(fmt.Sprintf("Unknown field %q", field), map[string]any{field: "unknown field"})
	}
	return invalid("Malformed JSON: "+err.Error(), nil)
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "number"
	case k == "struct", k == "map":
		return "object"
	case k == "slice", k == "array":
		return "array"
	case k == "bool":
		return "boolean"
	}
	return k
}

// invalid is a 400 INVALID_REQUEST with field errors in details.
func invalid(msg string, details map[string]any) error {
	e := protocol.Errorf(protocol.CodeInvalidRequest, "%s", msg)
	if len(details) > 0 {
		e = e.WithDetails(details)
	}
	return e
}

// intParam reads the integer query parameter name: def when absent, 400 when
// it is not an integer in lo..hi.
func intParam(q url.Values, name string, def, lo, hi int64) (int64, error) {
	if _, ok := q[name]; !ok {
		return def, nil
	}
	v := q.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		why := fmt.Sprintf("must be an integer from %d to %d", lo, hi)
		if hi == maxInt {
			why = fmt.Sprintf("must be an integer of at least %d", lo)
		}
		return 0, invalid(fmt.Sprintf("Query parameter %q %s, got %q", name, why, protocol.Truncate(v, 40)), map[string]any{name: why})
	}
	return n, nil
}

// maxInt is the open upper bound of intParam.
const maxInt = int64(^uint64(0) >> 1)
