package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestStarterCodeKeptAsSent: a starterCode that decoding would rewrite to
// U+FFFD (a lone surrogate escape, invalid UTF-8) is refused with 400
// INVALID_REQUEST naming the field and why, and no session is made; a real
// surrogate pair and a U+FFFD the client sent are version 1 exactly.
func TestStarterCodeKeptAsSent(t *testing.T) {
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))

	for _, tc := range []struct{ name, code, why string }{
		{"lone high surrogate", `x\ud800`, `\ud800`},
		{"lone low surrogate", `\udc00x`, `\udc00`},
		{"reversed pair", `\udc00\ud800`, `\udc00`},
		{"high surrogate before a letter", `\uD83D\u0041`, `\uD83D`},
		{"invalid UTF-8", "a\xffb", "0xff"},
		{"a surrogate in CESU-8", "\xed\xa0\x80", "0xed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(t, req{method: http.MethodPost, path: "/api/sessions", body: `{"language":"go","starterCode":"` + tc.code + `"}`})
			b := r.errorBody(t)
			why, _ := b.Details["starterCode"].(string)
			if r.status != http.StatusBadRequest || b.Error != protocol.CodeInvalidRequest || !strings.Contains(why, tc.why) {
				t.Fatalf("got %d %+v; want 400 INVALID_REQUEST with details.starterCode naming %q", r.status, b, tc.why)
			}
		})
	}
	list := a.do(t, req{method: http.MethodGet, path: "/api/sessions", header: bearerHeader(adminToken)})
	if list.status != http.StatusOK || strings.Contains(string(list.body), `"id"`) {
		t.Fatalf("sessions after the refusals: %d %s, want none", list.status, list.body)
	}

	s := a.createInterview(t, "{\"language\":\"go\",\"starterCode\":\"\\ud83d\\ude00\\ufffd\uFFFD\\\\ud800\"}")
	code := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + s.ID + "/code", header: bearerHeader(s.HostKey)})
	var c protocol.CurrentCode
	code.json(t, &c)
	if want := "😀\uFFFD\uFFFD\\ud800"; code.status != 200 || c.Code != want || c.Version != 1 {
		t.Fatalf("code: %d %q version %d; want %q at version 1", code.status, c.Code, c.Version, want)
	}
}
