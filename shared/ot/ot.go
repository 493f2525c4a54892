// Package ot implements operational transformation for plain text in the
// wire format of the pairpad protocol (docs/protocol.md) (the ot.js / ShareDB text style).
//
// An operation is a JSON array whose items are a positive integer (retain
// that many units), a non-empty string (insert it) or a negative integer
// (delete that many units). All lengths and positions count UTF-16 code
// units, because that is what JavaScript strings and browser editors count;
// documents stay Go (UTF-8) strings and are converted at the boundary. The
// retains and deletes of an operation cover the whole base text.
//
// Every function validates its input and returns an error wrapping one of
// the sentinel errors below instead of panicking or producing invalid UTF-8,
// because operations arrive from untrusted clients.
package ot

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/pairpad/pairpad/shared/jsonwire"
)

// Limits of the wire format.
const (
	// MaxComponents is the most components Decode accepts in one operation,
	// so that a single hostile message cannot make the server transform it
	// against a long history at unbounded cost; an editor's keystroke batch
	// or a Diff has a handful of components, and even a replace-all over a
	// large file rarely needs more than a few thousand.
	MaxComponents = 10000

	// MaxCount is the largest retain or delete count (in either sign) that
	// Decode and Validate accept, so counts fit JavaScript's int32 bitwise
	// range and sums of up to MaxComponents of them never overflow an int.
	MaxCount = math.MaxInt32
)

// Sentinel errors; every error returned by this package wraps one of them
// (use errors.Is) and adds which component was at fault.
var (
	// ErrMalformed reports an operation that is not well formed: bad JSON,
	// an item that is not a non-zero integer or non-empty string, a count
	// out of range, an insert that is not valid UTF-8, or too many
	// components.
	ErrMalformed = errors.New("ot: malformed operation")

	// ErrBaseLength reports an operation whose retains and deletes do not
	// cover exactly the document (or the other operation) it is used with.
	ErrBaseLength = errors.New("ot: base length mismatch")

	// ErrSurrogate reports an operation boundary that falls between the two
	// UTF-16 units of a non-BMP character, which has no UTF-8 equivalent.
	ErrSurrogate = errors.New("ot: operation splits a surrogate pair")

	// ErrInvalidUTF8 reports a document that is not valid UTF-8, which
	// Apply rejects because its result must be valid UTF-8.
	ErrInvalidUTF8 = errors.New("ot: document is not valid UTF-8")
)

// Component is one item of an operation: N>0 retains N units, N<0 deletes
// -N units, S!="" inserts S; exactly one of N and S is non-zero.
type Component struct {
	N int
	S string
}

// Op is a text operation, a sequence of components that walks the whole
// base document from start to end.
type Op []Component

// Retain returns a component retaining n UTF-16 units, for building ops in
// Go without remembering the sign convention.
func Retain(n int) Component { return Component{N: n} }

// Insert returns a component inserting s, for building ops in Go.
func Insert(s string) Component { return Component{S: s} }

// Delete returns a component deleting n UTF-16 units, for building ops in
// Go without remembering the sign convention.
func Delete(n int) Component { return Component{N: -n} }

// IsRetain reports whether c retains text.
func (c Component) IsRetain() bool { return c.S == "" && c.N > 0 }

// IsInsert reports whether c inserts text.
func (c Component) IsInsert() bool { return c.S != "" && c.N == 0 }

// IsDelete reports whether c deletes text.
func (c Component) IsDelete() bool { return c.S == "" && c.N < 0 }

// String renders c the way it appears on the wire, for error messages and
// test failures.
func (c Component) String() string {
	if c.S != "" && c.N == 0 {
		return string(jsonwire.AppendString(nil, c.S))
	}
	if c.S == "" {
		return fmt.Sprint(c.N)
	}
	return fmt.Sprintf("{N:%d S:%q}", c.N, c.S)
}

// validate checks one component in isolation; i is its index for the error.
func (c Component) validate(i int) error {
	switch {
	case c.S != "" && c.N != 0:
		return fmt.Errorf("%w: component %d has both a count (%d) and an insert", ErrMalformed, i, c.N)
	case c.S != "":
		if !utf8.ValidString(c.S) {
			return fmt.Errorf("%w: component %d inserts invalid UTF-8", ErrMalformed, i)
		}
	case c.N == 0:
		return fmt.Errorf("%w: component %d is empty (zero count, empty insert)", ErrMalformed, i)
	case c.N > MaxCount || c.N < -MaxCount:
		return fmt.Errorf("%w: component %d count %d is outside ±%d", ErrMalformed, i, c.N, MaxCount)
	}
	return nil
}

