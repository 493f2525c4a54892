// Package jsonstr reads JSON string literals exactly as they were sent.
//
// encoding/json turns invalid UTF-8 bytes and a \u escape of a lone UTF-16
// surrogate into U+FFFD, silently: two identifiers ("k\ud800", "k\udc00")
// become one, and a text's UTF-16 length changes under the sender. Check
// finds such a literal, so callers refuse it instead of keeping a rewrite.
package jsonstr

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/pairpad/pairpad/shared/jsonwire"
)

// Errors of Decode and Check.
var (
	// ErrNotString reports a JSON value that is not a string.
	ErrNotString = errors.New("not a JSON string")
	// ErrRewritten reports a JSON string that encoding/json would rewrite:
	// invalid UTF-8 bytes or a \u escape of a lone surrogate both become
	// U+FFFD.
	ErrRewritten = errors.New("a string must be valid UTF-8 without lone surrogate escapes (\\ud800-\\udfff not in a pair)")
)

// RewriteError says where a string literal holds what decoding would turn
// into U+FFFD. It wraps ErrRewritten.
type RewriteError struct {
	// Offset is the byte offset in the literal, its opening quote at 0.
	Offset int
	// Escape is the lone surrogate's escape as sent (`\ud800`), or "" for
	// an invalid UTF-8 byte.
	Escape string
	// Byte is the invalid byte when Escape is "".
	Byte byte
}

// Reason says what is wrong, for a client.
func (e *RewriteError) Reason() string {
	if e.Escape != "" {
		return fmt.Sprintf("the escape %s at byte %d is a lone UTF-16 surrogate (not in a high-low pair), which decoding would turn into U+FFFD", e.Escape, e.Offset)
	}
	return fmt.Sprintf("byte %d (0x%02x) is not valid UTF-8, which decoding would turn into U+FFFD", e.Offset, e.Byte)
}

func (e *RewriteError) Error() string { return ErrRewritten.Error() + ": " + e.Reason() }

// Unwrap returns ErrRewritten.
func (e *RewriteError) Unwrap() error { return ErrRewritten }

// Decode reads raw, one JSON string literal, and refuses what
// encoding/json would silently rewrite (a *RewriteError), so a string is
// kept exactly as the client sent it or refused.
func Decode(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", ErrNotString
	}
	if err := Check(raw); err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", ErrNotString
	}
	return s, nil
}

// Check returns a *RewriteError for the first invalid UTF-8 byte or lone
// surrogate escape of raw, a JSON string literal, and nil otherwise. It
// does not check the rest of the syntax: encoding/json does. A real pair
// (`\ud83d\ude00`) and a U+FFFD the client sent (as UTF-8 or `\ufffd`) pass.
func Check(raw []byte) error {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				return &RewriteError{Offset: i, Byte: c}
			}
			i += size - 1
			continue
		}
		if c != '\\' || i+1 >= len(raw) {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // an escaped character, maybe a backslash: skip it whole
			continue
		}
		r, ok := jsonwire.Hex4(raw, i+2)
		if !ok {
			return nil // malformed: encoding/json refuses it
		}
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return &RewriteError{Offset: i, Escape: string(raw[i : i+6])} // a low surrogate without its high one
		case r >= 0xd800 && r <= 0xdbff:
			lo, ok := -1, false
			if i+11 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				lo, ok = jsonwire.Hex4(raw, i+8)
			}
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return &RewriteError{Offset: i, Escape: string(raw[i : i+6])}
			}
			i += 11
		default:
			i += 5
		}
	}
	return nil
}
