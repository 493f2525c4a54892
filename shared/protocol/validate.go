package protocol

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ValidSessionID reports whether id is a canonical UUID, as session ids are.
func ValidSessionID(id string) bool {
	if len(id) != 36 {
		return false
	}
	_, err := uuid.Parse(id)
	return err == nil
}

// ValidateUserID checks a user id: 1..100 characters of valid UTF-8, no control characters.
func ValidateUserID(id string) error {
	n := utf8.RuneCountInString(id)
	switch {
	case !utf8.ValidString(id):
		return fmt.Errorf("userId must be valid UTF-8")
	case n < 1 || n > MaxUserIDLen:
		return fmt.Errorf("userId must be 1 to %d characters", MaxUserIDLen)
	case hasControl(id):
		return fmt.Errorf("userId must not contain control characters")
	}
	return nil
}

// NormalizeUserName trims a user name and checks it: 1..50 characters, no control characters.
func NormalizeUserName(name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	switch {
	case !utf8.ValidString(name):
		return "", fmt.Errorf("userName must be valid UTF-8")
	case n < 1 || n > MaxUserNameLen:
		return "", fmt.Errorf("userName must be 1 to %d characters after trimming", MaxUserNameLen)
	case hasControl(name):
		return "", fmt.Errorf("userName must not contain control characters")
	}
	return name, nil
}

// ValidateOpID checks an opId: at most 64 characters.
func ValidateOpID(id string) error {
	if utf8.RuneCountInString(id) > MaxOpIDLen || !utf8.ValidString(id) {
		return fmt.Errorf("opId must be valid UTF-8 of at most %d characters", MaxOpIDLen)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// palette holds colours that read well on light and dark editors.
var palette = []string{
	"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#469990",
	"#9a6324", "#800000", "#808000", "#000075", "#e6a100", "#1f9e89", "#d45087", "#665191",
}

// UserColor returns the stable #rrggbb colour of a user.
func UserColor(userID string) string {
	h := sha256.Sum256([]byte(userID))
	return palette[int(h[0])%len(palette)]
}

// PaletteSize is how many distinct colours a session hands out before they repeat.
func PaletteSize() int { return len(palette) }

// PaletteColor is the colour of the n-th user (from 0) to join a session:
// the first PaletteSize() users all get different colours.
func PaletteColor(n int) string { return palette[((n%len(palette))+len(palette))%len(palette)] }
