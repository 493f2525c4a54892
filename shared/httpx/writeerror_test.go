package httpx_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestWriteErrorClassifiesOutages: a NATS outage without a protocol error code is
// 503 SERVICE_UNAVAILABLE with Retry-After, a coded error keeps its status,
// and anything else is a generic 500.
func TestWriteErrorClassifiesOutages(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		retryAfter string // set by the caller before WriteError
		status     int
		code       protocol.Code
		wantRetry  string
	}{
		{"nats timeout", fmt.Errorf("get session: %w", nats.ErrTimeout), "", 503, protocol.CodeServiceUnavailable, "1"},
		{"connection closed", nats.ErrConnectionClosed, "", 503, protocol.CodeServiceUnavailable, "1"},
		{"no responders", fmt.Errorf("kv: %w", nats.ErrNoResponders), "", 503, protocol.CodeServiceUnavailable, "1"},
		{"caller's Retry-After wins", protocol.Errorf(protocol.CodeServiceUnavailable, "starting"), "7", 503, protocol.CodeServiceUnavailable, "7"},
		{"coded error", protocol.Wrap(protocol.CodeSessionNotFound, "gone", nats.ErrTimeout), "", 404, protocol.CodeSessionNotFound, ""},
		{"bug", errors.New("nil pointer"), "", 500, protocol.CodeInternal, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			httpx.WriteError(w, tc.err)
			var b protocol.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status || b.StatusCode != tc.status || b.Error != tc.code {
				t.Errorf("got %d %+v, want %d %s", w.Code, b, tc.status, tc.code)
			}
			if got := w.Header().Get("Retry-After"); got != tc.wantRetry {
				t.Errorf("Retry-After %q, want %q", got, tc.wantRetry)
			}
			if tc.code == protocol.CodeInternal && b.Message != "An internal error occurred" {
				t.Errorf("internal message leaks: %q", b.Message)
			}
		})
	}
}
