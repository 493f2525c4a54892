package ot

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// atoms are the pieces random texts are made of: ASCII, line endings,
// surrogate pairs, a ZWJ sequence, a combining mark and CJK, with pairs
// sharing UTF-8 prefix bytes (😀😁, 中丮) or suffix bytes (é©).
var atoms = []string{"a", "b", "z", " ", "\n", "\r\n", "\t", "😀", "😁", "👍", family, acute, "\u0301", "中", "丮", "文", "é", "©"}

// lookalikes are characters whose UTF-8 encodings share leading or
// trailing bytes, so byte-wise prefix and suffix scans stop mid-character.
var lookalikes = []string{"é", "©", "😀", "😁", "中", "丮", "a"}

// genText draws a random document of up to maxAtoms atoms.
func genText(maxAtoms int) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		return strings.Join(rapid.SliceOfN(rapid.SampledFrom(atoms), 0, maxAtoms).Draw(t, "atoms"), "")
	})
}

// runeUnits lists the UTF-16 length of each character of doc.
func runeUnits(doc string) []int {
	var u []int
	for _, r := range doc {
		if r >= 0x10000 {
			u = append(u, 2)
		} else {
			u = append(u, 1)
		}
	}
	return u
}

// drawOp draws a random valid op on doc, not necessarily normalized: its
// retains and deletes stop only at character boundaries.
func drawOp(t *rapid.T, doc, label string) Op {
	units := runeUnits(doc)
	op := Op{}
	for i := 0; ; {
		if i == len(units) {
			if rapid.Bool().Draw(t, label+" insert at end") {
				op = append(op, Component{S: genText(3).Filter(func(s string) bool { return s != "" }).Draw(t, label+" text")})
			}
			return op
		}
		kind := rapid.IntRange(0, 3).Draw(t, label+" kind")
		if kind == 0 {
			op = append(op, Component{S: genText(3).Filter(func(s string) bool { return s != "" }).Draw(t, label+" text")})
			continue
		}
		k := rapid.IntRange(1, min(len(units)-i, 6)).Draw(t, label+" len")
		n := 0
		for _, u := range units[i : i+k] {
			n += u
		}
		i += k
		if kind == 2 {
			n = -n
		}
		op = append(op, Component{N: n})
	}
}

// TestPropTP1 checks both orders of two concurrent ops converge
// (transformation property 1).
func TestPropTP1(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		doc := genText(12).Draw(t, "doc")
		a := drawOp(t, doc, "a")
		b := drawOp(t, doc, "b")
		ap, bp, err := Transform(a, b)
		if err != nil {
			t.Fatalf("Transform(%v, %v): %v", a, b, err)
		}
		left, err := Apply(mustApplyR(t, doc, a), bp)
		if err != nil {
			t.Fatalf("Apply b' = %v after a: %v", bp, err)
		}
		right, err := Apply(mustApplyR(t, doc, b), ap)
		if err != nil {
			t.Fatalf("Apply a' = %v after b: %v", ap, err)
		}
		if left != right {
			t.Fatalf("got a·b' = %q, b·a' = %q, want equal", left, right)
		}
		if !slices.Equal(ap, ap.Normalize()) || !slices.Equal(bp, bp.Normalize()) {
			t.Fatalf("got unnormalized results %v, %v", ap, bp)
		}
		if err := Canonical(ap); err != nil {
			t.Fatalf("Transform gave a' = %v: %v", ap, err)
		}
		if err := Canonical(bp); err != nil {
			t.Fatalf("Transform gave b' = %v: %v", bp, err)
		}
		// Cursors of a's author converge on both sides too.
		for idx := 0; idx <= UTF16Len(doc); idx++ {
			viaA := TransformIndex(bp, TransformIndex(a, idx, false), false)
			viaB := TransformIndex(ap, TransformIndex(b, idx, false), false)
			if viaA < 0 || viaA > UTF16Len(left) || viaB < 0 || viaB > UTF16Len(left) {
				t.Fatalf("cursor %d moved out of range: %d, %d", idx, viaA, viaB)
			}
		}
	})
}

