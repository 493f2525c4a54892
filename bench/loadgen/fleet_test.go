package loadgen

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestErrorClassAndTransient(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		class     string
		transient bool
	}{
		{"server error at the handshake", &RefusedError{Status: 500, Code: "INTERNAL_SERVER_ERROR"}, "INTERNAL_SERVER_ERROR", true},
		{"draining instance", &RefusedError{Code: "SERVICE_UNAVAILABLE"}, "SERVICE_UNAVAILABLE", true},
		{"session full", &RefusedError{Status: 409, Code: "SESSION_FULL"}, "SESSION_FULL", false},
		{"bad token", fmt.Errorf("dial: %w", &RefusedError{Status: 401, Code: "UNAUTHORIZED"}), "UNAUTHORIZED", false},
		{"REST refusal", &StatusError{Status: 429, Code: "RATE_LIMIT_EXCEEDED"}, "RATE_LIMIT_EXCEEDED", true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), "TIMEOUT", true},
		{"cancelled", context.Canceled, "CANCELED", false},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "NET:connection refused", true},
		{"anything else", errors.New("handshake: unexpected EOF"), "ERROR:handshake: unexpected EOF", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorClass(tc.err); got != tc.class {
				t.Errorf("errorClass = %q, want %q", got, tc.class)
			}
			if got := transient(tc.err); got != tc.transient {
				t.Errorf("transient = %v, want %v", got, tc.transient)
			}
		})
	}
}

func TestSourceAddrs(t *testing.T) {
	ips := SourceAddrs(300)
	if len(ips) != 300 || ips[0].String() != "127.0.0.2" || ips[249].String() != "127.0.0.251" || ips[250].String() != "127.0.1.2" {
		t.Errorf("SourceAddrs = %v ... %v", ips[:2], ips[248:252])
	}
	seen := map[string]bool{}
	for _, ip := range ips {
		if !ip.IsLoopback() || seen[ip.String()] {
			t.Fatalf("%v is not a fresh loopback address", ip)
		}
		seen[ip.String()] = true
	}
}

// TestInstanceOf spreads sessions over realtime instances: every instance
// carries an equal share, and the members of a session meet on different
// instances as long as there are enough.
func TestInstanceOf(t *testing.T) {
	for _, tc := range []struct{ sessions, users, instances int }{
		{300, 2, 3}, // idle50k: sessions of 2 over 3 instances
		{300, 3, 2}, // the split interview: sessions of 3 over 2
		{300, 3, 3},
		{10, 100, 2}, // a crowd
		{7, 3, 1},
	} {
		t.Run(fmt.Sprintf("%dx%d over %d", tc.sessions, tc.users, tc.instances), func(t *testing.T) {
			load := make([]int, tc.instances)
			for ord := range tc.sessions {
				seen := map[int]bool{}
				for j := range tc.users {
					i := instanceOf(ord, j, tc.instances)
					if i < 0 || i >= tc.instances {
						t.Fatalf("instanceOf(%d, %d, %d) = %d", ord, j, tc.instances, i)
					}
					seen[i] = true
					load[i]++
				}
				if want := min(tc.users, tc.instances); len(seen) != want {
					t.Errorf("session %d spans %d instances, want %d", ord, len(seen), want)
				}
			}
			total := tc.sessions * tc.users
			for i, n := range load {
				if n < total/tc.instances-tc.users || n > total/tc.instances+tc.users {
					t.Errorf("instance %d carries %d of %d members: %v", i, n, total, load)
				}
			}
		})
	}
}

// TestErrorWhich reads an error event's code and the limit or event type
// it names, which the results break refusals down by.
func TestErrorWhich(t *testing.T) {
	for _, tc := range []struct{ payload, code, which string }{
		{`{"error":"RATE_LIMIT_EXCEEDED","message":"m","details":{"limit":"connection","retryAfterMs":3}}`, "RATE_LIMIT_EXCEEDED", "connection"},
		{`{"error":"RATE_LIMIT_EXCEEDED","details":{"type":"cursor-update"}}`, "RATE_LIMIT_EXCEEDED", "cursor-update"},
		{`{"error":"SERVICE_UNAVAILABLE","details":{"limit":5,"type":"code-update"}}`, "SERVICE_UNAVAILABLE", "code-update"},
		{`{"error":"INVALID_PAYLOAD"}`, "INVALID_PAYLOAD", ""},
		{`not json`, "UNKNOWN_ERROR", ""},
	} {
		if code, which := errorWhich([]byte(tc.payload)); code != tc.code || which != tc.which {
			t.Errorf("errorWhich(%s) = %q, %q, want %q, %q", tc.payload, code, which, tc.code, tc.which)
		}
	}
}