// Validate reports whether o is well formed on its own (every component is
// exactly one of retain, insert, delete; counts within MaxCount; inserts
// valid UTF-8), so ops built in Go can be checked like decoded ones; it does
// not limit the number of components, because Compose may legitimately
// produce longer ops than a client may send.
func (o Op) Validate() error {
	for i, c := range o {
		if err := c.validate(i); err != nil {
			return err
		}
	}
	return nil
}

// BaseLen returns the UTF-16 length of the document o applies to (the sum
// of retains and deletes), so callers can check an op against a document
// or another op before using it.
func (o Op) BaseLen() int {
	n := 0
	for _, c := range o {
		switch {
		case c.S != "":
		case c.N > 0:
			n += c.N
		default:
			n -= c.N
		}
	}
	return n
}

// TargetLen returns the UTF-16 length of the document o produces (the sum
// of retains and inserts), so callers can chain ops without applying them.
func (o Op) TargetLen() int {
	n := 0
	for _, c := range o {
		switch {
		case c.S != "":
			n += UTF16Len(c.S)
		case c.N > 0:
			n += c.N
		}
	}
	return n
}

// IsNoop reports whether o leaves every document it applies to unchanged
// (it only retains), so servers can skip broadcasting it.
func (o Op) IsNoop() bool {
	for _, c := range o {
		if c.S != "" || c.N < 0 {
			return false
		}
	}
	return true
}

// Normalize returns the canonical form of o: empty components dropped,
// adjacent components of the same kind merged, and an insert placed before
// a delete at the same position (so equal edits compare equal). It keeps
// the trailing retain, because retains and deletes must cover the whole
// base text. Any other malformed component is kept as is, unmerged, so
// Validate still rejects the result.
func (o Op) Normalize() Op {
	var b builder
	b.out = make(Op, 0, len(o))
	for i, c := range o {
		switch {
		case c == Component{}:
		case c.validate(i) != nil:
			b.flush()
			b.out = append(b.out, c)
		case c.S != "":
			b.insert(c.S)
		case c.N > 0:
			b.retain(c.N)
		case c.N < 0:
			b.delete(-c.N)
		}
	}
	return b.op()
}

// builder accumulates components into a normalized op. Inserts and deletes
// between two retains are buffered and emitted as at most one insert
// followed by at most one delete. A lone insert keeps its original string;
// only merged inserts are copied, once, which keeps building linear in the
// size of the text.
type builder struct {
	out   Op
	ins   string          // pending insert while it is a single piece
	more  strings.Builder // pending insert once a second piece arrives
	multi bool            // whether more holds the pending insert
	del   int
}

func (b *builder) retain(n int) {
	if n <= 0 {
		return
	}
	b.flush()
	if k := len(b.out) - 1; k >= 0 && b.out[k].S == "" && b.out[k].N > 0 {
		b.out[k].N += n
		return
	}
	b.out = append(b.out, Component{N: n})
}

func (b *builder) insert(s string) {
	switch {
	case s == "":
	case b.multi:
		b.more.WriteString(s)
	case b.ins == "":
		b.ins = s
	default:
		b.more.Grow(len(b.ins) + len(s))
		b.more.WriteString(b.ins)
		b.more.WriteString(s)
		b.ins, b.multi = "", true
	}
}

func (b *builder) delete(n int) {
	if n > 0 {
		b.del += n
	}
}

func (b *builder) flush() {
	if b.multi {
		b.out = append(b.out, Component{S: b.more.String()})
		b.more.Reset()
		b.multi = false
	} else if b.ins != "" {
		b.out = append(b.out, Component{S: b.ins})
		b.ins = ""
	}
	if b.del > 0 {
		b.out = append(b.out, Component{N: -b.del})
		b.del = 0
	}
}

func (b *builder) op() Op {
	b.flush()
	if b.out == nil {
		return Op{}
	}
	return b.out
}
