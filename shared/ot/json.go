package ot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/pairpad/pairpad/shared/jsonstr"
	"github.com/pairpad/pairpad/shared/jsonwire"
)

// Decode parses an operation from its JSON wire form, strictly: the value
// must be a single array whose items are non-zero integers written without
// fraction or exponent and within ±MaxCount, or non-empty strings, with at
// most MaxComponents items. Every error wraps ErrMalformed, because ops come
// from untrusted clients and anything looser would let two servers disagree
// about what an op means. An insert is kept exactly as sent or refused: one
// with invalid UTF-8 or a lone surrogate escape, which encoding/json would
// turn into U+FFFD (changing the text and its UTF-16 length under the
// sender), is a *TextError naming the component. The result always passes
// Validate. The op is returned as sent, not normalized.
func Decode(data []byte) (Op, error) {
	r := jsonwire.NewReader(data)
	if op, ok := Read(&r); ok && r.End() {
		return op, nil
	}
	return decodeJSON(data)
}

// Read is Decode's fast path, one pass of a jsonwire.Reader: it reads an
// op at r that Decode accepts and decodes the same (FuzzDecodeFast), or
// answers false, leaving the position unspecified, for anything else,
// which Decode leaves to encoding/json and its messages.
func Read(r *jsonwire.Reader) (Op, bool) {
	op := Op{}
	ok := r.Array(func(i int) bool {
		if i >= MaxComponents {
			return false
		}
		if r.Peek() == '"' {
			s, ok := r.String()
			op = append(op, Component{S: s})
			return ok && s != ""
		}
		n, ok := r.Int()
		op = append(op, Component{N: int(n)})
		return ok && n != 0 && n <= MaxCount && n >= -MaxCount
	})
	return op, ok
}

// decodeJSON is Decode with encoding/json's tokenizer: every refusal, and
// what Read leaves to it.
func decodeJSON(data []byte) (Op, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("%w: want a JSON array, got %s", ErrMalformed, describeToken(tok))
	}
	op := Op{}
	for i := 0; ; i++ {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: component %d: %v", ErrMalformed, i, jsonErr(err))
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			break
		}
		if i >= MaxComponents {
			return nil, fmt.Errorf("%w: more than %d components", ErrMalformed, MaxComponents)
		}
		var c Component
		switch v := tok.(type) {
		case string:
			if v == "" {
				return nil, fmt.Errorf("%w: component %d is an empty insert", ErrMalformed, i)
			}
			// The literal as sent: what follows the previous token, past
			// the separator.
			lit := bytes.TrimLeft(data[start:dec.InputOffset()], " \t\r\n,")
			var re *jsonstr.RewriteError
			if errors.As(jsonstr.Check(lit), &re) {
				return nil, &TextError{Index: i, Rewrite: re}
			}
			c.S = v
		case json.Number:
			n, err := parseCount(string(v))
			if err != nil {
				return nil, fmt.Errorf("%w: component %d: %v", ErrMalformed, i, err)
			}
			c.N = n
		default:
			return nil, fmt.Errorf("%w: component %d is %s, want an integer or a string", ErrMalformed, i, describeToken(tok))
		}
		op = append(op, c)
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("%w: trailing data after the array", ErrMalformed)
	}
	return op, nil
}

// TextError reports an insert that decoding would not keep as sent: it has
// invalid UTF-8 or a lone surrogate escape, which encoding/json turns into
// U+FFFD. It wraps ErrMalformed and jsonstr.ErrRewritten.
type TextError struct {
	Index   int                   // the component
	Rewrite *jsonstr.RewriteError // where in its literal, and what
}

func (e *TextError) Error() string {
	return fmt.Sprintf("%v: component %d: %v", ErrMalformed, e.Index, e.Rewrite)
}

// Unwrap returns ErrMalformed and the RewriteError.
func (e *TextError) Unwrap() []error { return []error{ErrMalformed, e.Rewrite} }

// jsonErr turns io.EOF from a truncated input into a readable error.
func jsonErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// describeToken names a JSON token for error messages.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '[':
			return "a nested array"
		case '{':
			return "an object"
		}
		return "a stray " + strconv.QuoteRune(rune(v))
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", tok)
}

// parseCount accepts only the JSON integer forms -?[1-9][0-9]* within
// ±MaxCount; "0", "-0", "1.0" and "1e3" are rejected.
func parseCount(s string) (int, error) {
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" || digits[0] < '1' || digits[0] > '9' {
		if digits == "0" {
			return 0, errors.New("zero is not a valid count")
		}
		return 0, fmt.Errorf("number %.20q is not a non-zero integer", s)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("number %.20q is not an integer (no fraction or exponent allowed)", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxCount || n < -MaxCount {
		return 0, fmt.Errorf("count %.20q is outside ±%d", s, MaxCount)
	}
	return int(n), nil
}

// MarshalJSON encodes o as its canonical wire array (for example
// [5,"abc",-3]) without normalizing it, and fails on malformed components
// so the server never sends what Decode would reject. A nil op encodes as
// [] rather than null, because null is not an operation.
func (o Op) MarshalJSON() ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	n := 2
	for _, c := range o {
		n += len(c.S) + 12
	}
	buf := make([]byte, 0, n)
	buf = append(buf, '[')
	for i, c := range o {
		if i > 0 {
			buf = append(buf, ',')
		}
		if c.S != "" {
			buf = jsonwire.AppendString(buf, c.S)
		} else {
			buf = strconv.AppendInt(buf, int64(c.N), 10)
		}
	}
	return append(buf, ']'), nil
}

// UnmarshalJSON decodes o with Decode, so an Op embedded in a message
// struct gets the same strict checks (null is rejected, not ignored).
func (o *Op) UnmarshalJSON(data []byte) error {
	op, err := Decode(data)
	if err != nil {
		return err
	}
	*o = op
	return nil
}
