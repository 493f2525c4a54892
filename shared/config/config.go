// Package config reads every process's configuration from the environment,
// once, into a typed struct with the protocol's defaults.
package config

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pairpad/pairpad/shared/httpx"
)

// Rate is a limit of N events per Per; N == 0 disables it.
type Rate struct {
	N   int
	Per time.Duration
}

// Disabled reports whether the limit is switched off.
func (r Rate) Disabled() bool { return r.N <= 0 }

// String renders the rate as it is written in the environment.
func (r Rate) String() string {
	if r.Disabled() {
		return "0"
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}

// Config is everything a process can be told. Each service uses the part it needs.
type Config struct {
	Process string // "api", "realtime", "janitor" or "local"

	Port       int
	NATSURL    string
	NATSURLSet bool // NATS_URL was given; the all-in-one then does not embed a server
	NATSListen string
	// NATSInProcess: the all-in-one's services reach its embedded server in
	// memory rather than over loopback TCP (NATS_IN_PROCESS).
	NATSInProcess bool
	DataDir       string

	FrontendURLs []string
	WSURL        string

	AdminToken           string
	TokenSecret          []byte
	TokenSecretGenerated bool // no TOKEN_SECRET was given: a random one is used, with a warning
	TokenTTL             time.Duration

	WSAllowAnonymous   bool
	SessionIdleTimeout time.Duration
	JanitorInterval    time.Duration
	SessionMaxUsers    int
	// SessionMaxUserIDs bounds the distinct user ids that ever joined one
	// session (the participants registry), beyond the users connected now.
	SessionMaxUserIDs int
	// SessionRetention is how long an ended interview stays readable
	// before the janitor purges it.
	SessionRetention time.Duration
	PresenceTimeout  time.Duration

	RateCreate  Rate
	RateJoin    Rate
	RateDefault Rate
	TrustProxy  bool

	LogLevel slog.Level

	// JetStream layout.
	JSReplicas       int
	OpsMaxAge        time.Duration
	OpsMaxPerSession int64
	// OpsMaxBytes is the SESSION_OPS stream's MaxBytes; OpsMaxBytesPerSession
	// bounds what one document's op log holds (a snapshot lets older entries
	// go).
	OpsMaxBytes           int64
	OpsMaxBytesPerSession int64

	// WebSocket limits.
	WSMaxFrameBytes    int
	WSSendQueue        int
	WSMaxConns         int
	WSMaxConnsPerIP    int
	WSHandshakeTimeout time.Duration
	WSWriteTimeout     time.Duration // a write to a client without progress for this long ends the connection
	WSEventsPerSecond  int
	WSHandshakeRate    Rate // handshakes per user per session per instance
	// WSReader is how idle connections wait for frames: ReaderEpoll (one
	// epoll waiter for all, Linux; elsewhere it falls back) or
	// ReaderGoroutine (a goroutine each).
	WSReader string
	// PeerFlushDelay is the longest a realtime instance holds its peer
	// events (cursor moves, presence, the relay to other instances) to send
	// those published meanwhile in one write; 0 writes each at once.
	PeerFlushDelay time.Duration
	// NATSFlushDelay is the longest a process holds the writes of its main
	// NATS connection (op log appends, JetStream and key-value requests)
	// to send those made meanwhile in one write; 0 writes each at once.
	// Realtime's default is 1ms, the other processes' 0.
	NATSFlushDelay     time.Duration
	DocTransformBudget int // transform work one update may cost: components × versions behind
	// DocMemoryBudget bounds the bytes the documents hold on one realtime
	// instance (texts, opId indexes, windows of recent updates);
	// DocUnloadAfter is how long a document goes without edits before its
	// window is dropped; DocWindowVersions is how many versions a
	// document's window of recent updates keeps.
	DocMemoryBudget     int64
	DocWindowVersions   int
	DocUnloadAfter      time.Duration
	ShutdownTimeout     time.Duration
	HTTPReadHeaderLimit time.Duration
	HTTPIdleTimeout     time.Duration
	MaxHeaderBytes      int

	Pprof bool

	// MemoryLimit is the memory the process may use (its container's
	// limit, MEMORY_LIMIT; 0: unknown). The process keeps the Go runtime's
	// soft limit at GoMemoryPercent of it, leaving the rest for what the
	// runtime does not manage, unless GOMEMLIMIT itself is set.
	MemoryLimit     int64
	GoMemoryPercent int
}

// GoMemoryLimit is the soft limit the Go runtime gets from MEMORY_LIMIT:
// GoMemoryPercent of it, or 0 when no MEMORY_LIMIT is known.
func (c Config) GoMemoryLimit() int64 {
	p := int64(c.GoMemoryPercent)
	return c.MemoryLimit/100*p + c.MemoryLimit%100*p/100 // no overflow near 1<<62
}

// The values of WS_READER.
const (
	ReaderEpoll     = "epoll"
	ReaderGoroutine = "goroutine"
)

// DefaultPorts are the protocol's per-process ports.
var DefaultPorts = map[string]int{"api": 3001, "realtime": 3002, "janitor": 3003, "local": 3001}

// MinOpsBytesPerSession is the smallest OPS_MAX_BYTES_PER_SESSION: the
// document engine snapshots when half of it is used, and the log must still
// hold the snapshot's entry and a new one, each up to the stream's 2 MiB
// message limit.
const MinOpsBytesPerSession = 8 << 20

// MinMemoryLimit is the smallest MEMORY_LIMIT other than 0.
const MinMemoryLimit = 16 << 20

// Load reads the configuration of process from getenv. A bad value is an
// error naming the variable.
func Load(process string, getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{Process: process}
	c.Port = p.integer("PORT", DefaultPorts[process], 0, 65535) // 0: the OS picks (tests)
	c.NATSURL = p.str("NATS_URL", "nats://127.0.0.1:4222")
	c.NATSURLSet = getenv("NATS_URL") != ""
	c.NATSListen = p.str("NATS_LISTEN", "127.0.0.1:4222")
	c.NATSInProcess = p.boolean("NATS_IN_PROCESS", true)
	c.DataDir = p.str("DATA_DIR", "./.data")
	c.FrontendURLs = p.origins("FRONTEND_URL", "http://localhost:3000")
	c.WSURL = p.str("WS_URL", "")
	c.AdminToken = getenv("ADMIN_TOKEN")
	if s := getenv("TOKEN_SECRET"); s != "" {
		c.TokenSecret = []byte(s)
	} else {
		c.TokenSecret = make([]byte, 32)
		_, _ = rand.Read(c.TokenSecret)
		c.TokenSecretGenerated = true
	}
	c.TokenTTL = p.duration("TOKEN_TTL", 24*time.Hour)
	c.WSAllowAnonymous = p.boolean("WS_ALLOW_ANONYMOUS", false)
	c.SessionIdleTimeout = p.duration("SESSION_IDLE_TIMEOUT", 30*time.Minute)
	defInterval := c.SessionIdleTimeout / 4
	if defInterval > time.Minute {
		defInterval = time.Minute
	}
	if defInterval < 100*time.Millisecond {
		defInterval = 100 * time.Millisecond
	}
	c.JanitorInterval = p.duration("JANITOR_INTERVAL", defInterval)
	c.SessionMaxUsers = p.integer("SESSION_MAX_USERS", 20, 1, 10000)
	c.SessionMaxUserIDs = p.integer("SESSION_MAX_USER_IDS", 500, 16, 1000)
	c.SessionRetention = p.duration("SESSION_RETENTION", 168*time.Hour)
	c.PresenceTimeout = p.duration("PRESENCE_TIMEOUT", 30*time.Second)
	if c.PresenceTimeout < 3*time.Second && p.err == nil && getenv("PRESENCE_TIMEOUT") != "" {
		p.fail("PRESENCE_TIMEOUT", getenv("PRESENCE_TIMEOUT"), "must be at least 3s (JetStream TTLs are whole seconds)")
	}
	c.RateCreate = p.rate("RATE_LIMIT_CREATE", Rate{10, time.Minute})
	c.RateJoin = p.rate("RATE_LIMIT_JOIN", Rate{20, time.Minute})
	c.RateDefault = p.rate("RATE_LIMIT_DEFAULT", Rate{100, time.Minute})
	c.TrustProxy = p.boolean("TRUST_PROXY", false)
	c.LogLevel = p.level("LOG_LEVEL", slog.LevelInfo)

	c.JSReplicas = p.integer("JS_REPLICAS", 1, 1, 5)
	c.OpsMaxAge = p.duration("OPS_MAX_AGE", 7*24*time.Hour)
	c.OpsMaxPerSession = int64(p.integer("OPS_MAX_PER_SESSION", 100000, 100, 100000000))
	c.OpsMaxBytes = int64(p.integer("OPS_MAX_BYTES", 4<<30, 64<<20, 1<<50))
	c.OpsMaxBytesPerSession = int64(p.integer("OPS_MAX_BYTES_PER_SESSION", 64<<20, MinOpsBytesPerSession, 1<<50))
	if p.err == nil && c.OpsMaxBytesPerSession > c.OpsMaxBytes/2 {
		p.fail("OPS_MAX_BYTES_PER_SESSION", strconv.FormatInt(c.OpsMaxBytesPerSession, 10), fmt.Sprintf(
			"must be at most half of OPS_MAX_BYTES (%d): the SESSION_OPS stream must hold more than one session's op log", c.OpsMaxBytes))
	}

	c.WSMaxFrameBytes = p.integer("WS_MAX_FRAME_BYTES", 1<<20, 1024, 64<<20)
	c.WSSendQueue = p.integer("WS_SEND_QUEUE", 256, 8, 65536)
	c.WSMaxConns = p.integer("WS_MAX_CONNECTIONS", 100000, 1, 10000000)
	c.WSMaxConnsPerIP = p.integer("WS_MAX_CONNECTIONS_PER_IP", 200, 0, 10000000)
	c.WSHandshakeTimeout = p.duration("WS_HANDSHAKE_TIMEOUT", 10*time.Second)
	c.WSWriteTimeout = p.duration("WS_WRITE_TIMEOUT", 10*time.Second)
	c.WSEventsPerSecond = p.integer("WS_EVENTS_PER_SECOND", 100, 0, 1000000)
	c.WSHandshakeRate = p.rate("WS_HANDSHAKES_PER_USER", Rate{30, time.Minute})
	c.WSReader = p.choice("WS_READER", ReaderEpoll, ReaderEpoll, ReaderGoroutine)
	c.PeerFlushDelay = p.window("PEER_FLUSH_DELAY", time.Millisecond, 100*time.Millisecond)
	natsFlush := time.Duration(0) // requests of the api and the janitor wait for no batch
	if process == "realtime" {
		natsFlush = time.Millisecond
	}
	c.NATSFlushDelay = p.window("NATS_FLUSH_DELAY", natsFlush, 100*time.Millisecond)
	c.DocTransformBudget = p.integer("DOC_TRANSFORM_BUDGET", 1000000, 100, 1<<40)
	c.DocMemoryBudget = int64(p.integer("DOC_MEMORY_BUDGET", 64<<20, 1<<20, 1<<50))
	c.DocUnloadAfter = p.duration("DOC_UNLOAD_AFTER", time.Minute)
	c.DocWindowVersions = p.integer("DOC_WINDOW_VERSIONS", 128, 1, 16384)
	c.ShutdownTimeout = p.duration("SHUTDOWN_TIMEOUT", 20*time.Second)
	c.HTTPReadHeaderLimit = p.duration("HTTP_READ_HEADER_TIMEOUT", 10*time.Second)
	c.HTTPIdleTimeout = p.duration("HTTP_IDLE_TIMEOUT", 120*time.Second)
	c.MaxHeaderBytes = p.integer("HTTP_MAX_HEADER_BYTES", 32<<10, 1024, 1<<20)
	c.Pprof = p.boolean("PPROF", false)
	c.MemoryLimit = p.bytes("MEMORY_LIMIT", 0)
	if c.MemoryLimit > 0 && c.MemoryLimit < MinMemoryLimit && p.err == nil {
		// 512 is 512 bytes: a resourceFieldRef with a divisor writes units.
		p.fail("MEMORY_LIMIT", getenv("MEMORY_LIMIT"), "must be 0 (none) or at least 16Mi; a number without a suffix is bytes")
	}
	c.GoMemoryPercent = p.integer("GO_MEMORY_PERCENT", 80, 10, 100)
	return c, p.err
}

type parser struct {
	getenv func(string) string
	err    error
}

func (p *parser) fail(name, value, why string) {
	if p.err == nil {
		p.err = fmt.Errorf("config: %s=%q: %s", name, value, why)
	}
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

// choice is one of options (def when unset).
func (p *parser) choice(name, def string, options ...string) string {
	v := p.str(name, def)
	if !slices.Contains(options, v) {
		p.fail(name, v, "must be one of "+strings.Join(options, ", "))
		return def
	}
	return v
}

func (p *parser) list(name, def string) []string {
	var out []string
	for _, s := range strings.Split(p.str(name, def), ",") {
		if s = strings.TrimRight(strings.TrimSpace(s), "/"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// origins reads a list of browser origins, each in its RFC 6454
// serialisation (httpx.SerializeOrigin), so that every check compares one
// spelling. "*" is refused: which pages may use the API and the sockets is
// an explicit list, never "any".
func (p *parser) origins(name, def string) []string {
	var out []string
	for _, s := range p.list(name, def) {
		if s == "*" {
			p.fail(name, p.getenv(name), `"*" (any origin) is not allowed: list the frontend's origins, scheme://host[:port], comma-separated`)
			return nil
		}
		o, err := httpx.SerializeOrigin(s)
		if err != nil {
			p.fail(name, p.getenv(name), err.Error())
			return nil
		}
		out = append(out, o)
	}
	return out
}

func (p *parser) integer(name string, def, lo, hi int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(name, v, "not an integer")
		return def
	}
	if n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("out of range %d..%d", lo, hi))
		return def
	}
	return n
}

// byteUnits are the suffixes bytes accepts: Kubernetes' binary and
// decimal quantity suffixes (a resourceFieldRef writes plain bytes).
var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// bytes reads a size: a whole number of bytes, or one with a suffix of
// byteUnits (512Mi, 2G); 0 means none.
func (p *parser) bytes(name string, def int64) int64 {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	num, factor := v, int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(v, u.suffix) {
			num, factor = strings.TrimSuffix(v, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/factor {
		p.fail(name, v, "not a size (bytes, or a number with Ki, Mi, Gi, Ti, k, M, G or T)")
		return def
	}
	return n * factor
}

func (p *parser) boolean(name string, def bool) bool {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, "not a boolean (true or false)")
		return def
	}
	return b
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	return p.durationIn(name, def, 1, math.MaxInt64, "must be positive")
}

// window is a duration from 0 (off) to hi.
func (p *parser) window(name string, def, hi time.Duration) time.Duration {
	return p.durationIn(name, def, 0, hi, fmt.Sprintf("must be from 0 (off) to %v", hi))
}

// durationIn is a duration from lo to hi; outside them it fails with why.
func (p *parser) durationIn(name string, def, lo, hi time.Duration, why string) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, v, "not a duration (Go syntax such as 30s or 5m)")
		return def
	}
	if d < lo || d > hi {
		p.fail(name, v, why)
		return def
	}
	return d
}

func (p *parser) rate(name string, def Rate) Rate {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	if v == "0" {
		return Rate{}
	}
	n, per, ok := strings.Cut(v, "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 0 {
		p.fail(name, v, "not a rate (N/duration such as 10/1m, or 0 to disable)")
		return def
	}
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second {
		p.fail(name, v, "the period must be a duration of at least 1s")
		return def
	}
	return Rate{N: count, Per: d.Truncate(time.Second)}
}

func (p *parser) level(name string, def slog.Level) slog.Level {
	v := strings.ToLower(strings.TrimSpace(p.getenv(name)))
	switch v {
	case "":
		return def
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	p.fail(name, v, "must be debug, info, warn or error")
	return def
}
