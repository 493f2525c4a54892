package ot

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/jsonwire"
)

// FuzzDecodeFast holds Decode (Read first) to decodeJSON, the
// encoding/json path, on any bytes: the same op or the same error.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{`[]`, ` [1, "x y" ,-1] `, `[1480,"\u003c\n\t\"",-1,567]`, `[0]`, `[-0]`, `[1.0]`, `[1e3]`,
		`[""]`, `["\ud800"]`, `[null]`, `[[1]]`, `[1]x`, `[9007199254740993]`, `[-9007199254740991]`, `["\ud83d\ude00é"]`,
		"[\"a\xff\"]", `[1,]`, `{}`, `"x"`, "[" + strings.Repeat("1,", MaxComponents) + "1]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		want, wantErr := decodeJSON(data)
		if !reflect.DeepEqual(got, want) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("Decode(%q) = %v, %v; encoding/json: %v, %v", data, got, err, want, wantErr)
		}
	})
}

// TestReadTaken holds the ops the server writes to the fast path.
func TestReadTaken(t *testing.T) {
	for _, s := range []string{`[]`, `[1480,"x",-1,567]`, `["a\u003cb \u0026 c\n"]`} {
		r := jsonwire.NewReader([]byte(s))
		if _, ok := Read(&r); !ok || !r.End() {
			t.Errorf("Read leaves %s to encoding/json", s)
		}
	}
}
