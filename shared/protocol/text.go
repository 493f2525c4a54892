package protocol

import "github.com/pairpad/pairpad/shared/jsonstr"

// Errors of DecodeString, wrapped by the callers into their own code.
var (
	// ErrNotString reports a JSON value that is not a string.
	ErrNotString = jsonstr.ErrNotString
	// ErrRewritten reports a JSON string that encoding/json would rewrite:
	// invalid UTF-8 bytes or a \u escape of a lone surrogate both become
	// U+FFFD, so two different identifiers ("k\ud800", "k\udc00") would
	// decode to one.
	ErrRewritten = jsonstr.ErrRewritten
)

// DecodeString reads raw, one JSON string literal, and refuses what
// encoding/json would silently rewrite (ErrRewritten), so an identifier is
// kept exactly as the client sent it or refused (jsonstr.Decode).
func DecodeString(raw []byte) (string, error) {
	return jsonstr.Decode(raw)
}