// TestPropCompose checks Compose agrees with applying the two ops in turn.
func TestPropCompose(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		doc := genText(12).Draw(t, "doc")
		a := drawOp(t, doc, "a")
		mid := mustApplyR(t, doc, a)
		b := drawOp(t, mid, "b")
		c, err := Compose(a, b)
		if err != nil {
			t.Fatalf("Compose(%v, %v): %v", a, b, err)
		}
		want := mustApplyR(t, mid, b)
		got, err := Apply(doc, c)
		if err != nil || got != want {
			t.Fatalf("Apply(doc, %v) = %q, %v, want %q", c, got, err, want)
		}
		if !slices.Equal(c, c.Normalize()) {
			t.Fatalf("got unnormalized %v", c)
		}
		if err := Canonical(c); err != nil {
			t.Fatalf("Compose gave %v: %v", c, err)
		}
	})
}

// TestPropDiff checks Diff always reproduces the new text.
func TestPropDiff(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var old, new string
		switch rapid.IntRange(0, 2).Draw(t, "how") {
		case 0: // independent texts
			old, new = genText(12).Draw(t, "old"), genText(12).Draw(t, "new")
		case 1: // texts over characters whose UTF-8 forms share bytes
			look := rapid.SliceOfN(rapid.SampledFrom(lookalikes), 0, 6)
			old = strings.Join(look.Draw(t, "old"), "")
			new = strings.Join(look.Draw(t, "new"), "")
		default: // an edit of old
			old = genText(12).Draw(t, "old")
			new = mustApplyR(t, old, drawOp(t, old, "edit"))
		}
		// A shared padding on both sides exercises the block-wise scans.
		pre := strings.Repeat(genText(4).Draw(t, "pre"), rapid.IntRange(0, 40).Draw(t, "preN"))
		suf := strings.Repeat(genText(4).Draw(t, "suf"), rapid.IntRange(0, 40).Draw(t, "sufN"))
		old, new = pre+old+suf, pre+new+suf
		d := Diff(old, new)
		got, err := Apply(old, d)
		if err != nil || got != new {
			t.Fatalf("Apply(%q, Diff = %v) = %q, %v, want %q", old, d, got, err, new)
		}
		if len(d) > 4 || !slices.Equal(d, d.Normalize()) {
			t.Fatalf("Diff = %v, want a normalized op of at most 4 components", d)
		}
		if err := Canonical(d); err != nil {
			t.Fatalf("Diff gave %v: %v", d, err)
		}
	})
}

// TestPropCanonical checks Canonical accepts exactly the ops Normalize
// leaves unchanged, and names a rule that the op breaks otherwise.
func TestPropCanonical(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		doc := genText(12).Draw(t, "doc")
		op := drawOp(t, doc, "op")
		n := op.Normalize()
		if err := Canonical(n); err != nil {
			t.Fatalf("Normalize gave %v: %v", n, err)
		}
		err := Canonical(op)
		if (err == nil) != slices.Equal(op, n) {
			t.Fatalf("Canonical(%v) = %v, but Normalize gives %v", op, err, n)
		}
		var nc *NotCanonical
		if err != nil && (!errors.As(err, &nc) || !errors.Is(err, ErrNotCanonical) || nc.Index < 1 || nc.Index >= len(op)) {
			t.Fatalf("Canonical(%v) = %v: want a *NotCanonical naming a component", op, err)
		}
	})
}

// genWildOp draws any op at all, mostly invalid: zero and extreme counts,
// both fields set, inserts with invalid UTF-8.
func genWildOp() *rapid.Generator[Op] {
	counts := rapid.OneOf(rapid.IntRange(-12, 12), rapid.SampledFrom([]int{math.MinInt, math.MaxInt, MaxCount, MaxCount + 1, -MaxCount - 1}))
	texts := rapid.OneOf(rapid.Just(""), rapid.SampledFrom(atoms), rapid.SampledFrom([]string{"\xff", "\xed\xa0\x80", "a\xf0\x9f", "\xc3"}))
	comp := rapid.Custom(func(t *rapid.T) Component {
		switch rapid.IntRange(0, 3).Draw(t, "shape") {
		case 0:
			return Component{S: texts.Draw(t, "s")}
		case 1:
			return Component{N: counts.Draw(t, "n"), S: texts.Draw(t, "s")}
		default:
			return Component{N: counts.Draw(t, "n")}
		}
	})
	return rapid.Custom(func(t *rapid.T) Op { return Op(rapid.SliceOfN(comp, 0, 8).Draw(t, "comps")) })
}

