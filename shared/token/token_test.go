package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	secret := []byte("secret")
	c := Claims{SessionID: "s", UserID: "u 😀", UserName: "Ann", Expiry: now.Add(time.Hour).Unix()}
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Verify(secret, tt.tok, tt.now); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}
