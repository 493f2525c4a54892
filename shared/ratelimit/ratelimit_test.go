package ratelimit_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ratelimit"
)

func infra(t *testing.T) *broker.Infra {
	t.Helper()
	nc := natstest.Connect(t, natstest.Start(t))
	in, err := broker.Provision(context.Background(), nc, broker.Layout{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestAllowFixedWindowShared(t *testing.T) {
	ctx := context.Background()
	in := infra(t)
	clk := &clock{}
	clk.set(time.Date(2025, 1, 1, 12, 0, 15, 0, time.UTC)) // 45 s before the minute ends
	a, b := ratelimit.New(in.Limits, clk.now), ratelimit.New(in.Limits, clk.now)
	rate := config.Rate{N: 3, Per: time.Minute}

	for i, l := range []*ratelimit.Limiter{a, b, a} {
		res, err := l.Allow(ctx, "create", "10.0.0.1", rate)
		if err != nil || !res.Allowed || res.Remaining != 2-i {
			t.Fatalf("request %d: %+v, %v", i+1, res, err)
		}
	}
	res, err := b.Allow(ctx, "create", "10.0.0.1", rate)
	if err != nil || res.Allowed || res.RetryAfter != 45*time.Second {
		t.Fatalf("4th request: %+v, %v; want refused with RetryAfter 45s", res, err)
	}
	// Other clients and other classes have their own counts.
	if res, _ := a.Allow(ctx, "create", "10.0.0.2", rate); !res.Allowed {
		t.Error("another client was refused")
	}
	if res, _ := a.Allow(ctx, "join", "10.0.0.1", rate); !res.Allowed {
		t.Error("another class was refused")
	}
	// A refused request is not counted, and the next window starts afresh.
	clk.advance(44*time.Second + 500*time.Millisecond)
	if res, _ := a.Allow(ctx, "create", "10.0.0.1", rate); res.Allowed || res.RetryAfter != time.Second {
		t.Errorf("half a second before the end: %+v, want refused with RetryAfter 1s", res)
	}
	clk.advance(time.Second)
	if res, _ := a.Allow(ctx, "create", "10.0.0.1", rate); !res.Allowed {
		t.Errorf("next window: %+v, want allowed", res)
	}
	if _, err := in.Limits.Get(ctx, ratelimit.Key("create", "10.0.0.1", clk.now().Unix()/60)); err != nil {
		t.Errorf("counter key: %v", err)
	}
}

func TestAllowConcurrentExact(t *testing.T) {
	ctx := context.Background()
	in := infra(t)
	now := func() time.Time { return time.Date(2025, 1, 1, 12, 0, 1, 0, time.UTC) }
	limiters := []*ratelimit.Limiter{ratelimit.New(in.Limits, now), ratelimit.New(in.Limits, now)}
	rate := config.Rate{N: 10, Per: time.Minute}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := limiters[i%2].Allow(ctx, "default", "::1", rate)
			if err != nil {
				t.Errorf("allow: %v", err)
			}
			if res.Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != 10 {
		t.Errorf("allowed %d of 30 concurrent requests, want exactly 10", got)
	}
}

func TestAllowDisabled(t *testing.T) {
	l := ratelimit.New(nil, nil) // never touches the bucket
	res, err := l.Allow(context.Background(), "create", "x", config.Rate{})
	if err != nil || !res.Allowed {
		t.Errorf("disabled: %+v, %v", res, err)
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name, remote, xff string
		trust             bool
		want              string
	}{
		{"remote v4", "192.0.2.1:5555", "", false, "192.0.2.1"},
		{"remote v6", "[2001:db8::1]:5555", "", false, "2001:db8::1"},
		{"remote mapped v4", "[::ffff:192.0.2.9]:1", "", false, "192.0.2.9"},
		{"xff ignored untrusted", "192.0.2.1:5555", "198.51.100.7", false, "192.0.2.1"},
		{"xff first entry trusted", "192.0.2.1:5555", " 198.51.100.7 , 10.0.0.1", true, "198.51.100.7"},
		{"xff garbage falls back", "192.0.2.1:5555", "not-an-ip", true, "192.0.2.1"},
		{"no port", "192.0.2.3", "", false, "192.0.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := ratelimit.ClientIP(r, tc.trust); got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}
