package ot

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pairpad/pairpad/shared/jsonstr"
)

const (
	family = "👩\u200d👩\u200d👧" // 8 UTF-16 units: 2+1+2+1+2
	acute  = "e\u0301"         // 2 units
)

// ops builds an Op from wire-like items: int for retain/delete, string for insert.
func ops(items ...any) Op {
	o := Op{}
	for _, it := range items {
		switch v := it.(type) {
		case int:
			o = append(o, Component{N: v})
		case string:
			o = append(o, Component{S: v})
		}
	}
	return o
}

// TestUTF16Len checks unit counting, since every length in an op depends on
// it.
func TestUTF16Len(t *testing.T) {
	tests := []struct {
		s    string
		want int
	}{
		{"", 0},
		{"hello", 5},
		{"😀", 2},
		{family, 8},
		{acute, 2},
		{"a\r\nb", 4},
		{"中文字", 3},
		{"\xff", 1},
		{strings.Repeat("abcdefgh", 3) + "😀x", 27},
	}
	for _, tt := range tests {
		if got := UTF16Len(tt.s); got != tt.want {
			t.Errorf("UTF16Len(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

// TestApply covers each text family (ASCII, emoji, ZWJ, combining, CRLF,
// CJK) and every error class.
func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		op      Op
		want    string
		wantErr error
	}{
		{"empty", "", ops(), "", nil},
		{"insert into empty", "", ops("hi"), "hi", nil},
		{"ascii replace", "hello world", ops(6, -5, "there"), "hello there", nil},
		{"ascii insert-before-delete", "hello world", ops(6, "there", -5), "hello there", nil},
		{"retain all", "abc", ops(3), "abc", nil},
		{"delete all", "abc", ops(-3), "", nil},
		{"emoji delete", "a😀b", ops(1, -2, 1), "ab", nil},
		{"emoji insert before", "a😀b", ops(1, "x", 3), "ax😀b", nil},
		{"emoji split retain", "a😀b", ops(2, -2), "", ErrSurrogate},
		{"emoji split delete", "a😀b", ops(1, -1, 2), "", ErrSurrogate},
		{"zwj delete middle woman", family, ops(3, -2, 3), "👩\u200d\u200d👧", nil},
		{"zwj split", family, ops(4, -4), "", ErrSurrogate},
		{"zwj delete all", family, ops(-8), "", nil},
		{"combining drop accent", acute + "x", ops(1, -1, 1), "ex", nil},
		{"combining insert between", acute, ops(1, "\u0308", 1), "e\u0308\u0301", nil},
		{"crlf keep", "a\r\nb", ops(2, -1, 1), "a\rb", nil},
		{"crlf insert", "a\r\nb", ops(3, "c\r\n", 1), "a\r\nc\r\nb", nil},
		{"cjk", "中文字", ops(1, -1, "国", 1), "中国字", nil},
		{"too short", "abc", ops(2), "", ErrBaseLength},
		{"too long", "abc", ops(4), "", ErrBaseLength},
		{"delete too long", "abc", ops(1, -5), "", ErrBaseLength},
		{"insert only on nonempty", "abc", ops("x"), "", ErrBaseLength},
		{"zero component", "abc", Op{{}}, "", ErrMalformed},
		{"both set", "abc", Op{{N: 3, S: "x"}}, "", ErrMalformed},
		{"invalid insert", "abc", ops(3, "\xff"), "", ErrMalformed},
		{"min int", "abc", Op{{N: math.MinInt}}, "", ErrMalformed},
		{"max int", "abc", Op{{N: math.MaxInt}}, "", ErrMalformed},
		{"huge in range", "abc", ops(MaxCount), "", ErrBaseLength},
		{"invalid doc", "a\xffb", ops(3), "", ErrInvalidUTF8},
		{"invalid doc tail", "ab\xff", ops(2), "", ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply(tt.doc, tt.op)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Apply(%q, %v) error = %v, want %v", tt.doc, tt.op, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("Apply(%q, %v) = %q, want %q", tt.doc, tt.op, got, tt.want)
			}
		})
	}
}

// TestApplyErrorContext checks errors name the bad component, so client bugs
// can be traced.
func TestApplyErrorContext(t *testing.T) {
	_, err := Apply("a😀b", ops(1, "x", -1, 2))
	if err == nil || !strings.Contains(err.Error(), "component 2") {
		t.Errorf("got %v, want an error naming component 2", err)
	}
}

