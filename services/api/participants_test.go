package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestRosterBound: the largest registry SESSION_MAX_USER_IDS allows (its
// maximum, with user ids JSON makes longest: 100 characters that encode as
// \u003c) fits the participants bucket's value limit and a default NATS
// message (1 MiB), so the bound is what refuses a user, never NATS.
func TestRosterBound(t *testing.T) {
	if _, err := config.Load("api", func(k string) string {
		return map[string]string{"SESSION_MAX_USER_IDS": "1001"}[k]
	}); err == nil {
		t.Fatal("SESSION_MAX_USER_IDS=1001 was accepted")
	}
	const most = 1000
	ros := roster{Users: map[string]participant{}}
	for i := range most {
		id := fmt.Sprintf("%04d", i) + strings.Repeat("<", protocol.MaxUserIDLen-4)
		ros.Users[id] = participant{Role: protocol.RoleInterviewer, Color: protocol.PaletteColor(i)}
	}
	b, err := json.Marshal(ros)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 1<<20 {
		t.Fatalf("a full registry is %d bytes, over 1 MiB", len(b))
	}
	t.Logf("a full registry of %d worst-case user ids is %d KiB", most, len(b)>>10)
}
