package protocol

import (
	"testing"
	"unicode/utf8"
)

// TestTruncate: an echo is bounded and never ends in half a character.
func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"abcdef", 3, "abc…"},
		{"aé", 2, "a…"},          // é is 2 bytes: cutting at 2 would split it
		{"日本語", 4, "日…"},         // 3-byte runes
		{"😀x", 3, "…"},           // a 4-byte rune at the start
		{"a\xffbc", 2, "a\xff…"}, // invalid bytes are kept as they are (each is its own boundary)
	}
	for _, tc := range tests {
		got := Truncate(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if utf8.ValidString(tc.in) && !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q is not valid UTF-8", tc.in, tc.n, got)
		}
	}
}
