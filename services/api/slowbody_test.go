package api_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestSlowBodyIsCutOff: a client that sends its headers and then dribbles
// (or stops sending) its body does not hold a handler: within the request
// deadline it gets 400 INVALID_REQUEST in the protocol's body, and the api
// keeps serving.
func TestSlowBodyIsCutOff(t *testing.T) {
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	tests := []struct {
		name, head, sent string
	}{
		{"stalled", "Content-Length: 21\r\n", `{"langu`},
		{"chunked, stalled", "Transfer-Encoding: chunked\r\n", "7\r\n{\"langu\r\n"},
	}
	t.Run("group", func(t *testing.T) { // returns when the parallel subtests are done
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel() // each waits out the request deadline
				stalledBody(t, a, tc.head+"\r\n"+tc.sent)
			})
		}
	})
	a.createSession(t, "python")
}

// stalledBody sends a request whose body never completes and expects a 400
// within the request deadline.
func stalledBody(t *testing.T, a *testAPI, rest string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(a.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+rest); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(outageBound))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	defer resp.Body.Close()
	var b protocol.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != http.StatusBadRequest || b.Error != protocol.CodeInvalidRequest {
		t.Fatalf("got %d %+v (%v)", resp.StatusCode, b, err)
	}
}
