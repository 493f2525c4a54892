package janitor

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

func TestSweepExpiresOnlyIdleUnconnectedSessions(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	j := newJanitor(t, e, jopts{now: clk.Now, ready: true})
	st := session.NewStore(e.in.Sessions)

	cases := []struct {
		name        string
		connected   bool          // a presence entry exists
		touchAfter  time.Duration // activity this long after creation (0: none)
		wantExpired bool
	}{
		{name: "idle and nobody connected", wantExpired: true},
		{name: "idle but a user connected", connected: true},
		{name: "fresh activity", touchAfter: 29 * time.Minute},
		{name: "activity just over the timeout ago", touchAfter: time.Minute, wantExpired: true},
	}
	ids := make([]string, len(cases))
	created := clk.Now()
	for i, c := range cases {
		ids[i] = seed(t, e.in, created, c.connected).ID
		if c.touchAfter > 0 {
			if err := st.Touch(context.Background(), ids[i], created.Add(c.touchAfter)); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk.Advance(31 * time.Minute)

	// The first sweep past the timeout only sees the idle sessions empty:
	// their clock starts now.
	rep, err := j.Sweep(context.Background())
	if err != nil || len(rep.Expired) != 0 {
		t.Fatalf("first sweep: %+v, %v; want nothing expired", rep, err)
	}
	for i, c := range cases {
		r, _, err := st.Get(context.Background(), ids[i])
		if wantEmpty := c.wantExpired; err != nil || (r.EmptySince != nil) != wantEmpty || wantEmpty && !r.EmptySince.Equal(clk.Now()) {
			t.Errorf("%s: emptySince %v, %v; want set to now: %t", c.name, r.EmptySince, err, wantEmpty)
		}
	}
	clk.Advance(30 * time.Minute)
	if rep, err = j.Sweep(context.Background()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := holdingsOf(t, e.in, ids[i])
			if gotExpired := slices.Contains(rep.Expired, ids[i]); gotExpired != c.wantExpired {
				t.Errorf("in report's expired: got %v, want %v (report %+v)", gotExpired, c.wantExpired, rep)
			}
			if c.wantExpired {
				if got != (holdings{}) {
					t.Errorf("left behind: %+v, want nothing", got)
				}
				return
			}
			want := holdings{record: true, document: true, opLog: true}
			if c.connected {
				want.presence = 1
			}
			if got != want {
				t.Errorf("holdings: got %+v, want %+v", got, want)
			}
			if r, _, err := st.Get(context.Background(), ids[i]); err != nil || !r.Live() {
				t.Errorf("session: got %+v, %v; want live", r, err)
			}
		})
	}
	if len(rep.Purged) != 0 || rep.Orphans != (Orphans{}) || len(rep.Errors) != 0 {
		t.Errorf("report: got %+v, want only expirations", rep)
	}
}

func TestSweepFinishesInterruptedCleanUp(t *testing.T) {
	e := newEnv(t)
	j := newJanitor(t, e, jopts{ready: true})
	st := session.NewStore(e.in.Sessions)
	ctx := context.Background()

	cases := []struct {
		name   string
		reason string
	}{
		{"api delete died midway", protocol.EndedDeleted},
		{"janitor crashed after the mark", protocol.EndedExpired},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		// Fresh activity and a user connected: an ended mark wins regardless.
		r := seed(t, e.in, time.Now(), true)
		_, rev, err := st.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.MarkPurging(ctx, r, rev, c.reason); err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	rep, err := j.Sweep(ctx)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !slices.Contains(rep.Purged, ids[i]) {
				t.Errorf("purged: got %v, want it to hold %s", rep.Purged, ids[i])
			}
			if got := holdingsOf(t, e.in, ids[i]); got != (holdings{}) {
				t.Errorf("left behind: %+v, want nothing", got)
			}
		})
	}
	if len(rep.Expired) != 0 {
		t.Errorf("expired: got %v, want none", rep.Expired)
	}
}

