package broker_test

import (
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/broker"
)

func TestRedactURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://alice:s3cret@nats:4222", "nats://alice:xxxxx@nats:4222"},
		{"nats://t0ken@nats:4222", "nats://xxxxx@nats:4222"},
		{"nats://a:p@n1:4222, nats://n2:4222", "nats://a:xxxxx@n1:4222,nats://n2:4222"},
		{"tls://u:p%40ss@nats:4222", "tls://u:xxxxx@nats:4222"},
		{"%zz:s3cret@host", "xxxxx"},
	}
	for _, tc := range tests {
		got := broker.RedactURLs(tc.in)
		if got != tc.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, secret := range []string{"s3cret", "t0ken", "p%40ss"} {
			if strings.Contains(got, secret) {
				t.Errorf("RedactURLs(%q) = %q leaks %q", tc.in, got, secret)
			}
		}
	}
}
