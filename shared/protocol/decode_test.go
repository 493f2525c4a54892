package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pairpad/pairpad/shared/protocol"
)

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name, frame string
		want        protocol.Envelope // Type "" means refused
	}{
		{"full", `{"type":"sync","sessionId":"s","userId":"forged","timestamp":1.5,"payload":{"a":1}}`,
			protocol.Envelope{Type: "sync", SessionID: "s", Payload: json.RawMessage(`{"a":1}`)}},
		{"unknown field", `{"type":"sync","extra":[1]}`, protocol.Envelope{Type: "sync"}},
		{"null payload", `{"type":"sync","payload":null}`, protocol.Envelope{Type: "sync"}},
		{"no type", `{"payload":1}`, protocol.Envelope{}},
		{"type not a string", `{"type":5}`, protocol.Envelope{}},
		{"sessionId not a string", `{"type":"sync","sessionId":1}`, protocol.Envelope{}},
		{"array", `["sync"]`, protocol.Envelope{}},
		{"trailing data", `{"type":"sync"}x`, protocol.Envelope{}},
		{"empty", ``, protocol.Envelope{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := protocol.DecodeEnvelope([]byte(tc.frame))
			if tc.want.Type == "" {
				if protocol.ErrorCode(err) != protocol.CodeInvalidPayload {
					t.Fatalf("got %+v, %v; want INVALID_PAYLOAD", got, err)
				}
				return
			}
			if err != nil || !sameEnvelope(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDecodeCodeUpdate(t *testing.T) {
	big := `{"delta":{"fullCode":"` + strings.Repeat("a", protocol.MaxDocumentBytes+1) + `"},"version":0}`
	tests := []struct {
		name, payload string
		code          protocol.Code // "" means accepted
		field         string        // the field details name
	}{
		{"full code", `{"delta":{"fullCode":""},"version":0}`, "", ""},
		{"ops", `{"delta":{"ops":[ 1, "x" ]},"version":3,"opId":"o1","client":"x"}`, "", ""},
		{"ops null beside fullCode", `{"delta":{"fullCode":"a","ops":null},"version":0}`, "", ""},
		{"both", `{"delta":{"fullCode":"a","ops":[1]},"version":0}`, protocol.CodeInvalidPayload, "delta"},
		{"neither", `{"delta":{},"version":0}`, protocol.CodeInvalidPayload, "delta"},
		{"no delta", `{"version":0}`, protocol.CodeInvalidPayload, "delta"},
		{"no version", `{"delta":{"fullCode":"a"}}`, protocol.CodeInvalidPayload, "version"},
		{"null version", `{"delta":{"fullCode":"a"},"version":null}`, protocol.CodeInvalidPayload, "version"},
		{"negative version", `{"delta":{"fullCode":"a"},"version":-1}`, protocol.CodeInvalidPayload, "version"},
		{"fractional version", `{"delta":{"fullCode":"a"},"version":1.5}`, protocol.CodeInvalidPayload, "version"},
		{"exponent version", `{"delta":{"fullCode":"a"},"version":1e3}`, protocol.CodeInvalidPayload, "version"},
		{"ops not an array", `{"delta":{"ops":"x"},"version":0}`, protocol.CodeInvalidPayload, "delta.ops"},
		{"fullCode not a string", `{"delta":{"fullCode":1},"version":0}`, protocol.CodeInvalidPayload, "delta.fullCode"},
		{"opId too long", `{"delta":{"fullCode":"a"},"version":0,"opId":"` + strings.Repeat("x", 65) + `"}`, protocol.CodeInvalidPayload, "opId"},
		{"opId lone high surrogate", `{"delta":{"fullCode":"a"},"version":0,"opId":"k\ud800"}`, protocol.CodeInvalidPayload, "opId"},
		{"opId lone low surrogate", `{"delta":{"fullCode":"a"},"version":0,"opId":"k\udc00"}`, protocol.CodeInvalidPayload, "opId"},
		{"opId reversed pair", `{"delta":{"fullCode":"a"},"version":0,"opId":"\udc00\ud800"}`, protocol.CodeInvalidPayload, "opId"},
		{"opId invalid UTF-8", "{\"delta\":{\"fullCode\":\"a\"},\"version\":0,\"opId\":\"k\xff\"}", protocol.CodeInvalidPayload, "opId"},
		{"opId lone surrogate then null", `{"delta":{"fullCode":"a"},"version":0,"opId":"k\ud800","opId":null}`, protocol.CodeInvalidPayload, "opId"},
		{"opId not a string", `{"delta":{"fullCode":"a"},"version":0,"opId":7}`, protocol.CodeInvalidPayload, "opId"},
		{"opId surrogate pair", `{"delta":{"fullCode":"a"},"version":0,"opId":"k\ud83d\ude00"}`, "", ""},
		{"opId escaped backslash before u", `{"delta":{"fullCode":"a"},"version":0,"opId":"k\\ud800"}`, "", ""},
		{"opId U+FFFD as sent", `{"delta":{"fullCode":"a"},"version":0,"opId":"k\ufffd"}`, "", ""},
		{"fullCode too large", big, protocol.CodeDocumentTooLarge, "delta.fullCode"},
		{"fullCode too large with a lone surrogate", strings.Replace(big, `"a`, `"\ud800`, 1), protocol.CodeDocumentTooLarge, "delta.fullCode"},
		{"fullCode lone high surrogate", `{"delta":{"fullCode":"x\ud800"},"version":0}`, protocol.CodeInvalidPayload, "delta.fullCode"},
		{"fullCode lone low surrogate", `{"delta":{"fullCode":"\udc00x"},"version":0}`, protocol.CodeInvalidPayload, "delta.fullCode"},
		{"fullCode invalid UTF-8", "{\"delta\":{\"fullCode\":\"a\xffb\"},\"version\":0}", protocol.CodeInvalidPayload, "delta.fullCode"},
		{"fullCode lone surrogate then null", `{"delta":{"fullCode":"\ud800","fullCode":null,"ops":[1]},"version":0}`, "", ""},
		{"fullCode surrogate pair", `{"delta":{"fullCode":"\ud83d\ude00"},"version":0}`, "", ""},
		{"fullCode U+FFFD as sent", `{"delta":{"fullCode":"\ufffd�"},"version":0}`, "", ""},
		{"fullCode escaped backslash before u", `{"delta":{"fullCode":"\\ud800"},"version":0}`, "", ""},
		{"not an object", `"abc"`, protocol.CodeInvalidPayload, ""},
		{"missing", ``, protocol.CodeInvalidPayload, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := protocol.DecodeCodeUpdate(json.RawMessage(tc.payload))
			checkRefusal(t, err, tc.code, tc.field)
			if err == nil && u.Delta.Ops != nil && strings.ContainsAny(string(u.Delta.Ops), " \n") {
				t.Errorf("ops not compacted: %s", u.Delta.Ops)
			}
		})
	}
}

func TestDecodeCursorUpdate(t *testing.T) {
	tests := []struct {
		name, payload string
		code          protocol.Code
		field         string
	}{
		{"position", `{"position":{"line":0,"column":0}}`, "", ""},
		{"selection", `{"position":{"line":1,"column":2},"selection":{"start":{"line":0,"column":0},"end":{"line":3,"column":1}}}`, "", ""},
		{"null selection", `{"position":{"line":1,"column":2},"selection":null}`, "", ""},
		{"no position", `{}`, protocol.CodeInvalidPayload, "position"},
		{"no column", `{"position":{"line":1}}`, protocol.CodeInvalidPayload, "position"},
		{"negative", `{"position":{"line":-1,"column":0}}`, protocol.CodeInvalidPayload, "position"},
		{"too large", `{"position":{"line":2147483648,"column":0}}`, protocol.CodeInvalidPayload, "position"},
		{"fraction", `{"position":{"line":1.5,"column":0}}`, protocol.CodeInvalidPayload, "position.line"},
		{"half a selection", `{"position":{"line":1,"column":2},"selection":{"start":{"line":0,"column":0}}}`, protocol.CodeInvalidPayload, "selection.end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := protocol.DecodeCursorUpdate(json.RawMessage(tc.payload))
			checkRefusal(t, err, tc.code, tc.field)
		})
	}
}

func TestDecodeLanguage(t *testing.T) {
	tests := []struct {
		payload string
		want    protocol.Language // "" means INVALID_LANGUAGE
	}{
		{`"python"`, protocol.LangPython},
		{`{"language":"typescript"}`, protocol.LangTypeScript},
		{`"Python"`, ""},
		{`"cobol"`, ""},
		{`null`, ""},
		{`{}`, ""},
		{`5`, ""},
		{``, ""},
		{`["x` + strings.Repeat("é", 40) + `"]`, ""}, // echoed cut short, never in the middle of an é
	}
	for _, tc := range tests {
		got, err := protocol.DecodeLanguage(json.RawMessage(tc.payload))
		if tc.want == "" && protocol.ErrorCode(err) != protocol.CodeInvalidLanguage {
			t.Errorf("%s: got %q, %v; want INVALID_LANGUAGE", tc.payload, got, err)
		}
		if msg := protocol.ErrorMessage(err); err != nil && !utf8.ValidString(msg) {
			t.Errorf("%s: message %q is not valid UTF-8", tc.payload, msg)
		}
		if tc.want != "" && (err != nil || got != tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.payload, got, err, tc.want)
		}
	}
}

// checkRefusal: err is nil when code is empty, else an error with code
// whose details name field (when given).
func checkRefusal(t *testing.T, err error, code protocol.Code, field string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if protocol.ErrorCode(err) != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	if p := protocol.PayloadOf(err); field != "" && p.Details[field] == nil {
		t.Errorf("details %v do not name %q (message %q)", p.Details, field, p.Message)
	}
}

// TestEventType: each of the package's event types comes back as its
// constant without allocating; any other name as a copy of its bytes.
func TestEventType(t *testing.T) {
	for _, typ := range []string{
		protocol.TypeCodeUpdate, protocol.TypeCursorUpdate, protocol.TypeLanguageChanged, protocol.TypeSync,
		protocol.TypeNotesUpdate, protocol.TypeRunOutput, protocol.TypeCodeAck, protocol.TypeNotesAck,
		protocol.TypeConnected, protocol.TypeUserJoined, protocol.TypeUserLeft, protocol.TypePresenceUpdate,
		protocol.TypeSessionEnded, protocol.TypeError,
	} {
		name := []byte(typ)
		if got := protocol.EventType(name); got != typ {
			t.Errorf("EventType(%q) = %q", typ, got)
		}
		if n := testing.AllocsPerRun(100, func() { _ = protocol.EventType(name) }); n != 0 {
			t.Errorf("EventType(%q) allocates %v times", typ, n)
		}
	}
	name := []byte("code-updatex")
	got := protocol.EventType(name)
	name[0] = 'X'
	if got != "code-updatex" {
		t.Errorf("EventType of an unknown name = %q after its bytes changed: not a copy", got)
	}
}