// TestActivityBetweenReadAndEndWins plays the compare-and-swap race: the
// janitor read the record, then a Touch landed before its End.
func TestActivityBetweenReadAndEndWins(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	j := newJanitor(t, e, jopts{now: clk.Now, ready: true})
	st := session.NewStore(e.in.Sessions)
	ctx := context.Background()

	r := seed(t, e.in, clk.Now(), false)
	seenEmpty(t, e.in, r.ID, clk.Now())
	clk.Advance(31 * time.Minute)
	all, err := st.All(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("All: %+v, %v", all, err)
	}
	stale := all[0]
	if err := st.Touch(ctx, r.ID, clk.Now()); err != nil {
		t.Fatal(err)
	}

	j.sweepMu.Lock()
	out, err := j.settle(ctx, clk.Now(), stale)
	j.sweepMu.Unlock()
	if err != nil || out != kept {
		t.Fatalf("settle with a stale revision: got %v, %v; want kept, no error", out, err)
	}
	if got, want := holdingsOf(t, e.in, r.ID), (holdings{record: true, document: true, opLog: true}); got != want {
		t.Errorf("holdings: got %+v, want %+v", got, want)
	}
	if got, _, err := st.Get(ctx, r.ID); err != nil || !got.Live() {
		t.Errorf("session: got %+v, %v; want live", got, err)
	}
}

