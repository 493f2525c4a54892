package protocol

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Errors of DecodeString, wrapped by the callers into their own code.
var (
	// ErrNotString reports a JSON value that is not a string.
	ErrNotString = errors.New("not a JSON string")
	// ErrRewritten reports a JSON string that encoding/json would rewrite:
	// invalid UTF-8 bytes or a \u escape of a lone surrogate both become
	// U+FFFD, so two different identifiers ("k\ud800", "k\udc00") would
	// decode to one.
	ErrRewritten = errors.New("a string must be valid UTF-8 without lone surrogate escapes (\\ud800-\\udfff not in a pair)")
)

// DecodeString reads raw, one JSON string literal, and refuses what
// encoding/json would silently rewrite (ErrRewritten), so an identifier is
// kept exactly as the client sent it or refused.
func DecodeString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", ErrNotString
	}
	if !utf8.Valid(raw) || hasLoneSurrogate(raw) {
		return "", ErrRewritten
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", ErrNotString
	}
	return s, nil
}

// hasLoneSurrogate reports whether the JSON string literal raw has a \u
// escape of a surrogate that is not a high one directly followed by an
// escaped low one.
func hasLoneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // an escaped character, maybe a backslash: skip it whole
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok {
			return false // malformed: json.Unmarshal refuses it
		}
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return true // a low surrogate without its high one
		case r >= 0xd800 && r <= 0xdbff:
			lo, ok := -1, false
			if i+11 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				lo, ok = hex4(raw, i+8)
			}
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// hex4 reads four hex digits of b at i.
func hex4(b []byte, i int) (int, bool) {
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