// TestLengthsAndNoop checks BaseLen, TargetLen and IsNoop, which servers use
// before applying.
func TestLengthsAndNoop(t *testing.T) {
	o := ops(3, "😀x", -2, 1)
	if got, want := o.BaseLen(), 6; got != want {
		t.Errorf("BaseLen = %d, want %d", got, want)
	}
	if got, want := o.TargetLen(), 7; got != want {
		t.Errorf("TargetLen = %d, want %d", got, want)
	}
	for _, tt := range []struct {
		op   Op
		want bool
	}{{ops(), true}, {ops(5), true}, {ops(2, 3), true}, {ops("a"), false}, {ops(-1), false}} {
		if got := tt.op.IsNoop(); got != tt.want {
			t.Errorf("%v.IsNoop() = %v, want %v", tt.op, got, tt.want)
		}
	}
}

// TestNormalize checks merging and insert-before-delete ordering, so equal
// edits compare equal.
func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want Op
	}{
		{ops(), ops()},
		{nil, ops()},
		{ops(1, 2, 3), ops(6)},
		{ops(-1, "a", -2, "b", 3), ops("ab", -3, 3)},
		{ops(2, -1, "x"), ops(2, "x", -1)},
		{Op{{N: 1}, {}, {N: 1}}, ops(2)},
		{ops("a", "b", -1, -1), ops("ab", -2)},
		{Op{{N: 1}, {N: 1, S: "x"}, {N: 1}}, Op{{N: 1}, {N: 1, S: "x"}, {N: 1}}},
		{ops("😀", 3), ops("😀", 3)},
	}
	for _, tt := range tests {
		if got := tt.in.Normalize(); !slices.Equal(got, tt.want) {
			t.Errorf("%v.Normalize() = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestTransform checks exact results and the tie-break, which must match the
// clients bit for bit.
func TestTransform(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		a, b   Op
		want   string
		wantAP Op
		wantBP Op
	}{
		{"tie a first", "", ops("x"), ops("y"), "xy", ops("x", 1), ops(1, "y")},
		{"tie in middle", "ab", ops(1, "X", 1), ops(1, "Y", 1), "aXYb", ops(1, "X", 2), ops(2, "Y", 1)},
		{"disjoint", "hello world", ops(5, "!", 6), ops(6, -5, "there"), "hello! there", ops(5, "!", 6), ops(7, "there", -5)},
		{"overlapping deletes", "abcdef", ops(1, -3, 2), ops(2, -3, 1), "af", ops(1, -1, 1), ops(1, -1, 1)},
		{"insert inside delete", "abcdef", ops(1, -4, 1), ops(3, "X", 3), "aXf", ops(1, -2, 1, -2, 1), ops(1, "X", 1)},
		{"emoji both sides", "😀😀", ops(2, "👍", 2), ops(-2, 2), "👍😀", ops("👍", 2), ops(-2, 4)},
		{"zwj delete vs insert", family, ops(3, -2, 3), ops(8, "!"), "👩\u200d\u200d👧!", ops(3, -2, 4), ops(6, "!")},
		{"combining", acute, ops(1, -1), ops(2, "\u0308"), "e\u0308", ops(1, -1, 1), ops(1, "\u0308")},
		{"crlf", "a\r\nb", ops(1, -2, 1), ops(2, "x", 2), "axb", ops(1, -1, 1, -1, 1), ops(1, "x", 1)},
		{"cjk", "中文", ops(1, "国", 1), ops(-1, 1), "国文", ops("国", 1), ops(-1, 2)},
		{"both noop", "abc", ops(3), ops(3), "abc", ops(3), ops(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap, bp, err := Transform(tt.a, tt.b)
			if err != nil {
				t.Fatalf("Transform: %v", err)
			}
			if !slices.Equal(ap, tt.wantAP) || !slices.Equal(bp, tt.wantBP) {
				t.Errorf("Transform(%v, %v) = %v, %v, want %v, %v", tt.a, tt.b, ap, bp, tt.wantAP, tt.wantBP)
			}
			left := mustApply(t, mustApply(t, tt.doc, tt.a), bp)
			right := mustApply(t, mustApply(t, tt.doc, tt.b), ap)
			if left != right || left != tt.want {
				t.Errorf("a then b' = %q, b then a' = %q, want %q", left, right, tt.want)
			}
		})
	}
}

// TestTransformErrors checks mismatched and malformed inputs are rejected
// rather than transformed.
func TestTransformErrors(t *testing.T) {
	if _, _, err := Transform(ops(3), ops(4)); !errors.Is(err, ErrBaseLength) {
		t.Errorf("got %v, want ErrBaseLength", err)
	}
	if _, _, err := Transform(ops(3), Op{{N: 3, S: "x"}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("got %v, want ErrMalformed", err)
	}
}

// TestCompose checks composed ops equal sequential application, and that
// splitting an inserted emoji fails.
func TestCompose(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		a, b    Op
		want    Op
		wantErr error
	}{
		{"ascii", "abc", ops(3, "d"), ops(-1, 3), ops(-1, 2, "d"), nil},
		{"insert then delete it", "ab", ops(1, "xyz", 1), ops(1, -3, 1), ops(2), nil},
		{"insert then partly delete", "ab", ops(1, "xyz", 1), ops(2, -1, 2), ops(1, "xz", 1), nil},
		{"emoji insert then delete it", "", ops("a😀b"), ops(1, -2, 1), ops("ab"), nil},
		{"emoji insert then split", "", ops("a😀b"), ops(2, -2), nil, ErrSurrogate},
		{"zwj", family, ops(8, "x"), ops(-3, 6), ops(-3, 5, "x"), nil},
		{"combining", "e", ops(1, "\u0301"), ops(-1, "E", 1), ops("E\u0301", -1), nil},
		{"crlf", "a\r\nb", ops(1, -2, 1), ops(1, "\r\n", 1), ops(1, "\r\n", -2, 1), nil},
		{"cjk", "中文", ops(-1, 1), ops("国", 1), ops("国", -1, 1), nil},
		{"length mismatch", "abc", ops(3), ops(4), nil, ErrBaseLength},
		{"malformed", "abc", ops(3), Op{{}}, nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compose(tt.a, tt.b)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Compose(%v, %v) error = %v, want %v", tt.a, tt.b, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Compose(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			seq := mustApply(t, mustApply(t, tt.doc, tt.a), tt.b)
			if one := mustApply(t, tt.doc, got); one != seq {
				t.Errorf("apply composed = %q, want %q", one, seq)
			}
		})
	}
}

// TestDiff checks Diff never cuts a character even where UTF-8 encodings
// share bytes.
func TestDiff(t *testing.T) {
	tests := []struct {
		old, new string
		want     Op
	}{
		{"", "", ops()},
		{"abc", "abc", ops(3)},
		{"", "abc", ops("abc")},
		{"abc", "", ops(-3)},
		{"hello world", "hello there world", ops(6, "there ", 5)},
		{"aa", "aaa", ops(2, "a")},
		{"aaa", "aa", ops(2, -1)},
		{"😀", "😁", ops("😁", -2)},                 // share 3 UTF-8 bytes, no UTF-16 unit boundary inside
		{"x😀y", "x😁y", ops(1, "😁", -2, 1)},       // common prefix and suffix around an emoji
		{"é", "©", ops("©", -1)},                 // share only a continuation byte as suffix
		{acute, "e\u0300", ops(1, "\u0300", -1)}, // the base letter is kept, the mark replaced
		{family, "👩\u200d👧", ops(3, -3, 2)},      // deletes "👩\u200d" after the first woman
		{"a\r\nb", "a\nb", ops(1, -1, 2)},
		{"中文字", "中国字", ops(1, "国", -1, 1)},
		{"abc", "a\xffc", ops(1, "\uFFFD", -1, 1)},
	}
	for _, tt := range tests {
		got := Diff(tt.old, tt.new)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Diff(%q, %q) = %v, want %v", tt.old, tt.new, got, tt.want)
		}
		if !utf8.ValidString(tt.new) {
			continue
		}
		if res := mustApply(t, tt.old, got); res != tt.new {
			t.Errorf("Apply(%q, Diff) = %q, want %q", tt.old, res, tt.new)
		}
	}
}

