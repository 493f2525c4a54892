package ot

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzDoc is the document FuzzDecode applies decoded ops to: ASCII, CRLF,
// an emoji, a ZWJ sequence, a combining mark and CJK (28 UTF-16 units).
const fuzzDoc = "ab\r\n😀 " + family + " " + acute + " 中文 xyz"

// FuzzDecode feeds Decode arbitrary bytes, because ops come straight off the
// wire.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`[]`, `[1,"x",-1]`, `[28]`, `[5,"👍",-2,21]`,
		`["\ud800"]`, `["k\udc00",3]`, `["\ud83d\ude00"]`, `["\ufffd\ud800"]`, `["\\ud800"]`,
		"[\"a\xff\"]", "[\"\uFFFD\"]", `["\uFFFD"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecode)
}

// checkDecode is FuzzDecode's body: decoded ops must keep their inserts as
// sent, round-trip, normalize without changing meaning, and apply without
// panicking.
func checkDecode(t *testing.T, data []byte) {
	{
		op, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// An insert holds U+FFFD only where the client sent one (as UTF-8
		// or as an escape), never where decoding made one from invalid
		// UTF-8 or a lone surrogate escape.
		made := 0
		for _, c := range op {
			made += strings.Count(c.S, "\uFFFD")
		}
		if sent := bytes.Count(data, []byte("\uFFFD")) + bytes.Count(bytes.ToLower(data), []byte(`\ufffd`)); made > sent {
			t.Fatalf("Decode(%q) = %v: %d U+FFFD in the inserts, %d sent", data, op, made, sent)
		}
		if err := op.Validate(); err != nil {
			t.Fatalf("decoded op %v fails Validate: %v", op, err)
		}
		enc, err := op.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON(%v): %v", op, err)
		}
		back, err := Decode(enc)
		if err != nil || !slices.Equal(back, op) {
			t.Fatalf("Decode(MarshalJSON) = %v, %v, want %v (json %s)", back, err, op, enc)
		}
		if enc2, _ := back.MarshalJSON(); string(enc2) != string(enc) {
			t.Fatalf("re-encoding differs: %s vs %s", enc2, enc)
		}
		norm := op.Normalize()
		if norm.BaseLen() != op.BaseLen() || norm.TargetLen() != op.TargetLen() {
			t.Fatalf("Normalize changed lengths: %v -> %v", op, norm)
		}
		got, err := Apply(fuzzDoc, op)
		if err == nil && (!utf8.ValidString(got) || UTF16Len(got) != op.TargetLen()) {
			t.Fatalf("Apply(%q, %v) = %q, bad result", fuzzDoc, op, got)
		}
		if err == nil {
			if gotN, err := Apply(fuzzDoc, norm); err != nil || gotN != got {
				t.Fatalf("Apply(normalized %v) = %q, %v, want %q", norm, gotN, err, got)
			}
		}
		// On an ASCII document of the right length every decoded op applies.
		if bl := op.BaseLen(); bl <= 1<<16 {
			ascii := strings.Repeat("a", bl)
			got, err := Apply(ascii, op)
			if err != nil {
				t.Fatalf("Apply(%d×a, %v): %v", bl, op, err)
			}
			if gotN, err := Apply(ascii, norm); err != nil || gotN != got {
				t.Fatalf("Apply(normalized %v) = %q, %v, want %q", norm, gotN, err, got)
			}
		}
	}
}

// FuzzApplyTransform checks convergence on arbitrary documents and wire ops,
// where hand-written cases miss edge combinations.
func FuzzApplyTransform(f *testing.F) {
	f.Add("hello world", `[6,-5,"there"]`, `[5,"!",6]`)
	f.Add("a😀b", `[1,-2,1]`, `[3,"x",1]`)
	f.Add(family, `[3,-2,3]`, `[8,"!"]`)
	f.Add(acute, `[1,"\u0308",1]`, `[-2]`)
	f.Add("", `["x"]`, `["y"]`)
	f.Fuzz(checkApplyTransform)
}

// checkApplyTransform is FuzzApplyTransform's body: two decoded ops that
// apply to doc must transform, converge, compose and diff consistently.
func checkApplyTransform(t *testing.T, doc, aJSON, bJSON string) {
	{
		a, errA := Decode([]byte(aJSON))
		b, errB := Decode([]byte(bJSON))
		if errA != nil || errB != nil {
			return
		}
		if !utf8.ValidString(doc) {
			if _, err := Apply(doc, a); err == nil {
				t.Fatalf("Apply on invalid UTF-8 %q succeeded", doc)
			}
			return
		}
		// Pad short ops with a retain so the fuzzer reaches Transform often.
		n := UTF16Len(doc)
		if d := n - a.BaseLen(); d > 0 {
			a = append(a, Retain(d))
		}
		if d := n - b.BaseLen(); d > 0 {
			b = append(b, Retain(d))
		}
		da, err := Apply(doc, a)
		if err != nil {
			return
		}
		db, err := Apply(doc, b)
		if err != nil {
			return
		}
		ap, bp, err := Transform(a, b)
		if err != nil {
			t.Fatalf("Transform(%v, %v): %v", a, b, err)
		}
		left, err := Apply(da, bp)
		if err != nil {
			t.Fatalf("Apply(a-result, b'=%v): %v", bp, err)
		}
		right, err := Apply(db, ap)
		if err != nil {
			t.Fatalf("Apply(b-result, a'=%v): %v", ap, err)
		}
		if left != right {
			t.Fatalf("a·b' = %q, b·a' = %q", left, right)
		}
		c, err := Compose(a, bp)
		if err != nil {
			t.Fatalf("Compose(%v, %v): %v", a, bp, err)
		}
		if got, err := Apply(doc, c); err != nil || got != left {
			t.Fatalf("Apply(Compose) = %q, %v, want %q", got, err, left)
		}
		if d := Diff(doc, left); mustApply(t, doc, d) != left {
			t.Fatalf("Diff(%q, %q) = %v does not reproduce", doc, left, d)
		}
		for idx := 0; idx <= n; idx++ {
			if got := TransformIndex(a, idx, true); got < 0 || got > UTF16Len(da) {
				t.Fatalf("TransformIndex(%v, %d) = %d out of range", a, idx, got)
			}
		}
	}
}