// TestPropApplyNeverPanics checks Apply on arbitrary, mostly invalid ops
// errors cleanly or returns valid text.
func TestPropApplyNeverPanics(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		doc := genText(8).Draw(t, "doc")
		if rapid.Bool().Draw(t, "corrupt doc") {
			doc += "\xff"
		}
		o := genWildOp().Draw(t, "op")
		if rapid.Bool().Draw(t, "fit") {
			// Make the base length match more often so the success path is exercised.
			if d := UTF16Len(doc) - o.BaseLen(); d > 0 {
				o = append(o, Retain(d))
			}
		}
		got, err := Apply(doc, o)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBaseLength) && !errors.Is(err, ErrSurrogate) && !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("Apply error %v wraps no sentinel", err)
			}
			return
		}
		if !utf8.ValidString(got) || UTF16Len(got) != o.TargetLen() {
			t.Fatalf("Apply(%q, %v) = %q: valid=%v, len %d, want len %d", doc, o, got, utf8.ValidString(got), UTF16Len(got), o.TargetLen())
		}
		// Everything else must not panic on the same input either.
		_, _, _ = Transform(o, o)
		_, _ = Compose(o, o)
		_ = TransformIndex(o, len(doc)/2, true)
		_ = o.Normalize()
	})
}

// TestPropRoundTrip checks normalized ops survive encode and decode
// unchanged.
func TestPropRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		doc := genText(12).Draw(t, "doc")
		o := drawOp(t, doc, "op").Normalize()
		data, err := o.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON(%v): %v", o, err)
		}
		back, err := Decode(data)
		if err != nil || !slices.Equal(back, o) {
			t.Fatalf("Decode(%s) = %v, %v, want %v", data, back, err, o)
		}
	})
}

// badItems are JSON array items Decode must reject.
var badItems = []string{
	`0`, `-0`, `1.5`, `1.0`, `-2.0`, `1e3`, `1E+2`, `-1e0`, `2147483648`, `-2147483648`,
	`99999999999999999999`, `""`, `true`, `false`, `null`, `{}`, `{"a":1}`, `[]`, `[1]`,
	`01`, `+1`, `.5`, `NaN`, `"unterminated`, `,`, `'a'`, `1 2`,
}

// TestPropMalformedRejected checks corrupted encodings of valid ops are
// always rejected.
func TestPropMalformedRejected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		doc := genText(6).Draw(t, "doc")
		o := drawOp(t, doc, "op")
		items := make([]string, 0, len(o)+1)
		for _, c := range o {
			b, err := Op{c}.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON(%v): %v", c, err)
			}
			items = append(items, string(b[1:len(b)-1]))
		}
		var data string
		switch rapid.IntRange(0, 2).Draw(t, "how") {
		case 0: // one bad item somewhere
			at := rapid.IntRange(0, len(items)).Draw(t, "at")
			items = slices.Insert(items, at, rapid.SampledFrom(badItems).Draw(t, "bad"))
			data = "[" + strings.Join(items, ",") + "]"
		case 1: // not an array at all
			wrap := rapid.SampledFrom([]string{`{"ops":[%s]}`, `%s`, `"[%s]"`, `[[%s]]`, `[%s]]`, `[%s] []`, `[%s`, `null`}).Draw(t, "wrap")
			data = strings.Replace(wrap, "%s", strings.Join(items, ","), 1)
		default: // truncated
			full := "[" + strings.Join(items, ",") + "]"
			data = full[:rapid.IntRange(0, len(full)-1).Draw(t, "cut")]
		}
		if got, err := Decode([]byte(data)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Decode(%s) = %v, %v, want ErrMalformed", data, got, err)
		}
	})
}

func mustApplyR(t *rapid.T, doc string, o Op) string {
	got, err := Apply(doc, o)
	if err != nil {
		t.Fatalf("Apply(%q, %v): %v", doc, o, err)
	}
	return got
}
