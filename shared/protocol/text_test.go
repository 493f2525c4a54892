package protocol_test

import (
	"errors"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestDecodeString: a string encoding/json would rewrite to U+FFFD is
// refused, so "k\ud800" and "k\udc00" cannot become one identifier; what
// is accepted is exactly what encoding/json reads.
func TestDecodeString(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		err  error
	}{
		{`"abc"`, "abc", nil},
		{`""`, "", nil},
		{`"k\ud83d\ude00"`, "k😀", nil},
		{`"k\uD83D\uDE00"`, "k😀", nil},
		{`"k\ufffd"`, "k\ufffd", nil},
		{`"k\\ud800"`, `k\ud800`, nil},
		{`"\\\ud83d\ude00"`, `\😀`, nil},
		{`"a\"\u00e9"`, `a"é`, nil},
		{`"k\ud800"`, "", protocol.ErrRewritten},
		{`"k\udc00"`, "", protocol.ErrRewritten},
		{`"k\ud800x"`, "", protocol.ErrRewritten},
		{`"k\ud800\u0041"`, "", protocol.ErrRewritten},
		{`"k\ud800\ud800"`, "", protocol.ErrRewritten},
		{`"\\\ud800"`, "", protocol.ErrRewritten},
		{"\"k\xff\"", "", protocol.ErrRewritten},
		{"\"k\xed\xa0\x80\"", "", protocol.ErrRewritten}, // a surrogate in CESU-8
		{`7`, "", protocol.ErrNotString},
		{`null`, "", protocol.ErrNotString},
		{`"unterminated`, "", protocol.ErrNotString},
		{`"a" "b"`, "", protocol.ErrNotString},
	}
	for _, tc := range tests {
		got, err := protocol.DecodeString([]byte(tc.raw))
		if !errors.Is(err, tc.err) || (tc.err == nil && got != tc.want) {
			t.Errorf("DecodeString(%s) = %q, %v; want %q, %v", tc.raw, got, err, tc.want, tc.err)
		}
	}
}
