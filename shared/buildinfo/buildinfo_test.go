package buildinfo_test

import (
	"testing"

	"github.com/nats-io/nats.go/micro"

	"github.com/pairpad/pairpad/shared/buildinfo"
	"github.com/pairpad/pairpad/shared/natstest"
)

func TestSemVer(t *testing.T) {
	cases := []struct{ in, want string }{
		{"dev", "0.0.0-dev"},
		{"", "0.0.0-dev"},
		{"v1.2.3", "1.2.3"},
		{"1.4.0-rc.1", "1.4.0-rc.1"},
		{"v1.2.3-4-gdeadbee", "1.2.3-4-gdeadbee"},
		{"0abc123", "0.0.0-dev+0abc123"},
		{"v1.2.3-01.dirty", "0.0.0-dev+v1-2-3-01-dirty"},
		{"e57f793-dirty", "0.0.0-dev+e57f793-dirty"},
	}
	nc := natstest.Connect(t, natstest.Start(t))
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got := buildinfo.SemVer(c.in)
			if got != c.want {
				t.Errorf("SemVer(%q) = %q, want %q", c.in, got, c.want)
			}
			svc, err := micro.AddService(nc, micro.Config{Name: "version-check", Version: got})
			if err != nil {
				t.Fatalf("micro refuses %q: %v", got, err)
			}
			_ = svc.Stop()
		})
	}
}