// TestRacingJanitorsExpireEachSessionOnce runs three janitors, each on its
// own connection, sweeping concurrently over the same sessions.
func TestRacingJanitorsExpireEachSessionOnce(t *testing.T) {
	const idle, connected, fresh = 30, 6, 6
	e := newEnv(t)
	clk := newClock()
	created := clk.Now()
	var idleIDs, activeIDs []string
	for range idle {
		idleIDs = append(idleIDs, seed(t, e.in, created, false).ID)
		seenEmpty(t, e.in, idleIDs[len(idleIDs)-1], created)
	}
	for range connected {
		activeIDs = append(activeIDs, seed(t, e.in, created, true).ID)
	}
	for range fresh {
		activeIDs = append(activeIDs, seed(t, e.in, created.Add(20*time.Minute), false).ID)
	}

	regs := make([]*prometheus.Registry, 3)
	janitors := make([]*Service, len(regs))
	for i := range janitors {
		regs[i] = prometheus.NewRegistry()
		janitors[i] = newJanitor(t, e, jopts{now: clk.Now, reg: regs[i], ready: true})
	}
	clk.Advance(31 * time.Minute)

	const rounds, callers = 3, 2 // callers per janitor: their sweeps queue up behind each other
	var (
		mu      sync.Mutex
		reports []Report
		wg      sync.WaitGroup
	)
	for _, j := range janitors {
		for range callers {
			wg.Go(func() {
				for range rounds {
					rep, err := j.Sweep(context.Background())
					if err != nil {
						t.Errorf("sweep: %v", err)
					}
					mu.Lock()
					reports = append(reports, rep)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()

	seen := map[string]int{}
	for _, rep := range reports {
		for _, id := range rep.Expired {
			seen[id]++
		}
	}
	for _, id := range idleIDs {
		if seen[id] != 1 {
			t.Errorf("session %s expired %d times, want exactly once", id, seen[id])
		}
		if got := holdingsOf(t, e.in, id); got != (holdings{}) {
			t.Errorf("idle %s left behind %+v", id, got)
		}
	}
	for _, id := range activeIDs {
		if seen[id] != 0 {
			t.Errorf("active session %s expired", id)
		}
		if got := holdingsOf(t, e.in, id); !got.record || !got.document || !got.opLog {
			t.Errorf("active %s lost data: %+v", id, got)
		}
	}
	var total float64
	for _, reg := range regs {
		total += metricValue(t, reg, "pairpad_janitor_sessions_expired_total", nil)
	}
	if total != idle {
		t.Errorf("sum of sessions_expired_total: got %v, want %d", total, idle)
	}
	var stats int64
	for _, j := range janitors {
		stats += j.Stats().SessionsExpired
	}
	if stats != idle {
		t.Errorf("sum of micro stats sessionsExpiredTotal: got %d, want %d", stats, idle)
	}
	if all, err := session.NewStore(e.in.Sessions).All(context.Background()); err != nil || len(all) != connected+fresh {
		t.Errorf("records left: got %d, %v; want %d", len(all), err, connected+fresh)
	}
}

// TestConnectedTimeCountsAsActivity: the idle timeout runs from when the last
// user left, not from the last edit of a user who stayed connected quietly.
func TestConnectedTimeCountsAsActivity(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	j := newJanitor(t, e, jopts{now: clk.Now, ready: true})
	st := session.NewStore(e.in.Sessions)
	ctx := context.Background()

	r := seed(t, e.in, clk.Now(), false)
	key := putPresence(t, e.in, r.ID, "quiet", "c1")
	clk.Advance(time.Hour) // connected for an hour without an edit
	if rep, err := j.Sweep(ctx); err != nil || len(rep.Expired) != 0 {
		t.Fatalf("sweep with the user connected: %+v, %v", rep, err)
	}
	if got, _, err := st.Get(ctx, r.ID); err != nil || !got.LastActivityAt.Equal(clk.Now()) {
		t.Fatalf("lastActivityAt: got %v, %v; want %v", got.LastActivityAt, err, clk.Now())
	}

	if err := e.in.Presence.Purge(ctx, key); err != nil { // the user leaves
		t.Fatal(err)
	}
	steps := []struct {
		advance     time.Duration
		wantExpired bool
	}{
		{time.Second, false},      // a reconnect right after leaving finds the session
		{29 * time.Minute, false}, // still inside the timeout since the user was last seen
		{time.Minute, false},      // idle: now seen empty, the clock starts
		{29 * time.Minute, false}, // empty, but not for a whole timeout
		{time.Minute, true},       // the full timeout with nobody connected
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		rep, err := j.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(rep.Expired, r.ID); got != s.wantExpired {
			t.Fatalf("after %v more: expired %v, want %v", s.advance, got, s.wantExpired)
		}
	}
}

// TestExpiryNeedsTheWholeTimeoutEmpty: presence also empties by TTL while a
// realtime instance is paused or cut off from NATS with its users still
// connected to it, and quiet users never move lastActivityAt. A session
// expires only once sweeps saw it empty for a whole SESSION_IDLE_TIMEOUT
// without a break; users seen again, or activity, start the clock over.
func TestExpiryNeedsTheWholeTimeoutEmpty(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	j := newJanitor(t, e, jopts{now: clk.Now, ready: true})
	st := session.NewStore(e.in.Sessions)
	ctx := context.Background()

	r := seed(t, e.in, clk.Now(), false)
	key := ""
	steps := []struct {
		name        string
		advance     time.Duration
		connected   bool // a presence entry exists during the sweep
		touch       bool // activity just before the sweep
		wantEmpty   bool // emptySince set after the sweep
		wantExpired bool
	}{
		{"quiet users, edits long ago", 2 * time.Hour, true, false, false, false},
		{"their instance stalls: presence gone", 31 * time.Minute, false, false, true, false},
		{"still gone, inside the timeout", 29 * time.Minute, false, false, true, false},
		{"instance back: users seen again", 10 * time.Minute, true, false, false, false},
		{"quiet again, past the timeout", 31 * time.Minute, true, false, false, false},
		{"gone again: the clock starts over", 31 * time.Minute, false, false, true, false},
		{"activity while nobody is listed", 20 * time.Minute, false, true, false, false},
		{"idle after the activity: seen empty", 31 * time.Minute, false, false, true, false},
		{"a whole timeout empty", 30 * time.Minute, false, false, true, true},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if s.connected {
			key = putPresence(t, e.in, r.ID, "quiet", "c1")
		} else if key != "" {
			if err := e.in.Presence.Purge(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
		if s.touch {
			if err := st.Touch(ctx, r.ID, clk.Now()); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := j.Sweep(ctx)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := slices.Contains(rep.Expired, r.ID); got != s.wantExpired {
			t.Fatalf("%s: expired %t, want %t", s.name, got, s.wantExpired)
		}
		if s.wantExpired {
			if got := holdingsOf(t, e.in, r.ID); got != (holdings{}) {
				t.Fatalf("%s: left behind %+v", s.name, got)
			}
			return
		}
		got, _, err := st.Get(ctx, r.ID)
		if err != nil || (got.EmptySince != nil) != s.wantEmpty {
			t.Fatalf("%s: emptySince %v, %v; want set: %t", s.name, got.EmptySince, err, s.wantEmpty)
		}
	}
	t.Fatal("the session never expired")
}
