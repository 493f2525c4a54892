package realtime_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// lastSeq is the last sequence of a bucket's stream: it moves with every
// write to the bucket.
func lastSeq(t testing.TB, kv jetstream.KeyValue) uint64 {
	t.Helper()
	st, err := kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq
}

// TestPresenceWithoutRenewals: an instance vouches for its connections with
// one heartbeat, so the entries of every session stay present on the
// other instance well past the heartbeat TTL (PRESENCE_TIMEOUT, 3 s here)
// with no write to the presence bucket at all: no user-left, the periodic
// presence-updates list everyone, with lastSeen moving with the heartbeat.
func TestPresenceWithoutRenewals(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	one, two := cl.start(), cl.start()
	var watchers []*wsClient
	for range 6 {
		sid := cl.newSession(protocol.LangPython).ID
		connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice"})
		bob := connectPlain(t, two.url, user{sid: sid, id: "bob", name: "Bob"})
		waitUsers(t, bob, "alice", "bob")
		watchers = append(watchers, bob)
	}
	entries, beats := lastSeq(t, cl.in.Presence), lastSeq(t, cl.in.PresenceInstances)
	// Three periodic presence-updates (one every PRESENCE_TIMEOUT) span
	// more than twice the TTL; an entry that needed renewing would be gone.
	for _, bob := range watchers {
		var seen []string
		for range 3 {
			e := bob.await(t, "a presence-update or a user-left", func(e protocol.Envelope) bool {
				return e.Type == protocol.TypePresenceUpdate || e.Type == protocol.TypeUserLeft
			})
			if e.Type == protocol.TypeUserLeft {
				t.Fatalf("%s left (%s) while connected", e.UserID, e.Payload)
			}
			users := decode[protocol.PresenceUpdate](t, e.Payload).Users
			if !sameIDs(users, []string{"alice", "bob"}) {
				t.Fatalf("presence-update lists %+v, want alice and bob", users)
			}
			for _, u := range users {
				if u.ID == "alice" {
					seen = append(seen, u.LastSeen)
				}
			}
		}
		if seen[0] == seen[2] {
			t.Fatalf("alice's lastSeen did not move with her instance's heartbeat: %v", seen)
		}
	}
	if got := lastSeq(t, cl.in.Presence); got != entries {
		t.Fatalf("the presence bucket was written %d times while nobody joined or left", got-entries)
	}
	if got := lastSeq(t, cl.in.PresenceInstances); got < beats+4 {
		t.Fatalf("%d heartbeats over the periods, want at least 4 (2 instances, 2 periods)", got-beats)
	}
}