// TestTransformIndex checks cursor movement, including the own/other tie at
// the cursor.
func TestTransformIndex(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		idx  int
		own  bool
		want int
	}{
		{"insert before", ops(1, "xy", 4), 3, false, 5},
		{"insert after", ops(4, "xy", 1), 3, false, 3},
		{"insert at, other", ops(3, "xy", 2), 3, false, 3},
		{"insert at, own", ops(3, "xy", 2), 3, true, 5},
		{"insert at start, own", ops("xy", 5), 0, true, 2},
		{"insert at start, other", ops("xy", 5), 0, false, 0},
		{"delete before", ops(-2, 3), 4, false, 2},
		{"delete spanning", ops(1, -3, 1), 3, false, 1},
		{"delete after", ops(3, -2), 3, false, 3},
		{"replace spanning, own", ops(1, "ab", -3, 1), 2, true, 3},
		{"replace spanning, other", ops(1, "ab", -3, 1), 2, false, 3},
		{"unnormalized delete then insert at idx, own", ops(2, -2, "z", 1), 2, true, 3},
		{"emoji insert before", ops("😀", 3), 1, false, 3},
		{"clamp negative", ops("ab", 3), -5, false, 0},
		{"clamp past end", ops(3, "ab"), 99, false, 3},
		{"clamp past end, own", ops(3, "ab"), 99, true, 5},
	}
	for _, tt := range tests {
		if got := TransformIndex(tt.op, tt.idx, tt.own); got != tt.want {
			t.Errorf("%s: TransformIndex(%v, %d, %v) = %d, want %d", tt.name, tt.op, tt.idx, tt.own, got, tt.want)
		}
	}
}

