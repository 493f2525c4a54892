package protocol_test

import (
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestLanguages: the interview set of the protocol, each with the file
// extension its code exports as (lowercase letters only: it goes into a
// Content-Disposition file name unescaped).
func TestLanguages(t *testing.T) {
	want := map[protocol.Language]string{
		"javascript": "js", "typescript": "ts", "python": "py", "java": "java", "go": "go", "c": "c", "cpp": "cpp",
		"csharp": "cs", "ruby": "rb", "rust": "rs", "kotlin": "kt", "swift": "swift", "php": "php", "sql": "sql",
	}
	if len(protocol.Languages) != len(want) {
		t.Fatalf("%d languages, want %d", len(protocol.Languages), len(want))
	}
	for _, l := range protocol.Languages {
		ext := l.Extension()
		if !l.Valid() || ext != want[l] {
			t.Errorf("%s: valid %v, extension %q; want %q", l, l.Valid(), ext, want[l])
		}
		for _, c := range ext {
			if c < 'a' || c > 'z' {
				t.Errorf("%s: extension %q has %q", l, ext, c)
			}
		}
	}
	for _, bad := range []protocol.Language{"", "Python", "cobol", "c++", "js"} {
		if bad.Valid() || bad.Extension() != "" {
			t.Errorf("%q is valid", bad)
		}
	}
}
