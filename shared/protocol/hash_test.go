package protocol_test

import (
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestDocumentHash pins FNV-1a 64 over UTF-8 to the published test vectors
// (and the ones docs/protocol.md gives), leading zeros included.
func TestDocumentHash(t *testing.T) {
	for _, tc := range []struct{ code, want string }{
		{"", "cbf29ce484222325"},
		{"a", "af63dc4c8601ec8c"},
		{"foobar", "85944171f73967e8"},
		{"hello", "a430d84680aabd0b"},
		{"print(\"hi\")\n", "bf75547a16f6e7f6"},
		{"é😀", "52da6ebdce68376c"},    // UTF-8 bytes, not UTF-16 units
		{"x7500", "0041157ac45c93f7"}, // leading zeros are kept

	} {
		got := protocol.DocumentHash(tc.code)
		if len(got) != 16 {
			t.Fatalf("DocumentHash(%q) = %q, want 16 hex digits", tc.code, got)
		}
		if got != tc.want {
			t.Errorf("DocumentHash(%q) = %s, want %s", tc.code, got, tc.want)
		}
	}
}
