package jsonstr_test

import (
	"errors"
	"testing"

	"github.com/pairpad/pairpad/shared/jsonstr"
)

// TestCheck: what encoding/json would turn into U+FFFD is found, with its
// offset in the literal; a real pair, a U+FFFD sent as one and an escaped
// backslash before "u" pass.
func TestCheck(t *testing.T) {
	tests := []struct {
		raw    string
		offset int    // -1: passes
		escape string // the lone surrogate, "" for an invalid byte
	}{
		{`"abc"`, -1, ""},
		{`""`, -1, ""},
		{`"\ud83d\ude00 \uD83D\uDE00"`, -1, ""},
		{`"\ufffd"`, -1, ""},
		{"\"\uFFFD\"", -1, ""},
		{`"\\ud800"`, -1, ""},
		{`"\"\n\u00e9"`, -1, ""},
		{`"ab\ud800"`, 3, `\ud800`},
		{`"ab\udc00"`, 3, `\udc00`},
		{`"\uDBFF\u0041"`, 1, `\uDBFF`},
		{`"\ud83d\ud83d\ude00"`, 1, `\ud83d`},
		{`"\ud83d\ude00\ude00"`, 13, `\ude00`},
		{`"\\\udfff"`, 3, `\udfff`},
		{"\"é\xff\"", 3, ""},
		{"\"\xed\xa0\x80\"", 1, ""},
		{"\"\xf0\x9f\x98\"", 1, ""},
	}
	for _, tc := range tests {
		err := jsonstr.Check([]byte(tc.raw))
		var re *jsonstr.RewriteError
		switch {
		case tc.offset < 0 && err != nil:
			t.Errorf("Check(%s) = %v, want nil", tc.raw, err)
		case tc.offset >= 0 && (!errors.As(err, &re) || !errors.Is(err, jsonstr.ErrRewritten)):
			t.Errorf("Check(%s) = %v, want a RewriteError", tc.raw, err)
		case tc.offset >= 0 && (re.Offset != tc.offset || re.Escape != tc.escape || re.Reason() == ""):
			t.Errorf("Check(%s) = offset %d, escape %q; want %d, %q", tc.raw, re.Offset, re.Escape, tc.offset, tc.escape)
		}
	}
}
