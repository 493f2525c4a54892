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
// heartbeat is never renewed (vouched), or, for an instance of an older
// version that writes none, its entry is never refreshed. Its user counts
// until PRESENCE_TIMEOUT after that, no longer (the heartbeat's expiry
// marker reaches the watchers), and the running janitor then expires the
// idle session on its own, removing the entry too.
func TestDeadInstancePresenceExpires(t *testing.T) {
	for _, vouched := range []bool{true, false} {
		name := map[bool]string{true: "vouched", false: "older instance"}[vouched]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A TTL long enough that the checks before it cannot be late on a busy machine.
			const ttl = 8 * time.Second
			e := newEnvTTL(t, ttl)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			// Real clock, a 2 s idle timeout, so the loop sweeps every 500 ms.
			j := newJanitor(t, e, jopts{env: map[string]string{"SESSION_IDLE_TIMEOUT": "2s", "JANITOR_INTERVAL": ""}})
			r := seed(t, e.in, time.Now(), false)
			w, err := e.in.PresenceInstances.WatchAll(ctx, jetstream.UpdatesOnly())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			// put is taken before the entry's own time (LastSeen, set in
			// putEntry): an older instance's entry counts until LastSeen + TTL,
			// so a clock read after the put would be late by the put's own
			// round trip.
			put := time.Now()
			key := putEntry(t, e.in, r.ID, "ada", "conn-1", vouched)

			// Well past the idle timeout, the session stays while its user is present.
			time.Sleep(ttl - 3*time.Second)
			if n, err := presence.Count(ctx, e.in, r.ID); err != nil || n != 1 {
				t.Fatalf("presence count %d, %v after %v, before the TTL; want 1", n, err, time.Since(put))
			}
			if got := holdingsOf(t, e.in, r.ID); !got.record || !got.document {
				t.Fatalf("session with a user connected was expired: %+v", got)
			}

			if vouched {
				// TTLs fire up to ~300 ms late; the bound only keeps a broken TTL from hanging the test.
				deadline := time.After(ttl + 10*time.Second - time.Since(put))
				for expired := false; !expired; {
					select {
					case u := <-w.Updates():
						if u == nil {
							t.Fatal("heartbeat watcher ended")
						}
						b, alive, ok := presence.DecodeBeat(u)
						expired = ok && !alive && b.Instance == "test"
					case <-deadline:
						t.Fatalf("heartbeat still there %v after it was put (TTL %v)", time.Since(put), ttl)
					}
				}
				t.Logf("heartbeat expired %v after it was put", time.Since(put).Round(10*time.Millisecond))
			}
			waitFor(t, "the user to stop counting", func() bool {
				n, err := presence.Count(ctx, e.in, r.ID)
				return err == nil && n == 0
			})
			if time.Since(put) < ttl {
				t.Fatalf("the user stopped counting %v after the entry, before the TTL %v", time.Since(put), ttl)
			}

			// Nobody connected and idle: the loop expires it without being asked,
			// the entry with it.
			waitFor(t, "the loop to expire the session", func() bool { return j.Stats().SessionsExpired == 1 })
			if got := holdingsOf(t, e.in, r.ID); got != (holdings{}) {
				t.Errorf("left behind: %+v, want nothing", got)
			}
			if exists(t, e.in.Presence, key) {
				t.Error("the dead instance's entry is still there")
			}
			if _, _, err := session.NewStore(e.in.Sessions).GetAny(ctx, r.ID); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("record: got %v, want not found", err)
			}
			if vouched {
				// The expiry marker itself ages out (LimitMarkerTTL), so the bucket does not grow.
				waitFor(t, "the instances bucket to empty", func() bool {
					st, err := e.in.PresenceInstances.Status(ctx)
					return err == nil && st.Values() == 0
				})
			}
		})
	}
}
