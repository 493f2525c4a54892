package jsonwire_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/jsonstr"
	"github.com/pairpad/pairpad/shared/jsonwire"
)

// seeds are JSON texts and near misses for the fuzz targets.
var seeds = []string{
	`{"type":"code-update","sessionId":"6a1f0a34-0cf6-4c1e-9a57-3c8e3b1b2d4f","payload":{"delta":{"fullCode":"a\u003cb\n\"q\"\t\ud83d\ude00é"},"version":41,"opId":"u2-17"},"timestamp":1705315800000}`,
	`[1480,"x",-1,567]`, `"plain"`, `"a\u0000b\/c\\"`, `"\ud800"`, `"\udc00x"`, `"\ud83d\u0041"`, "\"\xff\"", "\"\xed\xa0\x80\"",
	`-0`, `0.5e-3`, `1E+9`, `01`, `-`, `1.`, `9223372036854775807`, `9223372036854775808`, `-9223372036854775808`, `123456789012345678`,
	`{"a":[1,{"b":null}],"c":true,"d":false}`, `{"a" 1}`, `{"a":1,}`, `[1,]`, `[ ]`, `{ }`, ` {"x" : [ 1 , 2 ] } `, `tru`, `nul`, `"\x"`, `"\u12g4"`,
	`{"k":1}{}`, "\"tab\there\"", strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
}

// FuzzReader holds every Reader method to encoding/json on the same bytes:
// Valid to json.Valid; Value to the value json.Decoder reads; String to
// jsonstr.Decode (what encoding/json decodes, minus its rewrites); Int to
// an int64 field; Name to a string without escapes.
func FuzzReader(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := jsonwire.Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid = %v", b, got, want)
		}
		r := jsonwire.NewReader(b)
		if v, ok := r.Value(); ok {
			if !json.Valid(v) || !bytes.Equal(bytes.TrimSpace(b[:r.Pos()]), v) {
				t.Fatalf("Value(%q) = %q, not the valid value at the start", b, v)
			}
			var raw json.RawMessage
			if err := json.NewDecoder(bytes.NewReader(b)).Decode(&raw); err != nil || !bytes.Equal(raw, v) {
				t.Fatalf("Value(%q) = %q; json.Decoder reads %q, %v", b, v, raw, err)
			}
		}
		if json.Valid(b) {
			var buf bytes.Buffer
			_ = json.Compact(&buf, b)
			if got, want := jsonwire.Compact(b), bytes.Equal(buf.Bytes(), b); got != want {
				t.Fatalf("Compact(%q) = %v; json.Compact leaves it as is: %v", b, got, want)
			}
		}
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		r = jsonwire.NewReader(b)
		if s, ok := r.String(); ok {
			lit := trimmed[:r.Pos()-(len(b)-len(trimmed))]
			want, err := jsonstr.Decode(lit)
			if err != nil || want != s {
				t.Fatalf("String(%q) = %q; jsonstr.Decode(%q) = %q, %v", b, s, lit, want, err)
			}
		} else if lit, ok := firstValue(b); ok && lit[0] == '"' {
			if s, err := jsonstr.Decode(lit); err == nil {
				t.Fatalf("String(%q) refused a literal jsonstr.Decode reads as %q", b, s)
			}
		}
		r = jsonwire.NewReader(b)
		if n, ok := r.Int(); ok {
			lit := trimmed[:r.Pos()-(len(b)-len(trimmed))]
			var want int64
			if err := json.Unmarshal(lit, &want); err != nil || want != n {
				t.Fatalf("Int(%q) = %d; encoding/json reads %q as %d, %v", b, n, lit, want, err)
			}
		} else if lit, ok := firstValue(b); ok {
			var want int64
			if json.Unmarshal(lit, &want) == nil && lit[0] != 'n' {
				t.Fatalf("Int(%q) refused %q, an int64 %d to encoding/json", b, lit, want)
			}
		}
		r = jsonwire.NewReader(b)
		if name, ok := r.Name(); ok {
			var want string
			lit := trimmed[:r.Pos()-(len(b)-len(trimmed))]
			if err := json.Unmarshal(lit, &want); err != nil || want != string(name) {
				t.Fatalf("Name(%q) = %q; encoding/json reads %q, %v", b, name, want, err)
			}
		}
	})
}

// firstValue is the first JSON value of b by json.Decoder.
func firstValue(b []byte) (json.RawMessage, bool) {
	var raw json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&raw); err != nil {
		return nil, false
	}
	return raw, true
}

// FuzzAppendString holds AppendString to an encoding/json Encoder with
// SetEscapeHTML(false), and AppendStringHTML to json.Marshal, byte for
// byte.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a<b>&c", "\"\\\n\r\t\b\f\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "é😀\ufffd", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
		if got := jsonwire.AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got, want)
		}
		marshaled, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonwire.AppendStringHTML(nil, s); !bytes.Equal(got, marshaled) {
			t.Fatalf("AppendStringHTML(%q) = %s, json.Marshal %s", s, got, marshaled)
		}
	})
}

// TestObject walks an object's keys and refuses what is not one.
func TestObject(t *testing.T) {
	tests := []struct {
		in   string
		keys string
		ok   bool
	}{
		{`{}`, "", true},
		{` { "a" : 1 , "b":[2] } `, "a,b", true},
		{`{"a":1,}`, "a", false},
		{`{"a\u0062":1}`, "", false}, // an escaped key: not a name
		{`{"a":1 "b":2}`, "a", false},
		{`[1]`, "", false},
	}
	for _, tt := range tests {
		r := jsonwire.NewReader([]byte(tt.in))
		var keys []string
		ok := r.Object(func(k []byte) bool {
			keys = append(keys, string(k))
			_, ok := r.Value()
			return ok
		})
		if ok != tt.ok || strings.Join(keys, ",") != tt.keys {
			t.Errorf("Object(%s) = %v with keys %q, want %v with %q", tt.in, ok, keys, tt.ok, tt.keys)
		}
	}
	if !jsonwire.FoldsTo([]byte("OPID"), "delta", "opId") || jsonwire.FoldsTo([]byte("opId"), "opId") || jsonwire.FoldsTo([]byte("x"), "opId") {
		t.Error("FoldsTo: OPID folds to opId; opId is opId itself; x is nothing")
	}
}

// BenchmarkString reads a 2 KiB program as encoding/json encodes it (every
// newline, tab, quote and < > & escaped), and checks it first as Value does.
func BenchmarkString(b *testing.B) {
	const unit = "func f(a []int) bool {\n\tif len(a) < 2 && a[0] > 1 {\n\t\treturn \"x\" == `y`\n\t}\n\treturn false\n}\n"
	lit, err := json.Marshal(strings.Repeat(unit, 2048/len(unit)+1)[:2048])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Value", func(b *testing.B) {
		b.SetBytes(int64(len(lit)))
		for b.Loop() {
			r := jsonwire.NewReader(lit)
			if _, ok := r.Value(); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("String", func(b *testing.B) {
		b.SetBytes(int64(len(lit)))
		b.ReportAllocs()
		for b.Loop() {
			r := jsonwire.NewReader(lit)
			if _, ok := r.String(); !ok {
				b.Fatal("refused")
			}
		}
	})
}
