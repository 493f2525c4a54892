package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// bucket opens a KV bucket the processes provisioned, from the test's own
// connection to srv.
func bucket(t *testing.T, srv *server.Server, name string) jetstream.KeyValue {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, name)
	if err != nil {
		t.Fatalf("bucket %s: %v", name, err)
	}
	return kv
}

// A realtime process paused (SIGSTOP) for 2 × PRESENCE_TIMEOUT loses its
// users' presence (its heartbeat's TTL) while they are still connected to it, and their
// last edits are older than SESSION_IDLE_TIMEOUT: the janitor must not
// expire their sessions, because it expires a session only once it has seen
// it empty for a whole SESSION_IDLE_TIMEOUT. After SIGCONT the documents are
// there, users connect and edit, and quiet users keep their sessions across
// further sweeps.
func TestPausedInstanceKeepsSessions(t *testing.T) {
	const presenceTimeout, idle, sessions = 5 * time.Second, 10 * time.Second, 3
	srv := natstest.Start(t)
	env := map[string]string{"NATS_URL": srv.ClientURL(), "TOKEN_SECRET": "e2e-secret", "ADMIN_TOKEN": "e2e-admin",
		"PRESENCE_TIMEOUT": presenceTimeout.String(), "SESSION_IDLE_TIMEOUT": idle.String(), "JANITOR_INTERVAL": "500ms"}
	api, rt, janitor := startProc(t, "api", env), startProc(t, "realtime", env), startProc(t, "janitor", env)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	records, pres := bucket(t, srv, broker.BucketSessions), bucket(t, srv, broker.BucketPresence)
	record := func(id string) session.Record {
		t.Helper()
		e, err := records.Get(ctx, id)
		if err != nil {
			t.Fatalf("session %s: %v", id, err)
		}
		var r session.Record
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Who counts as connected, as the api and the janitor read it: the
	// entries stay (no other instance purges them); the paused instance's
	// heartbeat expires.
	in := &broker.Infra{Presence: pres, PresenceInstances: bucket(t, srv, broker.BucketPresenceInstances), PresenceTTL: presenceTimeout}
	present := func(id string) int {
		t.Helper()
		n, err := presence.Count(ctx, in, id)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = createSession(t, api.Base()).ID
		c := dialWS(t, api.Base(), rt.Base(), ids[i], "alice", nil)
		c.waitFor(protocol.TypeConnected, 10*time.Second, nil)
		c.send(protocol.TypeCodeUpdate, codeUpdate(fmt.Sprintf("kept %d", i), 0, "op-1"))
		c.waitFor(protocol.TypeCodeAck, 10*time.Second, nil)
	}
	// The users stay connected without a word until their last activity is
	// 2 to 4.5 s old: the janitor then sees the sessions idle (10 s) while
	// their presence has expired during the pause (after 3.3 to 5.3 s), and
	// not before, when it would refresh lastActivityAt of a session it sees
	// connected. Without the recorded emptiness, that sweep expired them.
	deadline := time.Now().Add(3 * idle)
	for {
		ok := true
		for _, id := range ids {
			if age := time.Since(record(id).LastActivityAt); age < 2*time.Second || age > 4500*time.Millisecond {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sessions' last activity never became 2 to 4.5 s old together")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := rt.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = rt.Cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	for _, id := range ids {
		for present(id) > 0 {
			if time.Since(stopped) > presenceTimeout+5*time.Second {
				t.Fatalf("session %s: presence still listed %s after SIGSTOP", id, time.Since(stopped))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("presence of every session gone %s after SIGSTOP", time.Since(stopped).Round(100*time.Millisecond))
	// Sweeps now see the sessions idle and empty, and record it.
	for _, id := range ids {
		for record(id).EmptySince == nil {
			if time.Since(stopped) > 2*presenceTimeout {
				t.Fatalf("session %s: no sweep saw it idle and empty during the pause", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("every session recorded empty %s after SIGSTOP", time.Since(stopped).Round(100*time.Millisecond))
	time.Sleep(time.Until(stopped.Add(2 * presenceTimeout)))
	resume()
	t.Logf("realtime resumed after %s", time.Since(stopped).Round(100*time.Millisecond))

	// Everything is still there, and users connect and edit.
	bobs := make([]*wsClient, sessions)
	for i, id := range ids {
		if code := rest(t, http.MethodGet, api.Base()+"/api/sessions/"+id, "", nil, nil); code != http.StatusOK {
			t.Fatalf("session %s after the pause: %d", id, code)
		}
		bobs[i] = dialWS(t, api.Base(), rt.Base(), id, "bob", nil)
		c := decode[protocol.Connected](t, bobs[i].waitFor(protocol.TypeConnected, 10*time.Second, nil))
		if want := fmt.Sprintf("kept %d", i); c.Code != want {
			t.Fatalf("session %s: document %q, want %q", id, c.Code, want)
		}
		bobs[i].send(protocol.TypeCodeUpdate, codeUpdate(c.Code+"!", c.Version, "bob-1"))
		bobs[i].waitFor(protocol.TypeCodeAck, 10*time.Second, nil)
	}
	// Quiet users keep their sessions across a whole timeout of sweeps; the
	// janitor seeing them clears the recorded emptiness.
	quietUntil := time.Now().Add(idle + 2*time.Second)
	for time.Now().Before(quietUntil) {
		for _, id := range ids {
			if code := rest(t, http.MethodGet, api.Base()+"/api/sessions/"+id, "", nil, nil); code != http.StatusOK {
				t.Fatalf("session %s with a user connected: %d", id, code)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, id := range ids {
		if r := record(id); r.EmptySince != nil {
			t.Errorf("session %s: still recorded empty since %v with bob connected", id, r.EmptySince)
		}
	}
	janitor.Stop(t)
}
