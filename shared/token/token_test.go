package token

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	secret := []byte("secret")
	c := Claims{SessionID: "s", UserID: "u 😀", UserName: "Ann", Expiry: now.Add(time.Hour).Unix(),
		Role: protocol.RoleInterviewer, Color: "#4363d8"}
	tok := Sign(secret, c)
	got, err := Verify(secret, tok, now)
	if err != nil || got != c {
		t.Fatalf("got %+v, %v; want %+v", got, err, c)
	}
	parts := strings.Split(tok, ".")
	forged := Sign([]byte("other"), c)
	other := c
	other.UserID = "mallory"
	otherPayload := strings.Split(Sign(secret, other), ".")[1]
	tests := []struct {
		name string
		tok  string
		now  time.Time
		want error
	}{
		{"expired", tok, now.Add(2 * time.Hour), ErrExpired},
		{"other secret", forged, now, ErrSignature},
		{"tampered payload", parts[0] + "." + otherPayload + "." + parts[2], now, ErrSignature},
		{"empty", "", now, ErrMalformed},
		{"garbage", "v1.!!!.???", now, ErrMalformed},
		{"wrong version", "v2." + parts[1] + "." + parts[2], now, ErrMalformed},
		{"too long", strings.Repeat("a", MaxLen+1), now, ErrMalformed},
	}
	unknownRole := c
	unknownRole.Role = "admin"
	tests = append(tests, struct {
		name string
		tok  string
		now  time.Time
		want error
	}{"unknown role", Sign(secret, unknownRole), now, ErrMalformed})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Verify(secret, tt.tok, tt.now); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestNoRoleIsCandidate: a token signed before roles existed verifies as a
// candidate's, never as an interviewer's.
func TestNoRoleIsCandidate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	secret := []byte("secret")
	tok := Sign(secret, Claims{SessionID: "s", UserID: "u", UserName: "Ann", Expiry: now.Add(time.Hour).Unix()})
	got, err := Verify(secret, tok, now)
	if err != nil || got.Role != protocol.RoleCandidate || got.Color != "" {
		t.Fatalf("got %+v, %v; want a candidate without a colour", got, err)
	}
}
