package web

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// hashVector is one text and the hash the server sends for it.
type hashVector struct {
	Text string `json:"text"`
	Hash string `json:"hash"`
}

// TestHashVectors keeps testdata/hash_vectors.json in step with
// protocol.DocumentHash; the JavaScript client (clients/js/test) checks its
// fnv1a64 against the same file, so both sides hash a text the same way.
func TestHashVectors(t *testing.T) {
	texts := []string{"", "a", "foobar", "x7500", "print(\"hi\")\n", "line1\r\nline2\n", "é😀", "👨\u200d👩\u200d👧",
		"e\u0301", "\ufffd", "\u2028\u2029", "\x00\x7f", strings.Repeat("abc😀\n", 200)}
	r := rand.New(rand.NewPCG(9, 2026))
	for range 100 {
		texts = append(texts, randText(r, 40))
	}
	vs := make([]hashVector, len(texts))
	for i, s := range texts {
		vs[i] = hashVector{Text: s, Hash: protocol.DocumentHash(s)}
	}
	got, err := json.MarshalIndent(vs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "hash_vectors.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with go test -run TestHashVectors -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with protocol.DocumentHash: run go test -run TestHashVectors -update here, then node --test clients/js/test/", path)
	}
}
