package web

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/ot"
)

// update rewrites testdata/ot_vectors.json (and hash_vectors.json) from the Go packages; the
// JavaScript tests (clients/js/test/vectors.test.mjs) read the same file,
// so the two implementations are held to the same answers.
var update = flag.Bool("update", false, "rewrite testdata/ot_vectors.json")

// vectorAtoms are the characters random texts are made of: ASCII, line
// ends, surrogate pairs sharing their high half (😀😁), a ZWJ sequence, a
// combining mark, CJK and characters whose encodings share bytes.
var vectorAtoms = []string{"a", "b", "z", " ", "\n", "\r\n", "\t", "😀", "😁", "👍", "👨\u200d👩\u200d👧", "e\u0301", "中", "丮", "é", "©"}

// vector is one case: inputs and the Go package's results.
type vector struct {
	Doc        string `json:"doc"`
	A          ot.Op  `json:"a"`
	B          ot.Op  `json:"b"`
	C          ot.Op  `json:"c"` // an op on apply(doc, a), for compose
	Other      string `json:"other"`
	Index      int    `json:"index"`
	Own        bool   `json:"own"`
	NormA      ot.Op  `json:"normA"`
	ApplyA     string `json:"applyA"`
	TransformA ot.Op  `json:"transformA"`
	TransformB ot.Op  `json:"transformB"`
	Converged  string `json:"converged"`
	Compose    ot.Op  `json:"compose"`
	DiffA      ot.Op  `json:"diffA"`
	DiffOther  ot.Op  `json:"diffOther"`
	IndexA     int    `json:"indexA"`
}

func randText(r *rand.Rand, max int) string {
	var sb strings.Builder
	for range r.IntN(max + 1) {
		sb.WriteString(vectorAtoms[r.IntN(len(vectorAtoms))])
	}
	return sb.String()
}

// randOp draws a valid, not necessarily normalized op on doc whose
// retains and deletes stop only at character boundaries.
func randOp(r *rand.Rand, doc string) ot.Op {
	var units []int
	for _, c := range doc {
		units = append(units, ot.UTF16Len(string(c)))
	}
	op := ot.Op{}
	for i := 0; ; {
		if i == len(units) {
			if r.IntN(2) == 0 {
				if s := randText(r, 3); s != "" {
					op = append(op, ot.Insert(s))
				}
			}
			return op
		}
		kind := r.IntN(4)
		if kind == 0 {
			if s := randText(r, 3); s != "" {
				op = append(op, ot.Insert(s))
			}
			continue
		}
		k := 1 + r.IntN(min(len(units)-i, 5))
		n := 0
		for _, u := range units[i : i+k] {
			n += u
		}
		i += k
		if kind == 2 {
			n = -n
		}
		op = append(op, ot.Component{N: n})
	}
}

func makeVector(t *testing.T, r *rand.Rand) vector {
	t.Helper()
	v := vector{Doc: randText(r, 10)}
	v.A, v.B = randOp(r, v.Doc), randOp(r, v.Doc)
	v.Other = randText(r, 10)
	if r.IntN(2) == 0 {
		// Share a prefix and a suffix with doc, so diff has work to do.
		v.Other = v.Doc[:len(v.Doc)/2] + v.Other + v.Doc[len(v.Doc)/2:]
		v.Other = strings.ToValidUTF8(v.Other, "")
	}
	v.Index = r.IntN(ot.UTF16Len(v.Doc) + 1)
	v.Own = r.IntN(2) == 0
	var err error
	must := func(e error) {
		t.Helper()
		if e != nil {
			t.Fatalf("doc %q a %v b %v: %v", v.Doc, v.A, v.B, e)
		}
	}
	v.NormA = v.A.Normalize()
	v.ApplyA, err = ot.Apply(v.Doc, v.A)
	must(err)
	v.TransformA, v.TransformB, err = ot.Transform(v.A, v.B)
	must(err)
	v.Converged, err = ot.Apply(v.ApplyA, v.TransformB)
	must(err)
	v.C = randOp(r, v.ApplyA)
	v.Compose, err = ot.Compose(v.A, v.C)
	must(err)
	v.DiffA = ot.Diff(v.Doc, v.ApplyA)
	v.DiffOther = ot.Diff(v.Doc, v.Other)
	v.IndexA = ot.TransformIndex(v.A, v.Index, v.Own)
	return v
}

// TestOTVectors checks that the vectors in testdata match the Go ot
// package, so a change of its semantics is noticed here and the JavaScript
// client is checked against the new answers (run with -update).
func TestOTVectors(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 2026))
	vs := make([]vector, 250)
	for i := range vs {
		vs[i] = makeVector(t, r)
	}
	got, err := json.MarshalIndent(vs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "ot_vectors.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with go test -run TestOTVectors -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with shared/ot: run go test -run TestOTVectors -update here, then node --test clients/js/test/", path)
	}
}
