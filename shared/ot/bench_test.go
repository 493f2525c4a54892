package ot

import (
	"strings"
	"testing"
)

// benchDoc is a 256 KiB document of code-like ASCII lines with an emoji, a
// CJK word and a combining mark on every 16th line.
var benchDoc = func() string {
	var sb strings.Builder
	for i := 0; sb.Len() < 256<<10; i++ {
		if i%16 == 0 {
			sb.WriteString("\t// 😀 注释 cafe\u0301\r\n")
		} else {
			sb.WriteString("\tfmt.Println(\"hello, world\", x+y)\n")
		}
	}
	return sb.String()[:256<<10-64] + strings.Repeat("z", 64)
}()

// benchMid is the UTF-16 offset of an ASCII line near benchDoc's middle.
var benchMid = func() int {
	half := len(benchDoc) / 2
	return UTF16Len(benchDoc[:half+strings.Index(benchDoc[half:], "\tfmt")])
}()

// fewOp inserts text and deletes 5 units at offset at of a document of n
// UTF-16 units.
func fewOp(n, at int, text string) Op {
	return Op{{N: at}, {S: text}, {N: -5}, {N: n - at - 5}}
}

// manyOp retains, replaces and deletes on each ASCII line of benchDoc,
// about three components per 36-byte line.
func manyOp(doc string, text string) Op {
	var b builder
	start := 0
	for start < len(doc) {
		nl := strings.IndexByte(doc[start:], '\n')
		if nl < 0 {
			b.retain(UTF16Len(doc[start:]))
			break
		}
		line := doc[start : start+nl+1]
		if strings.HasPrefix(line, "\tfmt") && len(b.out) < MaxComponents-3 {
			b.retain(1)
			b.insert(text)
			b.delete(3)
			b.retain(UTF16Len(line) - 4)
		} else {
			b.retain(UTF16Len(line))
		}
		start += nl + 1
	}
	return b.op()
}

// BenchmarkApply256K measures Apply on a 256 KiB document, since every
// accepted op is applied to the whole text.
func BenchmarkApply256K(b *testing.B) {
	n := UTF16Len(benchDoc)
	few := fewOp(n, benchMid, "inserted")
	many := manyOp(benchDoc, "log")
	b.Run("few", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchDoc)))
		for b.Loop() {
			if _, err := Apply(benchDoc, few); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("many", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchDoc)))
		for b.Loop() {
			if _, err := Apply(benchDoc, many); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(many)), "components")
	})
}

// BenchmarkTransform256K measures Transform of two ops on a 256 KiB
// document, the per-op cost of rebasing on history.
func BenchmarkTransform256K(b *testing.B) {
	n := UTF16Len(benchDoc)
	fa, fb := fewOp(n, benchMid, "left"), fewOp(n, benchMid+2, "right")
	ma, mb := manyOp(benchDoc, "aa"), manyOp(benchDoc, "bbb")
	b.Run("few", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Transform(fa, fb); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("many", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Transform(ma, mb); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(ma)), "components")
	})
}

// BenchmarkDiff256K measures Diff of a 256 KiB document after a small edit,
// the cost of each fullCode message.
func BenchmarkDiff256K(b *testing.B) {
	n := UTF16Len(benchDoc)
	edited, err := Apply(benchDoc, fewOp(n, benchMid, "typed"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchDoc)))
	for b.Loop() {
		if d := Diff(benchDoc, edited); len(d) != 4 {
			b.Fatalf("Diff = %v, want 4 components", d)
		}
	}
}
