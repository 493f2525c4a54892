package session

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// hostKeyBytes is the host key's entropy: 256 bits.
const hostKeyBytes = 32

// NewHostKey returns a fresh random host key (base64url, 43 characters).
func NewHostKey() string {
	b := make([]byte, hostKeyBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics if the OS cannot give randomness)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashHostKey is what a record stores of a host key. The key is 256 random
// bits, so one SHA-256 is enough: there is no dictionary to try.
func HashHostKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// HostKeyMatches reports, in constant time, whether key is the session's
// host key. A session without one (created before host keys existed)
// matches nothing.
func (r Record) HostKeyMatches(key string) bool {
	if r.HostKeyHash == "" || key == "" {
		return false
	}
	a, b := []byte(HashHostKey(key)), []byte(r.HostKeyHash)
	return subtle.ConstantTimeCompare(a, b) == 1
}
