package protocol

import (
	"reflect"
	"strings"
	"testing"
)

// fastSeeds are payloads and envelopes as clients send them, and near
// misses the fast path must leave to encoding/json.
var fastSeeds = []string{
	`{"type":"code-update","sessionId":"6a1f0a34-0cf6-4c1e-9a57-3c8e3b1b2d4f","payload":{"delta":{"fullCode":"func f() {\n\tif a \u003c b \u0026\u0026 c \u003e d {\n\t\treturn \"x\"\n\t}\n}\n"},"version":41,"opId":"u2-1705315800000-17"},"timestamp":1705315800000}`,
	`{"type":"cursor-update","sessionId":"6a1f0a34-0cf6-4c1e-9a57-3c8e3b1b2d4f","userId":"u1","payload":{"position":{"line":12,"column":30},"selection":{"start":{"line":12,"column":4},"end":{"line":12,"column":30}}},"timestamp":1705315800000}`,
	`{"delta":{"fullCode":"print(1)\n😀 \ud83d\ude00 a<b>"},"version":0,"opId":"k"}`,
	`{"delta":{"ops":[1480,"x",-1,567]},"version":41,"opId":"u2-17"}`,
	`{"delta":{"ops":[ 1 , "a b" ,-1 ]},"version":1}`,
	`{"position":{"line":1,"column":2}}`,
	`{"position":{"line":1,"column":2},"selection":{"start":{"line":0,"column":0},"end":{"line":2147483647,"column":0}}}`,
	`{"position":{"line":1,"column":2147483648}}`,
	`{"type":"sync","payload":null}`, `{"type":"x","Type":"y"}`, `{"type":"x","type":"y"}`, `{"type":"a\u0062"}`,
	`{"delta":{"fullCode":"a"},"version":0,"opId":"k\ud800"}`, "{\"delta\":{\"fullCode\":\"a\xff\"},\"version\":0}",
	`{"delta":{"fullCode":"a","ops":[1]},"version":1}`, `{"delta":{"fullCode":null},"version":1}`, `{"delta":{"ops":[1]},"version":1.0}`,
	`{"delta":{"ops":[1]},"version":-1}`, `{"delta":{"ops":{}},"version":1}`, `{"delta":{"ops":[1]},"version":1,"VERSION":2}`,
	`{"delta":{"ops":[1]},"version":1,"opId":"` + strings.Repeat("é", 65) + `"}`, `  {"position":{"line":0,"column":0}}  `, `{"position":{"line":0,"column":0}} x`,
}

// FuzzFastPath holds each decoder's fast path to its encoding/json path:
// whatever the bytes, the exported decoder (fast path first) returns what
// the encoding/json path alone returns, value and error alike.
func FuzzFastPath(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := DecodeEnvelope(raw)
		wantEnv, wantErr := decodeEnvelopeJSON(raw)
		same(t, "DecodeEnvelope", raw, env, err, wantEnv, wantErr)
		code, err := DecodeCodeUpdate(raw)
		wantCode, wantErr := decodeCodeUpdateJSON(raw)
		same(t, "DecodeCodeUpdate", raw, code, err, wantCode, wantErr)
		cur, err := DecodeCursorUpdate(raw)
		wantCur, wantErr := decodeCursorUpdateJSON(raw)
		same(t, "DecodeCursorUpdate", raw, cur, err, wantCur, wantErr)
		if env.Payload != nil {
			code, err := DecodeCodeUpdate(env.Payload)
			wantCode, wantErr := decodeCodeUpdateJSON(env.Payload)
			same(t, "DecodeCodeUpdate", env.Payload, code, err, wantCode, wantErr)
			cur, err := DecodeCursorUpdate(env.Payload)
			wantCur, wantErr := decodeCursorUpdateJSON(env.Payload)
			same(t, "DecodeCursorUpdate", env.Payload, cur, err, wantCur, wantErr)
		}
	})
}

func same[T any](t *testing.T, what string, raw []byte, got T, err error, want T, wantErr error) {
	t.Helper()
	if !reflect.DeepEqual(got, want) || !sameError(err, wantErr) {
		t.Fatalf("%s(%q) = %+v, %v; encoding/json: %+v, %v", what, raw, got, err, want, wantErr)
	}
}

// sameError compares two refusals as a client sees them.
func sameError(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return a == nil || reflect.DeepEqual(PayloadOf(a), PayloadOf(b))
}

// TestFastPathTaken holds the fast path to the frames real clients send:
// were it to refuse them, every frame would pay encoding/json again.
func TestFastPathTaken(t *testing.T) {
	for _, s := range fastSeeds[:7] {
		env, ok := fastEnvelope([]byte(s))
		_, codeOK := fastCodeUpdate([]byte(s))
		_, curOK := fastCursorUpdate([]byte(s))
		if ok {
			_, codeOK = fastCodeUpdate(env.Payload)
			_, curOK = fastCursorUpdate(env.Payload)
		}
		if !codeOK && !curOK {
			t.Errorf("the fast path leaves %s to encoding/json", s)
		}
	}
}
