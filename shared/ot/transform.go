package ot

import "fmt"

// cursor walks an op component by component, consuming retains, deletes
// and (for Compose) inserts partially. n is what is left of the current
// retain or delete, s of the current insert and sl is UTF16Len(s).
type cursor struct {
	op Op
	i  int
	n  int
	s  string
	sl int
}

func newCursor(op Op) cursor {
	c := cursor{op: op, i: -1}
	c.next()
	return c
}

// next moves to the following component, skipping empty ones.
func (c *cursor) next() {
	c.n, c.s, c.sl = 0, "", 0
	for c.i++; c.i < len(c.op); c.i++ {
		comp := c.op[c.i]
		if comp.S != "" {
			c.s, c.sl = comp.S, UTF16Len(comp.S)
			return
		}
		if comp.N != 0 {
			c.n = abs(comp.N)
			return
		}
	}
}

func (c *cursor) done() bool     { return c.i >= len(c.op) }
func (c *cursor) isInsert() bool { return !c.done() && c.s != "" }
func (c *cursor) isRetain() bool { return !c.done() && c.s == "" && c.op[c.i].N > 0 }
func (c *cursor) isDelete() bool { return !c.done() && c.s == "" && c.op[c.i].N < 0 }

// length is what is left of the current component in UTF-16 units.
func (c *cursor) length() int {
	if c.s != "" {
		return c.sl
	}
	return c.n
}

// take consumes k units (0 < k <= length()) of the current retain or delete.
func (c *cursor) take(k int) {
	c.n -= k
	if c.n == 0 {
		c.next()
	}
}

// takeInsert consumes the first k units (0 < k <= length()) of the current
// insert and returns them; it fails if k ends inside a surrogate pair.
func (c *cursor) takeInsert(k int) (string, error) {
	if k == c.sl {
		s := c.s
		c.next()
		return s, nil
	}
	end, err := advance(c.s, 0, k)
	if err != nil {
		return "", err
	}
	head := c.s[:end]
	c.s, c.sl = c.s[end:], c.sl-k
	return head, nil
}

// checkPair validates both ops and their base lengths for Transform.
func checkPair(a, b Op, what string) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%s: first op: %w", what, err)
	}
	if err := b.Validate(); err != nil {
		return fmt.Errorf("%s: second op: %w", what, err)
	}
	return nil
}

// Transform rebases two concurrent ops on the same document against each
// other: it returns a' (a to apply after b) and b' (b to apply after a)
// with Apply(Apply(d, a), b') == Apply(Apply(d, b), a'). a is the op the
// server applied first and wins ties, so when both insert at the same
// position a's text comes first. Both ops must be valid and have the same
// BaseLen; the results are normalized.
func Transform(a, b Op) (Op, Op, error) {
	if err := checkPair(a, b, "transform"); err != nil {
		return nil, nil, err
	}
	if al, bl := a.BaseLen(), b.BaseLen(); al != bl {
		return nil, nil, fmt.Errorf("%w: transform: first op covers %d UTF-16 units, second %d", ErrBaseLength, al, bl)
	}
	ap := builder{out: make(Op, 0, len(a)+len(b))}
	bp := builder{out: make(Op, 0, len(a)+len(b))}
	ca, cb := newCursor(a), newCursor(b)
	for !ca.done() || !cb.done() {
		if ca.isInsert() {
			ap.insert(ca.s)
			bp.retain(ca.sl)
			ca.next()
			continue
		}
		if cb.isInsert() {
			ap.retain(cb.sl)
			bp.insert(cb.s)
			cb.next()
			continue
		}
		if ca.done() || cb.done() {
			// Unreachable after the BaseLen check unless the sums
			// overflowed; fail rather than loop or panic.
			return nil, nil, fmt.Errorf("%w: transform: ops end at different offsets", ErrBaseLength)
		}
		k := min(ca.length(), cb.length())
		switch {
		case ca.isRetain() && cb.isRetain():
			ap.retain(k)
			bp.retain(k)
		case ca.isDelete() && cb.isRetain():
			ap.delete(k)
		case ca.isRetain() && cb.isDelete():
			bp.delete(k)
		}
		// Both deleting: the text is gone either way.
		ca.take(k)
		cb.take(k)
	}
	return ap.op(), bp.op(), nil
}

// Compose merges a and then b into one op with
// Apply(d, Compose(a, b)) == Apply(Apply(d, a), b), so the server can keep
// a compact history and clients can batch pending edits. It needs
// a.TargetLen() == b.BaseLen(), and fails with ErrSurrogate if b splits a
// non-BMP character that a inserted; the result is normalized.
func Compose(a, b Op) (Op, error) {
	if err := checkPair(a, b, "compose"); err != nil {
		return nil, err
	}
	if at, bl := a.TargetLen(), b.BaseLen(); at != bl {
		return nil, fmt.Errorf("%w: compose: first op produces %d UTF-16 units, second covers %d", ErrBaseLength, at, bl)
	}
	out := builder{out: make(Op, 0, len(a)+len(b))}
	ca, cb := newCursor(a), newCursor(b)
	for !ca.done() || !cb.done() {
		if ca.isDelete() {
			out.delete(ca.n)
			ca.next()
			continue
		}
		if cb.isInsert() {
			out.insert(cb.s)
			cb.next()
			continue
		}
		if ca.done() || cb.done() {
			return nil, fmt.Errorf("%w: compose: ops end at different offsets", ErrBaseLength)
		}
		k := min(ca.length(), cb.length())
		bi := cb.i
		switch {
		case ca.isRetain() && cb.isRetain():
			out.retain(k)
			ca.take(k)
		case ca.isRetain() && cb.isDelete():
			out.delete(k)
			ca.take(k)
		case ca.isInsert():
			s, err := ca.takeInsert(k)
			if err != nil {
				return nil, fmt.Errorf("%w: compose: second op component %d (%v) ends inside a character the first op inserted", ErrSurrogate, bi, b[bi])
			}
			if cb.isRetain() {
				out.insert(s)
			}
		}
		cb.take(k)
	}
	return out.op(), nil
}
