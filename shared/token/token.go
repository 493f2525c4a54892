// Package token signs and verifies join tokens: HMAC-SHA256 over the session,
// the user and an expiry, so realtime can trust what api handed out.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// Claims is what a join token vouches for.
type Claims struct {
	SessionID string `json:"sid"`
	UserID    string `json:"uid"`
	UserName  string `json:"name"`
	Expiry    int64  `json:"exp"` // unix seconds
	// Role is what the user may do; Verify turns a token without one
	// (issued before roles existed) into a candidate's.
	Role protocol.Role `json:"role,omitempty"`
	// Color is the user's #rrggbb colour, assigned at their first join of
	// the session; empty in a token issued before colours were assigned.
	Color string `json:"color,omitempty"`
}

// Sentinel errors of Verify.
var (
	ErrMalformed = errors.New("token is malformed")
	ErrSignature = errors.New("token signature is invalid")
	ErrExpired   = errors.New("token has expired")
)

const version = "v1"

// MaxLen bounds what Verify will look at.
const MaxLen = 2048

// b64 decodes token parts: one spelling per value, so a token cannot be
// altered and still verify.
var b64 = base64.RawURLEncoding.Strict()

// Sign returns the token for c.
func Sign(secret []byte, c Claims) string {
	body, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(body)
	return version + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac(secret, payload))
}

// Verify checks the signature and expiry of tok and returns its claims.
func Verify(secret []byte, tok string, now time.Time) (Claims, error) {
	if len(tok) > MaxLen {
		return Claims{}, ErrMalformed
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != version {
		return Claims{}, ErrMalformed
	}
	// Strict: the last character of a base64 signature has spare bits, and
	// lenient decoding would accept several spellings of one signature.
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(sig, mac(secret, parts[1])) {
		return Claims{}, ErrSignature
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil || c.SessionID == "" || c.UserID == "" {
		return Claims{}, ErrMalformed
	}
	if c.Role = c.Role.OrDefault(); !c.Role.Valid() {
		return Claims{}, ErrMalformed
	}
	if now.Unix() >= c.Expiry {
		return Claims{}, ErrExpired
	}
	return c, nil
}

func mac(secret []byte, payload string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(version + "." + payload))
	return h.Sum(nil)
}
