package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load("realtime", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 3002 || c.SessionIdleTimeout != 30*time.Minute || c.JanitorInterval != time.Minute ||
		c.SessionMaxUsers != 20 || c.PresenceTimeout != 30*time.Second || c.RateCreate != (Rate{10, time.Minute}) ||
		c.SessionMaxUserIDs != 500 || c.SessionRetention != 168*time.Hour || c.DocWindowVersions != 128 || c.PeerFlushDelay != time.Millisecond || c.NATSFlushDelay != time.Millisecond ||
		!c.TokenSecretGenerated || len(c.TokenSecret) != 32 || c.FrontendURLs[0] != "http://localhost:3000" {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

// Only realtime batches its main connection's writes by default: the api's
// and the janitor's requests wait for no batch.
func TestNATSFlushDelayDefaults(t *testing.T) {
	for process, want := range map[string]time.Duration{"realtime": time.Millisecond, "api": 0, "janitor": 0, "local": 0} {
		c, err := Load(process, env(nil))
		if err != nil || c.NATSFlushDelay != want {
			t.Errorf("%s: NATSFlushDelay %v, %v; want %v", process, c.NATSFlushDelay, err, want)
		}
	}
	c, err := Load("realtime", env(map[string]string{"NATS_FLUSH_DELAY": "0"}))
	if err != nil || c.NATSFlushDelay != 0 {
		t.Errorf("realtime with NATS_FLUSH_DELAY=0: %v, %v; want 0", c.NATSFlushDelay, err)
	}
}

func TestLoadValues(t *testing.T) {
	c, err := Load("api", env(map[string]string{
		"PORT": "8080", "SESSION_IDLE_TIMEOUT": "2s", "DOC_WINDOW_VERSIONS": "300", "RATE_LIMIT_JOIN": "0", "PEER_FLUSH_DELAY": "0", "NATS_FLUSH_DELAY": "500us", "RATE_LIMIT_CREATE": "5/s",
		"FRONTEND_URL": "http://a.test/, http://b.test", "TOKEN_SECRET": "s3cret", "LOG_LEVEL": "DEBUG",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.SessionIdleTimeout != 2*time.Second || c.JanitorInterval != 500*time.Millisecond ||
		c.DocWindowVersions != 300 || c.PeerFlushDelay != 0 || c.NATSFlushDelay != 500*time.Microsecond || !c.RateJoin.Disabled() || c.RateCreate != (Rate{5, time.Second}) || len(c.FrontendURLs) != 2 ||
		c.FrontendURLs[0] != "http://a.test" || string(c.TokenSecret) != "s3cret" || c.TokenSecretGenerated {
		t.Errorf("unexpected: %+v", c)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	for name, value := range map[string]string{
		"SESSION_IDLE_TIMEOUT": "abc", "PORT": "70000", "PRESENCE_TIMEOUT": "1s", "RATE_LIMIT_CREATE": "ten",
		"WS_ALLOW_ANONYMOUS": "maybe", "LOG_LEVEL": "loud", "SESSION_MAX_USERS": "0", "SESSION_MAX_USER_IDS": "8", "SESSION_RETENTION": "-1h", "JANITOR_INTERVAL": "-1s",
		"MEMORY_LIMIT": "512MB", "GO_MEMORY_PERCENT": "5",
		"WS_READER": "threads", "DOC_WINDOW_VERSIONS": "0", "PEER_FLUSH_DELAY": "-1ms", "NATS_FLUSH_DELAY": "101ms",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load("api", env(map[string]string{name: value}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("got %v, want an error naming %s", err, name)
			}
		})
	}
}

// MEMORY_LIMIT takes what a resourceFieldRef writes (bytes) and what a
// person writes (Kubernetes quantity suffixes); the Go soft limit is
// GO_MEMORY_PERCENT of it.
func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		limit, percent string
		want, goLimit  int64
		bad            string
	}{
		{limit: "", want: 0, goLimit: 0},
		{limit: "536870912", want: 512 << 20, goLimit: 512 << 20 * 80 / 100},
		{limit: "512Mi", want: 512 << 20, goLimit: 512 << 20 * 80 / 100},
		{limit: "2Gi", percent: "90", want: 2 << 30, goLimit: 2 << 30 * 90 / 100},
		{limit: "1G", percent: "100", want: 1e9, goLimit: 1e9},
		{limit: "300M", want: 300e6, goLimit: 240e6},
		{limit: "512", bad: "MEMORY_LIMIT"}, // bytes: a resourceFieldRef with divisor 1Mi
		{limit: "1000k", bad: "MEMORY_LIMIT"},
		{limit: "-1", bad: "MEMORY_LIMIT"},
		{limit: "1.5Gi", bad: "MEMORY_LIMIT"},
		{limit: "9999999999Ti", bad: "MEMORY_LIMIT"},
		{limit: "1Gi", percent: "101", bad: "GO_MEMORY_PERCENT"},
	}
	for _, tt := range tests {
		c, err := Load("realtime", env(map[string]string{"MEMORY_LIMIT": tt.limit, "GO_MEMORY_PERCENT": tt.percent}))
		if tt.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("%q/%q: got %v, want an error naming %s", tt.limit, tt.percent, err, tt.bad)
			}
			continue
		}
		if err != nil || c.MemoryLimit != tt.want || c.GoMemoryLimit() != tt.goLimit {
			t.Errorf("%q/%q: %d, Go %d, %v; want %d, Go %d", tt.limit, tt.percent, c.MemoryLimit, c.GoMemoryLimit(), err, tt.want, tt.goLimit)
		}
	}
}

// Op log limits that cannot hold together are refused, naming the variables.
func TestLoadRejectsOpLogLimitsThatCannotHold(t *testing.T) {
	tests := []struct {
		env   map[string]string
		names []string // every one must appear in the error; none: accepted
	}{
		{map[string]string{"OPS_MAX_PER_SESSION": "99"}, []string{"OPS_MAX_PER_SESSION"}},
		{map[string]string{"OPS_MAX_BYTES_PER_SESSION": "1048576"}, []string{"OPS_MAX_BYTES_PER_SESSION"}},
		{map[string]string{"OPS_MAX_BYTES": "1000"}, []string{"OPS_MAX_BYTES"}},
		{map[string]string{"OPS_MAX_BYTES": "100000000"}, []string{"OPS_MAX_BYTES_PER_SESSION", "OPS_MAX_BYTES"}},
		{map[string]string{"OPS_MAX_BYTES": "134217728", "OPS_MAX_BYTES_PER_SESSION": "67108865"}, []string{"OPS_MAX_BYTES_PER_SESSION", "OPS_MAX_BYTES"}},
		{map[string]string{"OPS_MAX_BYTES": "134217728", "OPS_MAX_BYTES_PER_SESSION": "67108864", "OPS_MAX_PER_SESSION": "100"}, nil},
	}
	for _, tc := range tests {
		_, err := Load("realtime", env(tc.env))
		if len(tc.names) == 0 {
			if err != nil {
				t.Errorf("%v: %v, want accepted", tc.env, err)
			}
			continue
		}
		for _, name := range tc.names {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%v: got %v, want an error naming %s", tc.env, err, name)
			}
		}
	}
	c, err := Load("realtime", env(nil))
	if err != nil || c.OpsMaxBytes != 4<<30 || c.OpsMaxBytesPerSession != 64<<20 {
		t.Errorf("defaults: %d, %d, %v", c.OpsMaxBytes, c.OpsMaxBytesPerSession, err)
	}
}
