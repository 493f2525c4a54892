// Package jsonwire reads and writes the JSON of the realtime hot path in one
// pass, without reflection, exactly as encoding/json does.
//
// A Reader is a fast path, not a second decoder: it takes the shapes real
// clients send and answers false for anything else (an error, a null, a
// repeated or escaped key, a string encoding/json would rewrite). Callers
// then decode with encoding/json, which produces the refusal with its
// message; so what the fast path accepts, it must decode exactly as
// encoding/json would, and the fuzz tests hold it to that.
package jsonwire

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth is encoding/json's nesting limit: a value nested deeper is not
// valid JSON to it.
const MaxDepth = 10000

// Reader reads JSON values from a buffer, front to back. Every method
// skips the whitespace before what it reads and reports false, with the
// position unspecified, when the input is not what it reads.
type Reader struct {
	b     []byte
	i     int
	depth int // open objects around the position (Object)
}

// NewReader returns a Reader at the start of b.
func NewReader(b []byte) Reader { return Reader{b: b} }

// Pos is the offset of the next unread byte.
func (r *Reader) Pos() int { return r.i }

// Bytes returns the bytes from offset start to end, aliasing the buffer.
func (r *Reader) Bytes(start, end int) []byte { return r.b[start:end] }

func (r *Reader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// Peek returns the next byte after whitespace without reading it; 0 at
// the end.
func (r *Reader) Peek() byte {
	r.space()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

// Byte reads c.
func (r *Reader) Byte(c byte) bool {
	if r.Peek() != c || r.i >= len(r.b) {
		return false
	}
	r.i++
	return true
}

// End reports whether nothing but whitespace is left.
func (r *Reader) End() bool {
	r.space()
	return r.i == len(r.b)
}

// Name reads a string literal that decodes to itself: printable ASCII
// without escapes (an object key, an event type). It returns the bytes
// between the quotes.
func (r *Reader) Name() ([]byte, bool) {
	if r.Peek() != '"' {
		return nil, false
	}
	start := r.i + 1
	for i := start; i < len(r.b); i++ {
		switch c := r.b[i]; {
		case c == '"':
			r.i = i + 1
			return r.b[start:i], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// String reads a string literal and returns it decoded as encoding/json
// decodes it, when decoding keeps it as sent: false for invalid UTF-8 or
// a \u escape of a lone surrogate, which encoding/json turns into U+FFFD
// (the jsonstr package's rewrites).
func (r *Reader) String() (string, bool) {
	if r.Peek() != '"' {
		return "", false
	}
	start := r.i + 1
	i := start
	for i < len(r.b) {
		c := r.b[i]
		switch {
		case asItself[c]:
			i++
		case c == '"':
			r.i = i + 1
			return string(r.b[start:i]), true
		case c == '\\':
			return r.escapedString(start, i)
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			i++
		default:
			rr, size := utf8.DecodeRune(r.b[i:])
			if rr == utf8.RuneError && size == 1 {
				return "", false
			}
			i += size
		}
	}
	return "", false
}

// escapedString finishes String from the first escape at i.
func (r *Reader) escapedString(start, i int) (string, bool) {
	var sb strings.Builder
	sb.Grow(len(r.b) - start)
	sb.Write(r.b[start:i])
	for i < len(r.b) {
		c := r.b[i]
		switch {
		case c == '"':
			r.i = i + 1
			return sb.String(), true
		case c == '\\':
			if i+1 >= len(r.b) {
				return "", false
			}
			switch e := r.b[i+1]; e {
			case '"', '\\', '/':
				sb.WriteByte(e)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				rr, ok := Hex4(r.b, i+2)
				if !ok {
					return "", false
				}
				switch {
				case rr >= 0xdc00 && rr <= 0xdfff:
					return "", false // a low surrogate alone
				case rr >= 0xd800 && rr <= 0xdbff:
					if i+11 >= len(r.b) || r.b[i+6] != '\\' || r.b[i+7] != 'u' {
						return "", false
					}
					lo, ok := Hex4(r.b, i+8)
					if !ok || lo < 0xdc00 || lo > 0xdfff {
						return "", false
					}
					rr = 0x10000 + (rr-0xd800)<<10 + (lo - 0xdc00)
					i += 6
				}
				sb.WriteRune(rune(rr))
				i += 4
			default:
				return "", false
			}
			i += 2
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(r.b) && asItself[r.b[j]] {
				j++
			}
			sb.Write(r.b[i:j])
			i = j
		default:
			rr, size := utf8.DecodeRune(r.b[i:])
			if rr == utf8.RuneError && size == 1 {
				return "", false
			}
			sb.Write(r.b[i : i+size])
			i += size
		}
	}
	return "", false
}

// asItself marks the bytes a string literal holds as themselves, one
// byte one character: ASCII from 0x20 but the quote and the backslash.
// inString adds the bytes from 0x80, which the scanner lets through as
// they are (encoding/json checks UTF-8 only when it decodes). Both are
// read-only.
var asItself, inString = func() (plain, any [256]bool) {
	for c := 0x20; c < 0x100; c++ {
		any[c] = c != '"' && c != '\\'
		plain[c] = any[c] && c < utf8.RuneSelf
	}
	return plain, any
}()

// Hex4 reads the four hex digits of b at i, those of a \u escape.
func Hex4(b []byte, i int) (int, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n := 0
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// Int reads a number that encoding/json stores in an int64: no fraction,
// no exponent, within range.
func (r *Reader) Int() (int64, bool) {
	r.space()
	start := r.i
	if !r.number() {
		return 0, false
	}
	lit := r.b[start:r.i]
	digits := lit
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) > 18 {
		n, err := strconv.ParseInt(string(lit), 10, 64)
		return n, err == nil
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false // a fraction or an exponent
		}
		n = n*10 + int64(c-'0')
	}
	if lit[0] == '-' {
		n = -n
	}
	return n, true
}

// number reads a JSON number.
func (r *Reader) number() bool {
	b, i := r.b, r.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		i = digits(b, i)
	}
	r.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// skipString reads a string literal as encoding/json's scanner checks it:
// no control characters, valid escapes; any other byte, even invalid
// UTF-8, is allowed.
func (r *Reader) skipString() bool {
	b := r.b
	for i := r.i + 1; i < len(b); i++ {
		if inString[b[i]] {
			continue
		}
		switch c := b[i]; {
		case c == '"':
			r.i = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if _, ok := Hex4(b, i+2); !ok {
					return false
				}
				i += 5
			default:
				return false
			}
		}
	}
	return false
}

// Bool reads true or false.
func (r *Reader) Bool() (v, ok bool) {
	r.space()
	if r.literal("true") {
		return true, true
	}
	return false, r.literal("false")
}

// literal reads word (true, false, null).
func (r *Reader) literal(word string) bool {
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		return false
	}
	r.i += len(word)
	return true
}

// Value reads one JSON value, checked as encoding/json's scanner checks
// it, and returns its bytes.
func (r *Reader) Value() ([]byte, bool) {
	r.space()
	start := r.i
	var arr [32]byte
	open := arr[:0] // the '{' and '[' around the position
	for {
		// A value.
		r.space()
		if r.i >= len(r.b) {
			return nil, false
		}
		opened := false
		switch c := r.b[r.i]; c {
		case '{', '[':
			if r.depth+len(open) >= MaxDepth {
				return nil, false
			}
			r.i++
			r.space()
			if r.i < len(r.b) && r.b[r.i] == c+2 { // '}' and ']' follow '{' and '[' by two
				r.i++
				break
			}
			open = append(open, c)
			if c == '{' && !r.key() {
				return nil, false
			}
			opened = true
		case '"':
			if !r.skipString() {
				return nil, false
			}
		case 't':
			if !r.literal("true") {
				return nil, false
			}
		case 'f':
			if !r.literal("false") {
				return nil, false
			}
		case 'n':
			if !r.literal("null") {
				return nil, false
			}
		default:
			if !r.number() {
				return nil, false
			}
		}
		if opened {
			continue // its first item comes next
		}
		// After a value: close what ends here, then a comma or the end.
		for {
			if len(open) == 0 {
				return r.b[start:r.i], true
			}
			r.space()
			if r.i >= len(r.b) {
				return nil, false
			}
			c, top := r.b[r.i], open[len(open)-1]
			if c == top+2 {
				r.i++
				open = open[:len(open)-1]
				continue
			}
			if c != ',' {
				return nil, false
			}
			r.i++
			if top == '{' {
				r.space()
				if !r.key() {
					return nil, false
				}
			}
			break
		}
	}
}

// key reads an object key (any string literal) and its colon, at the
// position.
func (r *Reader) key() bool {
	if r.i >= len(r.b) || r.b[r.i] != '"' || !r.skipString() {
		return false
	}
	r.space()
	if r.i >= len(r.b) || r.b[r.i] != ':' {
		return false
	}
	r.i++
	return true
}

// Object reads an object whose keys are names (Name), calling field with
// each key and the Reader before its value; field must read the value and
// return true, or return false to stop.
func (r *Reader) Object(field func(key []byte) bool) bool {
	if !r.Byte('{') || r.depth >= MaxDepth {
		return false
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.Peek() == '}' {
		r.i++
		return true
	}
	for {
		key, ok := r.Name()
		if !ok || !r.Byte(':') || !field(key) {
			return false
		}
		switch r.Peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return true
		default:
			return false
		}
	}
}

// Array reads an array, calling item with each item's index and the
// Reader before it; item must read the item and return true, or return
// false to stop.
func (r *Reader) Array(item func(i int) bool) bool {
	if !r.Byte('[') || r.depth >= MaxDepth {
		return false
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.Peek() == ']' {
		r.i++
		return true
	}
	for n := 0; ; n++ {
		if !item(n) {
			return false
		}
		switch r.Peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return true
		default:
			return false
		}
	}
}

// Seen records which of an object's keys were read, one bit each, so a
// repeated key can be told.
type Seen uint16

// First marks bit, false when it was marked already.
func (s *Seen) First(bit Seen) bool {
	if *s&bit != 0 {
		return false
	}
	*s |= bit
	return true
}

// Valid reports whether b is one JSON value, as json.Valid does.
func Valid(b []byte) bool {
	r := NewReader(b)
	_, ok := r.Value()
	return ok && r.End()
}

// Compact reports whether a valid JSON value has no whitespace outside
// its strings: json.Compact would leave it as it is.
func Compact(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			return false
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	return true
}

// FoldsTo reports whether encoding/json would match an ASCII key to one of
// the field names, ignoring case, without being one of them exactly.
func FoldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if len(n) == len(key) && string(key) != n && strings.EqualFold(string(key), n) {
			return true
		}
	}
	return false
}