// TestHeartbeatVouches: an entry counts only while its instance's
// heartbeat lives. A new instance does not count the entry of an instance
// without one; it waits for it, and counts the entry once the heartbeat
// comes; when that expires the user leaves with reason timeout and the
// entry is purged. An entry of an older instance (not vouched, no
// heartbeat) counts for PRESENCE_TIMEOUT after it was written, as the
// bucket TTL once kept it.
//
// It runs on outagePresenceTimeout (9 s), not the package's 3 s: alice's
// connection must outlive two expiries, and at 3 s its keepalive leaves
// one second for a pong to be read, which a loaded machine once took
// (her own connection ended with reason timeout).
func TestHeartbeatVouches(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	cl := &cluster{t: t, srv: srv, in: provision(t, natstest.Connect(t, srv), outagePresenceTimeout)}
	ctx := context.Background()
	sid := cl.newSession(protocol.LangPython).ID
	put := func(e presence.Entry) {
		t.Helper()
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.in.Presence.Put(ctx, e.Key(), b); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UnixMilli()
	ghost := presence.Entry{SessionID: sid, UserID: "ghost", Name: "Ghost", ConnID: "g1", Instance: "dead",
		ConnectedAt: now, LastSeen: now, Vouched: true}
	put(ghost)

	one := cl.start(instanceOpts{env: map[string]string{"PRESENCE_TIMEOUT": outagePresenceTimeout.String()}})
	alice := connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice"})
	if users := decode[protocol.Connected](t, alice.waitFor(t, protocol.TypeConnected).Payload).Users; !sameIDs(users, []string{"alice"}) {
		t.Fatalf("connected lists %+v: the entry of an instance without a heartbeat counted", users)
	}

	// Its heartbeat comes: the entry counts.
	if err := presence.PutBeat(ctx, cl.in.PresenceInstances, presence.Beat{Instance: "dead", At: now}); err != nil {
		t.Fatal(err)
	}
	if e := alice.waitFor(t, protocol.TypeUserJoined); e.UserID != "ghost" {
		t.Fatalf("user-joined %s", e.UserID)
	}
	waitUsers(t, alice, "alice", "ghost")

	// Never renewed, it expires: the user leaves, the entry is purged.
	e := alice.awaitWithin(t, 6*waitTimeout, "user-left", func(e protocol.Envelope) bool { return e.Type == protocol.TypeUserLeft })
	if l := decode[protocol.UserLeft](t, e.Payload); e.UserID != "ghost" || l.Reason != protocol.LeftTimeout {
		t.Fatalf("user-left %s %+v", e.UserID, l)
	}
	waitUsers(t, alice, "alice")
	within(t, waitTimeout, "the dead instance's entry to be purged", func() bool {
		entries, err := presence.Entries(ctx, cl.in.Presence, sid)
		return err == nil && len(entries) == 1 && entries[0].UserID == "alice"
	})

	// An older instance's entry counts while fresh, then times out.
	now = time.Now().UnixMilli()
	put(presence.Entry{SessionID: sid, UserID: "old", Name: "Old", ConnID: "o1", Instance: "older", ConnectedAt: now, LastSeen: now})
	if e := alice.waitFor(t, protocol.TypeUserJoined); e.UserID != "old" {
		t.Fatalf("user-joined %s", e.UserID)
	}
	e = alice.awaitWithin(t, 6*waitTimeout, "user-left", func(e protocol.Envelope) bool { return e.Type == protocol.TypeUserLeft })
	if l := decode[protocol.UserLeft](t, e.Payload); e.UserID != "old" || l.Reason != protocol.LeftTimeout {
		t.Fatalf("user-left %s %+v", e.UserID, l)
	}
	waitUsers(t, alice, "alice")
}

// TestInstanceCutOff: an instance cut off from NATS (which stays up for the
// others) for longer than PRESENCE_TIMEOUT is seen as gone: its users
// leave the other instance's sessions with reason timeout. When it comes
// back it renews its heartbeat and puts its entries back, and they are
// present again on both sides; a connection that left during the cut-off
// is removed then, never counted again.
func TestInstanceCutOff(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	px := natstest.StartProxy(t, cl.srv.Addr().String())
	one, two := cl.start(), cl.start(instanceOpts{natsURL: px.URL()})
	sid := cl.newSession(protocol.LangPython).ID
	alice := connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice"})
	bob := connectPlain(t, two.url, user{sid: sid, id: "bob", name: "Bob"})
	carol := connectPlain(t, two.url, user{sid: sid, id: "carol", name: "Carol"})
	waitUsers(t, alice, "alice", "bob", "carol")
	waitUsers(t, bob, "alice", "bob", "carol")

	px.Down()
	left := map[string]string{}
	for len(left) < 2 {
		e := alice.awaitWithin(t, 6*waitTimeout, "user-left", func(e protocol.Envelope) bool { return e.Type == protocol.TypeUserLeft })
		left[e.UserID] = decode[protocol.UserLeft](t, e.Payload).Reason
	}
	if left["bob"] != protocol.LeftTimeout || left["carol"] != protocol.LeftTimeout {
		t.Fatalf("left %v, want bob and carol by timeout", left)
	}
	// Carol goes while her instance cannot write: her entry stays behind.
	carol.leave(websocket.CloseNormalClosure)
	within(t, waitTimeout, "carol's connection to close on its instance", func() bool {
		return counter(t, two.reg, "pairpad_realtime_connections") == 1
	})
	px.Up()

	e := alice.await(t, "bob back", func(e protocol.Envelope) bool { return e.Type == protocol.TypeUserJoined })
	if e.UserID != "bob" {
		t.Fatalf("user-joined %s, want bob", e.UserID)
	}
	waitUsers(t, alice, "alice", "bob")
	waitUsers(t, bob, "alice", "bob")
	within(t, waitTimeout, "carol's entry to be removed", func() bool {
		entries, err := presence.Entries(context.Background(), cl.in.Presence, sid)
		return err == nil && len(presence.Users(entries)) == 2
	})
	alice.quiet(t, protocol.TypeUserJoined, 0) // carol never came back
	if n, err := presence.Count(context.Background(), cl.in, sid); err != nil || n != 2 {
		t.Fatalf("count %d, %v; want 2", n, err)
	}
}

// TestHeartbeatLostWhileRunning: an instance whose heartbeat goes while it
// keeps running on NATS (paused longer than PRESENCE_TIMEOUT, or the key
// removed) loses its users elsewhere with reason timeout, sees that, renews
// its heartbeat and puts its entries back: they come back everywhere.
func TestHeartbeatLostWhileRunning(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	one, two := cl.start(), cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	alice := connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice"})
	connectPlain(t, two.url, user{sid: sid, id: "bob", name: "Bob"})
	waitUsers(t, alice, "alice", "bob")

	ctx := context.Background()
	if err := cl.in.PresenceInstances.Purge(ctx, presence.BeatKey(two.svc.Instance())); err != nil {
		t.Fatal(err)
	}
	e := alice.waitFor(t, protocol.TypeUserLeft)
	if l := decode[protocol.UserLeft](t, e.Payload); e.UserID != "bob" || l.Reason != protocol.LeftTimeout {
		t.Fatalf("user-left %s %+v", e.UserID, l)
	}
	if e := alice.waitFor(t, protocol.TypeUserJoined); e.UserID != "bob" {
		t.Fatalf("user-joined %s", e.UserID)
	}
	waitUsers(t, alice, "alice", "bob")
	within(t, waitTimeout, "bob's entry and heartbeat to be back", func() bool {
		n, err := presence.Count(ctx, cl.in, sid)
		return err == nil && n == 2
	})
}
