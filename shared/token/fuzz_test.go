package token_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/token"
)

var (
	fuzzSecret = []byte("fuzz-secret")
	otherKey   = []byte("fuzz-secret ") // one byte longer: a near miss
	fuzzNow    = time.Unix(1_700_000_000, 0)
)

// FuzzVerify holds join tokens to what realtime and the history route rely
// on: nothing verifies unless the secret signed it, a signed token gives its
// claims back, and changing any byte of a valid token makes it invalid.
func FuzzVerify(f *testing.F) {
	valid := token.Sign(fuzzSecret, token.Claims{SessionID: "0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11", UserID: "u1", UserName: "Ann", Expiry: fuzzNow.Unix() + 3600})
	f.Add("0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11", "u1", "Ann", fuzzNow.Unix()+3600, valid, uint16(0), byte('x'))
	f.Add("s", "u 😀", "Ann Lee", fuzzNow.Unix()+1, valid, uint16(len(valid)-1), byte('A'))
	f.Add("s", "u", "", fuzzNow.Unix(), "v1..", uint16(3), byte('.'))
	f.Add("", "u", "n", fuzzNow.Unix()+10, "v1.e30.", uint16(1), byte(0))
	f.Add("s", "<&>\u2028", "\xff", int64(-1), strings.Repeat("A", token.MaxLen+1), uint16(40), byte('-'))
	f.Fuzz(func(t *testing.T, sid, uid, name string, exp int64, arbitrary string, pos uint16, b byte) {
		checkArbitrary(t, arbitrary)
		c := token.Claims{SessionID: sid, UserID: uid, UserName: name, Expiry: exp, Role: protocol.RoleCandidate}
		tok := token.Sign(fuzzSecret, c)
		got, err := token.Verify(fuzzSecret, tok, fuzzNow)
		switch {
		case sid == "" || uid == "" || len(tok) > token.MaxLen:
			if !errors.Is(err, token.ErrMalformed) {
				t.Fatalf("Verify(Sign(%+v)) = %v, want ErrMalformed", c, err)
			}
			return
		case fuzzNow.Unix() >= exp:
			if !errors.Is(err, token.ErrExpired) {
				t.Fatalf("Verify(Sign(%+v)) = %v, want ErrExpired", c, err)
			}
		case err != nil:
			t.Fatalf("Verify(Sign(%+v)): %v", c, err)
		case utf8.ValidString(sid) && utf8.ValidString(uid) && utf8.ValidString(name) && got != c:
			// JSON replaces invalid UTF-8, so only valid text comes back exactly.
			t.Fatalf("round trip: got %+v, want %+v", got, c)
		}
		if _, err := token.Verify(otherKey, tok, fuzzNow); !errors.Is(err, token.ErrSignature) {
			t.Fatalf("a token verified with another secret: %v", err)
		}
		// Tampering with any one byte is noticed, whatever the byte.
		i := int(pos) % len(tok)
		if tok[i] == b {
			return
		}
		tampered := tok[:i] + string([]byte{b}) + tok[i+1:]
		if _, err := token.Verify(fuzzSecret, tampered, time.Unix(exp-1, 0)); err == nil {
			t.Fatalf("byte %d of %q changed to %q still verifies", i, tok, b)
		}
	})
}

// checkArbitrary: arbitrary text verifies only if it is a signature by the
// secret, and then it is the canonical token of its claims.
func checkArbitrary(t *testing.T, s string) {
	t.Helper()
	c, err := token.Verify(fuzzSecret, s, fuzzNow)
	if err != nil {
		if !errors.Is(err, token.ErrMalformed) && !errors.Is(err, token.ErrSignature) && !errors.Is(err, token.ErrExpired) {
			t.Fatalf("Verify(%q) = %v, not one of the sentinel errors", s, err)
		}
		return
	}
	if c.SessionID == "" || c.UserID == "" || fuzzNow.Unix() >= c.Expiry {
		t.Fatalf("Verify(%q) accepted claims %+v", s, c)
	}
	if _, err := token.Verify(otherKey, s, fuzzNow); err == nil {
		t.Fatalf("%q verifies under two secrets", s)
	}
	// A candidate's claims have two spellings: with the role, and without it
	// as tokens were signed before roles existed.
	legacy := c
	legacy.Role = ""
	if canon := token.Sign(fuzzSecret, c); canon != s && (c.Role != protocol.RoleCandidate || token.Sign(fuzzSecret, legacy) != s) {
		// Only the secret's holder makes valid tokens, and it makes one per
		// claims: another spelling that verifies would be a forgery.
		t.Fatalf("%q verifies but is not the token of its claims %+v (%q)", s, c, canon)
	}
}
