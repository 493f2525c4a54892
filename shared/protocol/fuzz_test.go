package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pairpad/pairpad/shared/protocol"
)

// FuzzEnvelope feeds client frames, as a realtime connection receives them,
// to encoding/json and to the strict decoders: a frame and each client
// payload type. Whatever decodes must satisfy the protocol and survive a
// re-encode unchanged; whatever is refused must be refused with the
// protocol's error code.
func FuzzEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"type":"code-update","sessionId":"0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11","payload":{"delta":{"ops":[3,"x",-1]},"version":4,"opId":"a1"},"timestamp":1705315800000}`,
		`{"type":"cursor-update","payload":{"position":{"line":0,"column":5},"selection":{"start":{"line":0,"column":1},"end":{"line":2,"column":0}}}}`,
		`{"type":"language-changed","payload":"python"}`,
		`{"type":"sync"}`,
		`{"runId":"r1","language":"python","stdout":"4\n","stderr":"","exitCode":0,"durationMs":12}`,
		`{"runId":"","language":"go","stdout":"","stderr":"x","exitCode":1.5,"durationMs":-1}`,
		`{"delta":{"fullCode":"print(1)\n😀"},"version":0}`,
		`{"position":{"line":1,"column":2}}`,
		`"typescript"`,
		`{"language":"javascript"}`,
		`{"type":"","payload":null}`,
		`{"delta":{"fullCode":"a","ops":[1]},"version":1}`,
		`{"delta":{"ops":[1]},"version":1.5}`,
		`{"position":{"line":-1,"column":0}}`,
		`[1,2]`,
		`{"type":"x"} trailing`,
		`{"delta":{"fullCode":"a"},"version":0,"opId":"k\ud800"}`,
		`{"delta":{"fullCode":"a"},"version":0,"opId":"k\udc00"}`,
		`{"delta":{"fullCode":"a"},"version":0,"opId":"k\ud83d\ude00"}`,
		`{"delta":{"fullCode":"a"},"version":0,"opId":"k\\ud800"}`,
		`{"delta":{"fullCode":"a"},"version":0,"opId":"k\ufffd","opId":null}`,
		"{\"delta\":{\"fullCode\":\"a\"},\"version\":0,\"opId\":\"k\xff\"}",
		`{"delta":{"fullCode":"a\ud800"},"version":0}`,
		`{"delta":{"fullCode":"\udc00\ud83d\ude00"},"version":0}`,
		`{"delta":{"fullCode":"\ud83d\ude00\ufffd"},"version":0}`,
		"{\"delta\":{\"fullCode\":\"a\xff\"},\"version\":0}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkFrame(t, raw)
		checkPayloads(t, raw)
		if env, err := protocol.DecodeEnvelope(raw); err == nil && env.Payload != nil {
			checkPayloads(t, env.Payload)
		}
	})
}

// checkFrame holds DecodeEnvelope and encoding/json to the same frames.
func checkFrame(t *testing.T, raw []byte) {
	var plain protocol.Envelope
	plainErr := json.Unmarshal(raw, &plain)
	if plainErr == nil {
		var back protocol.Envelope
		enc := mustMarshal(t, plain)
		if err := json.Unmarshal(enc, &back); err != nil || !sameEnvelope(plain, back) {
			t.Fatalf("encoding/json round trip of %q: %+v, %v; want %+v", raw, back, err, plain)
		}
	}
	env, err := protocol.DecodeEnvelope(raw)
	if err != nil {
		wantCode(t, err, protocol.CodeInvalidPayload)
		if plainErr == nil && plain.Type != "" {
			t.Fatalf("DecodeEnvelope refused %q (%v) that encoding/json reads as type %q", raw, err, plain.Type)
		}
		return
	}
	if env.Type == "" || env.UserID != "" || env.Timestamp != 0 {
		t.Fatalf("DecodeEnvelope(%q) = %+v: a type is required, userId and timestamp are the server's", raw, env)
	}
	if plainErr == nil && (plain.Type != env.Type || plain.SessionID != env.SessionID) {
		t.Fatalf("DecodeEnvelope(%q) = %+v, encoding/json says %+v", raw, env, plain)
	}
	back, err := protocol.DecodeEnvelope(mustMarshal(t, env))
	if err != nil || !sameEnvelope(env, back) {
		t.Fatalf("DecodeEnvelope round trip of %q: %+v, %v; want %+v", raw, back, err, env)
	}
}

// checkPayloads decodes raw as each client payload type.
func checkPayloads(t *testing.T, raw []byte) {
	// encoding/json alone: what decodes re-encodes to the same value.
	var cu protocol.CodeUpdate
	if json.Unmarshal(raw, &cu) == nil {
		var back protocol.CodeUpdate
		if err := json.Unmarshal(mustMarshal(t, cu), &back); err != nil || !sameCodeUpdate(cu, back) {
			t.Fatalf("CodeUpdate round trip of %q: %+v, %v", raw, back, err)
		}
	}
	var cur protocol.CursorUpdate
	if json.Unmarshal(raw, &cur) == nil {
		var back protocol.CursorUpdate
		if err := json.Unmarshal(mustMarshal(t, cur), &back); err != nil || !reflect.DeepEqual(cur, back) {
			t.Fatalf("CursorUpdate round trip of %q: %+v, %v", raw, back, err)
		}
	}

	if u, err := protocol.DecodeCodeUpdate(raw); err != nil {
		wantCode(t, err, protocol.CodeInvalidPayload, protocol.CodeDocumentTooLarge)
	} else {
		hasOps := u.Delta.Ops != nil
		switch {
		case (u.Delta.FullCode != nil) == hasOps:
			t.Fatalf("DecodeCodeUpdate(%q) = %+v: want exactly one of fullCode and ops", raw, u)
		case u.Version < 0 || utf8.RuneCountInString(u.OpID) > protocol.MaxOpIDLen:
			t.Fatalf("DecodeCodeUpdate(%q) = %+v: version or opId out of bounds", raw, u)
		case hasOps && (!json.Valid(u.Delta.Ops) || u.Delta.Ops[0] != '['):
			t.Fatalf("DecodeCodeUpdate(%q): ops %q is not an array", raw, u.Delta.Ops)
		case u.Delta.FullCode != nil && len(*u.Delta.FullCode) > protocol.MaxDocumentBytes:
			t.Fatalf("DecodeCodeUpdate(%q): fullCode over the document limit", raw)
		}
		if !sameCodeUpdate(u, cu) {
			t.Fatalf("DecodeCodeUpdate(%q) = %+v, encoding/json says %+v", raw, u, cu)
		}
		// An opId is kept as sent: a U+FFFD in it was sent as one, not
		// made by decoding a lone surrogate or an invalid byte.
		if strings.ContainsRune(u.OpID, utf8.RuneError) && !bytes.Contains(raw, []byte("\uFFFD")) &&
			!bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`)) {
			t.Fatalf("DecodeCodeUpdate(%q) accepted opId %q, rewritten to U+FFFD", raw, u.OpID)
		}
		// So is a fullCode: no more U+FFFD in it than the client sent.
		if u.Delta.FullCode != nil && strings.Count(*u.Delta.FullCode, "\uFFFD") >
			bytes.Count(raw, []byte("\uFFFD"))+bytes.Count(bytes.ToLower(raw), []byte(`\ufffd`)) {
			t.Fatalf("DecodeCodeUpdate(%q) accepted fullCode %q, rewritten to U+FFFD", raw, *u.Delta.FullCode)
		}
		back, err := protocol.DecodeCodeUpdate(mustMarshal(t, u))
		if err != nil || !sameCodeUpdate(u, back) {
			t.Fatalf("DecodeCodeUpdate round trip of %q: %+v, %v; want %+v", raw, back, err, u)
		}
	}

	if c, err := protocol.DecodeCursorUpdate(raw); err != nil {
		wantCode(t, err, protocol.CodeInvalidPayload)
	} else {
		for _, p := range positions(c) {
			if p.Line < 0 || p.Column < 0 || p.Line > protocol.MaxCursorValue || p.Column > protocol.MaxCursorValue {
				t.Fatalf("DecodeCursorUpdate(%q) = %+v: out of bounds", raw, c)
			}
		}
		if !reflect.DeepEqual(c, cur) {
			t.Fatalf("DecodeCursorUpdate(%q) = %+v, encoding/json says %+v", raw, c, cur)
		}
		back, err := protocol.DecodeCursorUpdate(mustMarshal(t, c))
		if err != nil || !reflect.DeepEqual(c, back) {
			t.Fatalf("DecodeCursorUpdate round trip of %q: %+v, %v; want %+v", raw, back, err, c)
		}
	}

	if l, err := protocol.DecodeLanguage(raw); err != nil {
		wantCode(t, err, protocol.CodeInvalidLanguage)
	} else {
		back, err := protocol.DecodeLanguage(mustMarshal(t, l))
		if !l.Valid() || err != nil || back != l {
			t.Fatalf("DecodeLanguage(%q) = %q; round trip %q, %v", raw, l, back, err)
		}
	}

	if r, err := protocol.DecodeRunOutput(raw); err != nil {
		wantCode(t, err, protocol.CodeInvalidPayload, protocol.CodeInvalidLanguage, protocol.CodePayloadTooLarge)
	} else {
		var plain protocol.RunOutput
		switch {
		case len(raw) > protocol.MaxRunOutputBytes || r.RunID == "" || utf8.RuneCountInString(r.RunID) > protocol.MaxRunIDLen ||
			!r.Language.Valid() || r.DurationMs < 0 || r.DurationMs > protocol.MaxRunDurationMs || r.UserID != "" || r.Timestamp != 0:
			t.Fatalf("DecodeRunOutput(%q) = %+v: out of bounds", raw, r)
		case json.Unmarshal(raw, &plain) != nil || plain.RunID != r.RunID || plain.Stdout != r.Stdout ||
			plain.Stderr != r.Stderr || plain.ExitCode != r.ExitCode:
			t.Fatalf("DecodeRunOutput(%q) = %+v, encoding/json says %+v", raw, r, plain)
		}
		back, err := protocol.DecodeRunOutput(mustMarshal(t, r))
		if err != nil || back != r {
			t.Fatalf("DecodeRunOutput round trip of %q: %+v, %v; want %+v", raw, back, err, r)
		}
	}
}

