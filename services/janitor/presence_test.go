package janitor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/session"
)

// TestDeadInstancePresenceExpires plays a realtime instance that died: its
// presence entry is never refreshed. The bucket TTL removes it within
// PRESENCE_TIMEOUT with a marker watchers see, and the running janitor then
// expires the idle session on its own.
func TestDeadInstancePresenceExpires(t *testing.T) {
	// A TTL long enough that the checks before it cannot be late on a busy machine.
	const ttl = 8 * time.Second
	e := newEnvTTL(t, ttl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Real clock, a 2 s idle timeout, so the loop sweeps every 500 ms.
	j := newJanitor(t, e, jopts{env: map[string]string{"SESSION_IDLE_TIMEOUT": "2s", "JANITOR_INTERVAL": ""}})
	r := seed(t, e.in, time.Now(), false)
	key := putPresence(t, e.in, r.ID, "ada", "conn-1")
	put := time.Now()
	w, err := e.in.Presence.Watch(ctx, key, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// Well past the idle timeout, the session stays while its user is present.
	time.Sleep(ttl - 3*time.Second)
	if !exists(t, e.in.Presence, key) {
		t.Fatalf("presence gone after %v, before the TTL", time.Since(put))
	}
	if got := holdingsOf(t, e.in, r.ID); !got.record || !got.document {
		t.Fatalf("session with a user connected was expired: %+v", got)
	}

	// TTLs fire up to ~300 ms late; the bound only keeps a broken TTL from hanging the test.
	deadline := time.After(ttl + 10*time.Second - time.Since(put))
	select {
	case u := <-w.Updates():
		if u == nil || (u.Operation() != jetstream.KeyValuePurge && u.Operation() != jetstream.KeyValueDelete) {
			t.Fatalf("watcher got %+v, want the expiry marker", u)
		}
		t.Logf("presence expired %v after the last refresh", time.Since(put).Round(10*time.Millisecond))
	case <-deadline:
		t.Fatalf("presence key still there %v after the last refresh (TTL %v)", time.Since(put), ttl)
	}
	if n, err := presence.Count(ctx, e.in.Presence, r.ID); err != nil || n != 0 {
		t.Errorf("presence count: got %d, %v; want 0", n, err)
	}

	// Nobody connected and idle: the loop expires it without being asked.
	waitFor(t, "the loop to expire the session", func() bool { return j.Stats().SessionsExpired == 1 })
	if got := holdingsOf(t, e.in, r.ID); got != (holdings{}) {
		t.Errorf("left behind: %+v, want nothing", got)
	}
	if _, _, err := session.NewStore(e.in.Sessions).GetAny(ctx, r.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("record: got %v, want not found", err)
	}

	// The expiry marker itself ages out (LimitMarkerTTL), so the bucket does not grow.
	waitFor(t, "the presence bucket to empty", func() bool {
		st, err := e.in.Presence.Status(ctx)
		return err == nil && st.Values() == 0
	})
}
