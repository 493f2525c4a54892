package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options are the settings every scenario shares: where the servers are and
// how to talk to them.
type Options struct {
	APIURL string   // http://host:port of the api (or the all-in-one)
	WSURLs []string // ws://host:port of each realtime process; a session's users are spread over them (instanceOf)
	// Colocate puts every member of a session on the same instance (the
	// sessions still spread over them): for servers that relay only
	// between their own connections, such as several bare relays.
	Colocate bool
	// Targets are the processes whose /metrics are read before and after.
	Targets     []Target
	Framing     Framing
	Legacy      bool
	DeltaFormat string // "fullCode" or "ops"
	Language    string
	// Sources is how many loopback source addresses to dial from.
	Sources int
	// Concurrency bounds parallel session set-ups (REST calls and handshakes).
	Concurrency      int
	HandshakeTimeout time.Duration
	// DialRetries is how many times a handshake that failed for a
	// transient reason (a server error, a timeout) is tried again, with
	// backoff, as real clients reconnect; each retry is counted.
	DialRetries int
	// NoReconnect switches reconnection off: by default a user whose
	// connection ends unasked dials again with `since` and resends its
	// pending update, like the reference client (see reconnect.go).
	NoReconnect bool
	// CutEvery, when positive, drops one random connection (its TCP
	// socket, without a goodbye) every CutEvery during measured windows,
	// to prove reconnection keeps every client's text right.
	CutEvery time.Duration
	// TokenSecret, when set, signs join tokens locally (the server's
	// TOKEN_SECRET) instead of calling join for each user: set-up of tens of
	// thousands of connections then measures the WebSocket side only.
	TokenSecret string
	// WatchRSS are the server processes (by PID) whose VmRSS is sampled
	// every RSSEvery (default 5s) from the warmup to the end of the
	// measured window of an interview: memory under edits.
	WatchRSS []Target
	RSSEvery time.Duration
	// KeepRaw keeps every latency sample in the result (Traffic.Raw,
	// ConnectStats.Raw), so the results of several generator processes
	// merge exactly (MergeResults).
	KeepRaw bool
	// Slow, when set, records the time structure of the code-updates'
	// latencies (series.go).
	Slow *SlowLog
	// Progress receives one line per phase; nil: quiet.
	Progress io.Writer
	// OnWindow, when set, is called at the start of every measured window
	// (the idle hold, each interview or ramp window) with the scenario
	// and the window's length, so a caller can profile the servers during
	// it. It must not block.
	OnWindow func(scenario string, length time.Duration)
}

func (o *Options) defaults() {
	if o.Framing == "" {
		o.Framing = FramingPlain
	}
	if o.Language == "" {
		o.Language = "javascript"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 20 * time.Second
	}
	if o.Legacy {
		o.DeltaFormat = "fullCode"
	}
}

// fleet is every simulated user of a run, and how they are measured.
type fleet struct {
	name   string // the scenario
	opts   Options
	clock  Clock
	dialer *Dialer
	api    *API
	hc     *http.Client

	mu       sync.RWMutex
	byID     map[string]*user
	sessions []*session
	nextUser int
	// nextSession numbers the sessions prepared, for instanceOf.
	nextSession int

	// Sends at Clock times in [windowStart, windowEnd) are measured;
	// windowStart is MaxInt64 before the first window.
	windowStart atomic.Int64
	windowEnd   atomic.Int64
	measuring   atomic.Bool
	// windowAt is when the current measured window started (wall clock),
	// for the RSS series.
	windowAt atomic.Int64

	// Reconnection watchers (reconnect.go), ended by close.
	rctx    context.Context
	rcancel context.CancelFunc
	rwg     sync.WaitGroup
	cuts    atomic.Int64
	// reconnects counts every reconnection of the run: cursor-updates sent
	// while a member was away are not replayed, so settling stops waiting
	// for them once there has been one.
	reconnects atomic.Int64

	// typists, when positive, splits each session's users into that many
	// typists (code only) and cursor movers (cursor only); see ratesFor.
	typists int
}

// session is one session and the users that joined it.
type session struct {
	id    string
	users []*user
}

func newFleet(name string, opts Options) *fleet {
	opts.defaults()
	sources := SourceAddrs(opts.Sources)
	f := &fleet{
		name:   name,
		opts:   opts,
		clock:  NewClock(),
		dialer: NewDialer(sources, opts.HandshakeTimeout),
		api:    NewAPI(opts.APIURL, opts.Concurrency, sources),
		hc:     &http.Client{Timeout: 30 * time.Second},
		byID:   map[string]*user{},
	}
	f.rctx, f.rcancel = context.WithCancel(context.Background())
	f.windowStart.Store(math.MaxInt64)
	f.windowEnd.Store(math.MaxInt64)
	opts.Slow.start(f.clock)
	return f
}

func (f *fleet) logf(format string, args ...any) {
	if f.opts.Progress != nil {
		fmt.Fprintf(f.opts.Progress, time.Now().Format("15:04:05 ")+format+"\n", args...)
	}
}

// WindowMarker starts the line the loadgen command prints to its stderr
// when a measured window starts (then the scenario and the window's
// length), so a parent running it as a process can profile the servers
// over the window.
const WindowMarker = "loadgen: window started:"

// windowStarted tells the OnWindow hook, if any.
func (f *fleet) windowStarted(length time.Duration) {
	if f.opts.OnWindow != nil {
		f.opts.OnWindow(f.name, length)
	}
}

// lookup finds the user a server event names as its sender.
func (f *fleet) lookup(id string) *user {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.byID[id]
}

// users returns every user of the fleet.
func (f *fleet) users() []*user {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*user
	for _, s := range f.sessions {
		out = append(out, s.users...)
	}
	return out
}

// close closes every connection.
func (f *fleet) close() {
	var wg sync.WaitGroup
	f.stopReconnecting()
	for _, u := range f.users() {
		if c := u.conn.Load(); c != nil {
			wg.Go(c.Close)
		}
	}
	wg.Wait()
	f.api.Close()
}

// scrape reads every target; a target that fails is left out.
func (f *fleet) scrape(ctx context.Context) map[string]ProcSample {
	out := map[string]ProcSample{}
	for _, t := range f.opts.Targets {
		s, err := Scrape(ctx, f.hc, t)
		if err != nil {
			f.logf("metrics of %s: %v", t.Name, err)
			continue
		}
		out[t.Name] = s
	}
	return out
}

// compare returns the per-process change between two scrapes.
func (f *fleet) compare(before, after map[string]ProcSample) []ProcessStats {
	var out []ProcessStats
	for _, t := range f.opts.Targets {
		b, ok1 := before[t.Name]
		a, ok2 := after[t.Name]
		if ok1 && ok2 {
			out = append(out, Compare(t.Name, b, a))
		}
	}
	return out
}

// collectGarbage asks every target to run a GC (through the heap profile
// endpoint, when pprof is served), so heap readings compare live memory.
func (f *fleet) collectGarbage(ctx context.Context) bool {
	all := true
	for _, t := range f.opts.Targets {
		if t.URL == "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL+"/debug/pprof/heap?gc=1", nil)
		if err != nil {
			return false
		}
		resp, err := f.hc.Do(req)
		if err != nil {
			all = false
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		all = all && resp.StatusCode == http.StatusOK
	}
	return all
}