// wantCode fails unless err is a *protocol.Error with one of codes, a
// message, and a body that encodes.
func wantCode(t *testing.T, err error, codes ...protocol.Code) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *protocol.Error", err)
	}
	for _, c := range codes {
		if pe.Code == c {
			if pe.Message == "" {
				t.Fatalf("error %v has no message", err)
			}
			mustMarshal(t, protocol.PayloadOf(err))
			return
		}
	}
	t.Fatalf("error code %s, want one of %v (%v)", pe.Code, codes, err)
}

func positions(c protocol.CursorUpdate) []protocol.Position {
	if c.Selection == nil {
		return []protocol.Position{c.Position}
	}
	return []protocol.Position{c.Position, c.Selection.Start, c.Selection.End}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %+v: %v", v, err)
	}
	return b
}

func sameEnvelope(a, b protocol.Envelope) bool {
	return a.Type == b.Type && a.SessionID == b.SessionID && a.UserID == b.UserID &&
		a.Timestamp == b.Timestamp && sameJSON(a.Payload, b.Payload)
}

func sameCodeUpdate(a, b protocol.CodeUpdate) bool {
	fa, fb := a.Delta.FullCode, b.Delta.FullCode
	return a.Version == b.Version && a.OpID == b.OpID && (fa == nil) == (fb == nil) &&
		(fa == nil || *fa == *fb) && sameJSON(a.Delta.Ops, b.Delta.Ops)
}

// sameJSON compares two JSON texts by meaning (numbers exactly); empty and
// null are the same absent value, as omitempty makes them.
func sameJSON(a, b []byte) bool {
	va, oka := jsonValue(a)
	vb, okb := jsonValue(b)
	return oka == okb && reflect.DeepEqual(va, vb)
}

func jsonValue(b []byte) (any, bool) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err == nil
}
