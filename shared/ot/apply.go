package ot

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// UTF16Len returns the length of s in UTF-16 code units, the unit every
// length and position in an op counts, so it matches JavaScript's
// s.length. Characters outside the BMP count 2; an invalid UTF-8 byte
// counts 1, as the U+FFFD that JSON decoding would turn it into.
func UTF16Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		// Fast path: eight ASCII bytes at a time.
		if i+8 <= len(s) && ascii8(s, i) {
			n += 8
			i += 8
			continue
		}
		b := s[i]
		if b < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

// ascii8 reports whether the eight bytes of s at i are all ASCII; the
// shifts let the compiler turn the reads into one 64-bit load.
func ascii8(s string, i int) bool {
	b := s[i : i+8]
	w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	return w&0x8080808080808080 == 0
}

// errShort, errMidPair and errBadUTF8 are advance's failure reasons; the
// caller adds component context and the exported sentinel.
var (
	errShort   = errors.New("past end")
	errMidPair = errors.New("mid pair")
	errBadUTF8 = errors.New("bad utf8")
)

// advance walks n UTF-16 units forward from byte offset i of s and returns
// the new byte offset. It fails if s ends first, if the end falls between
// the two units of a non-BMP character, or on invalid UTF-8.
func advance(s string, i, n int) (int, error) {
	for n > 0 {
		if n >= 8 && i+8 <= len(s) && ascii8(s, i) {
			n -= 8
			i += 8
			continue
		}
		if i >= len(s) {
			return i, errShort
		}
		if s[i] < utf8.RuneSelf {
			n--
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i, errBadUTF8
		}
		if r >= 0x10000 {
			if n == 1 {
				return i, errMidPair
			}
			n -= 2
		} else {
			n--
		}
		i += size
	}
	return i, nil
}

// Apply returns doc with o applied. It fails with ErrBaseLength if o does
// not cover exactly UTF16Len(doc) units, ErrSurrogate if a component
// boundary splits a non-BMP character, ErrMalformed for a malformed
// component and ErrInvalidUTF8 if doc is not valid UTF-8, so the result is
// always valid UTF-8 of length o.TargetLen(). It runs in one pass,
// O(len(doc)+size of o), and never panics.
func Apply(doc string, o Op) (string, error) {
	grow := len(doc)
	for _, c := range o {
		grow += len(c.S)
	}
	var sb strings.Builder
	// Presize for the common case, but never trust a Go-built op that
	// repeats one huge insert into reserving absurd memory up front.
	sb.Grow(max(0, min(grow, 2*len(doc)+1<<20)))
	pos := 0   // byte offset in doc
	units := 0 // UTF-16 offset in doc, for error messages
	for i, c := range o {
		if err := c.validate(i); err != nil {
			return "", err
		}
		if c.S != "" {
			sb.WriteString(c.S)
			continue
		}
		n := c.N
		if n < 0 {
			n = -n
		}
		end, err := advance(doc, pos, n)
		if err != nil {
			return "", applyErr(err, doc, o, i, c, units)
		}
		if c.N > 0 {
			sb.WriteString(doc[pos:end])
		}
		pos = end
		units += n
	}
	if pos != len(doc) {
		if !utf8.ValidString(doc[pos:]) {
			return "", fmt.Errorf("%w (after the last component)", ErrInvalidUTF8)
		}
		return "", fmt.Errorf("%w: op covers %d UTF-16 units, document has %d", ErrBaseLength, o.BaseLen(), UTF16Len(doc))
	}
	return sb.String(), nil
}

// applyErr converts an advance failure inside component i into an exported
// error with context.
func applyErr(err error, doc string, o Op, i int, c Component, units int) error {
	switch err {
	case errMidPair:
		return fmt.Errorf("%w: component %d (%v) ends inside a surrogate pair at UTF-16 offset %d", ErrSurrogate, i, c, units+abs(c.N)-1)
	case errBadUTF8:
		return fmt.Errorf("%w: invalid byte within component %d (%v)", ErrInvalidUTF8, i, c)
	}
	return fmt.Errorf("%w: component %d (%v) runs past the end; op covers %d UTF-16 units, document has %d", ErrBaseLength, i, c, o.BaseLen(), UTF16Len(doc))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Diff returns an op turning old into new: it keeps their longest common
// prefix and suffix, cut at character boundaries (so never inside a
// surrogate pair or a UTF-8 sequence), and replaces the middle with one
// insert and one delete, giving a normalized op of at most four
// components. A minimal diff is not needed because fullCode clients send
// their whole text after each edit burst, which is nearly always one
// contiguous change, and OT converges with any correct op; the only cost
// of a coarse op is that text both versions share inside the replaced span
// is deleted and re-inserted, so a concurrent delete there is undone and a
// concurrent insert there lands at the span's end. Invalid UTF-8 bytes in
// new are inserted as U+FFFD so the op stays valid.
func Diff(old, new string) Op {
	n := min(len(old), len(new))
	p := 0
	// Compare 64-byte blocks first (string equality is vectorized).
	for p+64 <= n && old[p:p+64] == new[p:p+64] {
		p += 64
	}
	for p < n && old[p] == new[p] {
		p++
	}
	// Back up to a character start in both strings.
	for p > 0 && ((p < len(old) && !utf8.RuneStart(old[p])) || (p < len(new) && !utf8.RuneStart(new[p]))) {
		p--
	}
	s := 0
	for s+64 <= n-p && old[len(old)-s-64:len(old)-s] == new[len(new)-s-64:len(new)-s] {
		s += 64
	}
	for s < n-p && old[len(old)-1-s] == new[len(new)-1-s] {
		s++
	}
	// Move the suffix start forward to a character start in both strings.
	for s > 0 && (!utf8.RuneStart(old[len(old)-s]) || !utf8.RuneStart(new[len(new)-s])) {
		s--
	}
	var b builder
	b.retain(UTF16Len(old[:p]))
	if mid := new[p : len(new)-s]; mid != "" {
		b.insert(sanitize(mid))
	}
	b.delete(UTF16Len(old[p : len(old)-s]))
	b.retain(UTF16Len(old[len(old)-s:]))
	return b.op()
}

// TransformIndex moves the cursor position idx (a UTF-16 offset into o's
// base text) to where it belongs in o's result, so remote cursors follow
// edits. Inserts before idx push it right; an insert exactly at idx pushes
// it right only if own is true (the op is the cursor owner's, whose caret
// stays after what they typed); a delete spanning idx pulls it to the
// delete's start. idx is clamped to [0, o.BaseLen()] first.
func TransformIndex(o Op, idx int, own bool) int {
	if idx < 0 {
		idx = 0
	}
	if bl := o.BaseLen(); idx > bl {
		idx = bl
	}
	// pos is the base offset reached, except that a delete never moves it
	// past idx: an insert right after a delete that covers or starts at
	// idx lands exactly at the cursor's new place.
	pos, shift := 0, 0
	for _, c := range o {
		switch {
		case c.S != "":
			if pos < idx || (pos == idx && own) {
				shift += UTF16Len(c.S)
			}
		case c.N > 0:
			pos += c.N
		case c.N < 0 && pos < idx:
			d := min(-c.N, idx-pos)
			shift -= d
			pos += d
		}
		if pos > idx {
			break
		}
	}
	return idx + shift
}

// sanitize replaces each invalid UTF-8 byte of s with U+FFFD, as
// encoding/json does when decoding, so UTF16Len(s) is unchanged.
func sanitize(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			sb.WriteString("\uFFFD")
		} else {
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}