// TestDecode checks accepted wire forms, including JSON escapes for
// surrogate pairs.
func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want Op
	}{
		{`[]`, ops()},
		{` [ 1 , "a" , -2 ] `, ops(1, "a", -2)},
		{`[2147483647,-2147483647]`, ops(MaxCount, -MaxCount)},
		{`["\ud83d\ude00"]`, ops("😀")},
		{`["\uD83D\uDE00",1]`, ops("😀", 1)},
		{`["\ufffd"]`, ops("\uFFFD")},       // a U+FFFD the client sent
		{"[\"a\uFFFDb\"]", ops("a\uFFFDb")}, // also as UTF-8
		{`["\\ud800"]`, ops(`\ud800`)},      // an escaped backslash, then text
		{`["<&>"]`, ops("<&>")},
		{`[-1,-1]`, ops(-1, -1)}, // not normalized
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if err != nil {
			t.Errorf("Decode(%s): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Decode(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestDecodeRewrite: an insert with invalid UTF-8 or a lone surrogate
// escape is refused with a *TextError naming the component and where in its
// literal, never decoded to U+FFFD: the text stored would not be the text
// sent, and its UTF-16 length would not be the sender's.
func TestDecodeRewrite(t *testing.T) {
	tests := []struct {
		in     string
		index  int
		offset int
		escape string
	}{
		{`["\ud83d"]`, 0, 1, `\ud83d`},
		{`[3,"ab\udc00",-1]`, 1, 3, `\udc00`},
		{`[1, "x", 2,  "ok\uDBFF"]`, 3, 3, `\uDBFF`},
		{`["\ud800\ud800"]`, 0, 1, `\ud800`},
		{`["\udc00\ud800"]`, 0, 1, `\udc00`},
		{`["\ud800\u0041"]`, 0, 1, `\ud800`},
		{`["\\\ud800"]`, 0, 3, `\ud800`},
		{`["😀\ud83d"]`, 0, 5, `\ud83d`},
		{"[\"a\xffb\"]", 0, 2, ""},
		{"[1,\"\xed\xa0\x80\"]", 1, 1, ""}, // a surrogate in CESU-8
		{"[\"\xc3\"]", 0, 1, ""},           // a truncated sequence
	}
	for _, tt := range tests {
		op, err := Decode([]byte(tt.in))
		var te *TextError
		if !errors.As(err, &te) || !errors.Is(err, ErrMalformed) || !errors.Is(err, jsonstr.ErrRewritten) {
			t.Errorf("Decode(%q) = %v, %v; want a TextError", tt.in, op, err)
			continue
		}
		if te.Index != tt.index || te.Rewrite.Offset != tt.offset || te.Rewrite.Escape != tt.escape {
			t.Errorf("Decode(%q): component %d, offset %d, escape %q; want %d, %d, %q",
				tt.in, te.Index, te.Rewrite.Offset, te.Rewrite.Escape, tt.index, tt.offset, tt.escape)
		}
	}
}

// TestDecodeMalformed checks each kind of bad input wraps ErrMalformed,
// since they come from clients.
func TestDecodeMalformed(t *testing.T) {
	bad := []string{
		``, ` `, `null`, `1`, `"a"`, `{}`, `{"ops":[]}`, `true`,
		`[`, `[1`, `[1,`, `[1,]`, `[,1]`, `[1 2]`, `[1]]`, `[1] [2]`, `[1]x`, `]`,
		`[0]`, `[-0]`, `[1.5]`, `[1.0]`, `[1e3]`, `[1E+2]`, `[-1e0]`, `[01]`, `[+1]`, `[.5]`,
		`[2147483648]`, `[-2147483648]`, `[99999999999999999999999]`, `[-99999999999999999999999]`,
		`[""]`, `[true]`, `[false]`, `[null]`, `[[1]]`, `[{}]`, `[{"a":1}]`, `[[]]`,
		`["a"`, `["a]`, `[NaN]`, `[Infinity]`, `[1,"a",null]`,
	}
	for _, in := range bad {
		op, err := Decode([]byte(in))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) = %v, %v, want ErrMalformed", in, op, err)
		}
	}
}

// TestDecodeMaxComponents checks the component limit is exact.
func TestDecodeMaxComponents(t *testing.T) {
	mk := func(n int) []byte {
		return []byte("[" + strings.TrimSuffix(strings.Repeat(`1,"a",`, n/2)+strings.Repeat("1,", n%2), ",") + "]")
	}
	if op, err := Decode(mk(MaxComponents)); err != nil || len(op) != MaxComponents {
		t.Errorf("Decode(%d components) = %d components, %v; want success", MaxComponents, len(op), err)
	}
	if _, err := Decode(mk(MaxComponents + 1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode(%d components) error = %v, want ErrMalformed", MaxComponents+1, err)
	}
}

// TestMarshalJSON checks the canonical encoding and that malformed ops
// cannot be sent.
func TestMarshalJSON(t *testing.T) {
	tests := []struct {
		op   Op
		want string
	}{
		{nil, `[]`},
		{ops(), `[]`},
		{ops(5, "abc", -3), `[5,"abc",-3]`},
		{ops("\"\\\n\r\t\x01<&>\u2028😀"), `["\"\\\n\r\t\u0001<&>\u2028😀"]`},
	}
	for _, tt := range tests {
		got, err := tt.op.MarshalJSON()
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v, want %s", tt.op, got, err, tt.want)
		}
		// encoding/json re-escapes <, > and & in Marshaler output; still the same op.
		viaJSON, err := json.Marshal(tt.op)
		if err != nil {
			t.Fatalf("json.Marshal(%v): %v", tt.op, err)
		}
		back, err := Decode(viaJSON)
		if err != nil || !slices.Equal(back, tt.op.Normalize()) {
			t.Errorf("Decode(%s) = %v, %v, want %v", got, back, err, tt.op)
		}
	}
	for _, bad := range []Op{{{}}, {{N: 1, S: "a"}}, {{S: "\xff"}}, {{N: MaxCount + 1}}} {
		if _, err := json.Marshal(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Marshal(%v) error = %v, want ErrMalformed", bad, err)
		}
	}
}

// TestUnmarshalInStruct checks an Op field in a message gets Decode's
// strictness.
func TestUnmarshalInStruct(t *testing.T) {
	var msg struct {
		Ops Op `json:"ops"`
	}
	if err := json.Unmarshal([]byte(`{"ops":[1,"x",-1]}`), &msg); err != nil || !slices.Equal(msg.Ops, ops(1, "x", -1)) {
		t.Errorf("got %v, %v, want [1 x -1]", msg.Ops, err)
	}
	if err := json.Unmarshal([]byte(`{"ops":[1,0]}`), &msg); !errors.Is(err, ErrMalformed) {
		t.Errorf("got %v, want ErrMalformed", err)
	}
	if err := json.Unmarshal([]byte(`{"ops":null}`), &msg); err == nil {
		t.Errorf("got nil error for null ops, want an error")
	}
}

func mustApply(t testing.TB, doc string, o Op) string {
	t.Helper()
	got, err := Apply(doc, o)
	if err != nil {
		t.Fatalf("Apply(%q, %v): %v", doc, o, err)
	}
	return got
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		op    Op
		rule  string
		index int
	}{
		{Op{}, "", 0},
		{Op{Retain(5)}, "", 0},
		{Op{Retain(2), Insert("x"), Delete(3), Retain(1)}, "", 0},
		{Op{Insert("x"), Delete(3)}, "", 0},
		{Op{Delete(3), Retain(2), Insert("y")}, "", 0},
		{Op{Retain(2), Delete(3), Insert("x")}, RuleInsertFirst, 2},
		{Op{Insert("a"), Delete(1), Insert("b")}, RuleInsertFirst, 2},
		{Op{Retain(1), Retain(2)}, RuleMerged, 1},
		{Op{Insert("a"), Insert("b")}, RuleMerged, 1},
		{Op{Delete(1), Delete(2)}, RuleMerged, 1},
		{Op{Retain(1), {}}, RuleNoEmpty, 1},
	}
	for _, tc := range tests {
		err := Canonical(tc.op)
		var nc *NotCanonical
		switch {
		case tc.rule == "" && err != nil:
			t.Errorf("Canonical(%v) = %v, want nil", tc.op, err)
		case tc.rule != "" && (!errors.As(err, &nc) || nc.Rule != tc.rule || nc.Index != tc.index || !errors.Is(err, ErrNotCanonical)):
			t.Errorf("Canonical(%v) = %v, want rule %s at %d", tc.op, err, tc.rule, tc.index)
		}
	}
}
