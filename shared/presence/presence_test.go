package presence_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestLeaveReasons: every way an entry goes (Leave with each reason,
// Expire as the janitor does, Purge as session.Purge does) reads back
// through a watcher as the same reason, so every service speaks the same
// events; a leave marker is never taken for a present connection.
func TestLeaveReasons(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, natstest.Connect(t, natstest.Start(t)), broker.Layout{Replicas: 1, PresenceTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	kv := in.Presence
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	next := func() presence.Change {
		t.Helper()
		select {
		case e := <-w.Updates():
			c, ok := presence.Decode(e)
			if !ok {
				t.Fatalf("update %s %s did not decode", e.Operation(), e.Key())
			}
			return c
		case <-ctx.Done():
			t.Fatal("no presence update")
		}
		return presence.Change{}
	}

	entry := func(sid, uid, cid string) presence.Entry {
		return presence.Entry{SessionID: sid, UserID: uid, Name: "N " + uid, ConnID: cid, Instance: "i1", ConnectedAt: 1, LastSeen: 2}
	}
	tests := []struct {
		name   string
		remove func(e presence.Entry) error
		want   []string // the Left of each update after the put
	}{
		{"manual", func(e presence.Entry) error { return presence.Leave(ctx, kv, e, protocol.LeftManual) },
			[]string{protocol.LeftManual, protocol.LeftDisconnect}},
		{"disconnect", func(e presence.Entry) error { return presence.Leave(ctx, kv, e, protocol.LeftDisconnect) },
			[]string{protocol.LeftDisconnect}},
		{"timeout", func(e presence.Entry) error { return presence.Leave(ctx, kv, e, protocol.LeftTimeout) },
			[]string{protocol.LeftTimeout}},
		{"janitor expire", func(e presence.Entry) error { return presence.Expire(ctx, kv, e.Key()) },
			[]string{protocol.LeftTimeout}},
		{"session purge", func(e presence.Entry) error { return presence.Purge(ctx, kv, e.SessionID) },
			[]string{protocol.LeftTimeout}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sid := "s" + string(rune('a'+i))
			e := entry(sid, "user.with dots/ü", "c1")
			if err := presence.Put(ctx, kv, e); err != nil {
				t.Fatal(err)
			}
			if c := next(); c.Left != "" || c.Entry != e || c.Key != presence.Key(sid, e.UserID, "c1") {
				t.Fatalf("put read back as %+v", c)
			}
			if n, err := presence.Count(ctx, in, sid); err != nil || n != 1 {
				t.Fatalf("count %d, %v", n, err)
			}
			put, err := kv.Get(ctx, e.Key())
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.remove(e); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				c := next()
				if c.Left != want || c.Entry.SessionID != sid || c.Entry.UserID != e.UserID || c.Entry.ConnID != "c1" {
					t.Fatalf("removal read back as %+v, want left %q", c, want)
				}
			}
			// A watcher that is behind, as a busy instance's is, reads the
			// removal only after all of it is stored: it reads the same
			// reasons (the bucket keeps a manual leave's marker beside the
			// delete that follows it).
			if got := lateReasons(ctx, t, kv, put.Revision(), e.Key()); !slices.Equal(got, tc.want) {
				t.Fatalf("a watcher that was behind read %q, want %q", got, tc.want)
			}
			if got, err := presence.Entries(ctx, kv, sid); err != nil || len(got) != 0 {
				t.Fatalf("entries after the leave: %+v, %v", got, err)
			}
		})
	}
}

// lateReasons reads key's updates from revision on with a new watcher and
// returns the Left of each removal.
func lateReasons(ctx context.Context, t *testing.T, kv jetstream.KeyValue, revision uint64, key string) []string {
	t.Helper()
	w, err := kv.WatchAll(ctx, jetstream.ResumeFromRevision(revision))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	var out []string
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return out // caught up
			}
			if c, ok := presence.Decode(e); ok && c.Key == key && c.Left != "" {
				out = append(out, c.Left)
			}
		case <-ctx.Done():
			t.Fatal("the late watcher did not catch up")
		}
	}
}

// TestDecodeRefuses: updates that are not presence entries are not changes.
func TestDecodeRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, natstest.Connect(t, natstest.Start(t)), broker.Layout{Replicas: 1, PresenceTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, key, value string }{
		{"two tokens", "s1.x", `{"sessionId":"s1"}`},
		{"user not base64", "s1.a=.c1", `{"sessionId":"s1"}`},
		{"not json", presence.Key("s1", "u", "c1"), `{`},
		{"another session", presence.Key("s1", "u", "c2"), `{"sessionId":"s2"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := in.Presence.PutString(ctx, tc.key, tc.value); err != nil {
				t.Fatal(err)
			}
			e, err := in.Presence.Get(ctx, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if c, ok := presence.Decode(e); ok {
				t.Fatalf("decoded as %+v", c)
			}
		})
	}
}

// TestCountVouched: a vouched entry counts while its instance's heartbeat
// is in the bucket, never without it; an entry of an older instance (not
// vouched) counts for PresenceTTL after it was written; a leave marker
// never counts; two connections of a user are one.
func TestCountVouched(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const ttl = 2 * time.Second
	in, err := broker.Provision(ctx, natstest.Connect(t, natstest.Start(t)), broker.Layout{Replicas: 1, PresenceTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	beat := func(instance string) {
		t.Helper()
		if err := presence.PutBeat(ctx, in.PresenceInstances, presence.Beat{Instance: instance, At: time.Now().UnixMilli()}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(e presence.Entry) {
		t.Helper()
		if err := presence.Put(ctx, in.Presence, e); err != nil {
			t.Fatal(err)
		}
	}
	users := func() []string {
		t.Helper()
		entries, err := presence.Live(ctx, in, "s")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range presence.Users(entries) {
			out = append(out, u.ID)
		}
		slices.Sort(out)
		return out
	}
	entry := func(uid, cid, instance string, vouched bool) presence.Entry {
		return presence.Entry{SessionID: "s", UserID: uid, ConnID: cid, Instance: instance, Vouched: vouched}
	}

	beat("live")
	put(entry("ann", "c1", "live", true))
	put(entry("ann", "c2", "live", true))
	put(entry("bob", "c3", "dead", true)) // no heartbeat
	put(entry("old", "c4", "older", false))
	if err := presence.Leave(ctx, in.Presence, entry("gone", "c5", "live", true), protocol.LeftManual); err != nil {
		t.Fatal(err)
	}
	if got := users(); !slices.Equal(got, []string{"ann", "old"}) {
		t.Fatalf("live users %v, want ann (her instance beats) and old (written just now)", got)
	}
	if n, err := presence.Count(ctx, in, "s"); err != nil || n != 2 {
		t.Fatalf("count %d, %v; want 2", n, err)
	}

	beat("dead") // bob's heartbeat comes: he counts
	if got := users(); !slices.Equal(got, []string{"ann", "bob", "old"}) {
		t.Fatalf("live users %v, want ann, bob and old", got)
	}

	// Past the TTL: the older instance's entry no longer counts, nor do
	// the entries whose heartbeat was not renewed (once JetStream fires
	// its TTL, which may be late on a busy machine: bounded only against a
	// hang).
	time.Sleep(ttl)
	for deadline := time.Now().Add(20 * time.Second); ; {
		beat("live")
		got := users()
		if slices.Contains(got, "old") {
			t.Fatalf("live users %v: the older instance's entry counted past the TTL", got)
		}
		if slices.Equal(got, []string{"ann"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("live users %v long after the TTL, want ann", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDecodeBeat: a heartbeat's put is its instance alive, its removal or
// expiry (a purge or delete) the instance gone; what is not a heartbeat
// does not decode.
func TestDecodeBeat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, natstest.Connect(t, natstest.Start(t)), broker.Layout{Replicas: 1, PresenceTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	kv := in.PresenceInstances
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	next := func() jetstream.KeyValueEntry {
		t.Helper()
		select {
		case e := <-w.Updates():
			return e
		case <-ctx.Done():
			t.Fatal("no heartbeat update")
		}
		return nil
	}
	b := presence.Beat{Instance: "inst/1 é", At: 42}
	tests := []struct {
		name   string
		write  func() error
		want   presence.Beat
		alive  bool
		decode bool
	}{
		{"put", func() error { return presence.PutBeat(ctx, kv, b) }, b, true, true},
		{"expired (a purge marker)", func() error { return kv.Purge(ctx, presence.BeatKey(b.Instance)) },
			presence.Beat{Instance: b.Instance}, false, true},
		{"deleted", func() error {
			if err := presence.PutBeat(ctx, kv, b); err != nil {
				return err
			}
			next()
			return kv.Delete(ctx, presence.BeatKey(b.Instance))
		}, presence.Beat{Instance: b.Instance}, false, true},
		{"key not base64", func() error { _, err := kv.PutString(ctx, "a=", `{"instance":"a"}`); return err }, presence.Beat{}, false, false},
		{"not json", func() error { _, err := kv.PutString(ctx, presence.BeatKey("x"), `{`); return err }, presence.Beat{}, false, false},
		{"another instance", func() error { _, err := kv.PutString(ctx, presence.BeatKey("x"), `{"instance":"y"}`); return err },
			presence.Beat{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.write(); err != nil {
				t.Fatal(err)
			}
			got, alive, ok := presence.DecodeBeat(next())
			if got != tc.want || alive != tc.alive || ok != tc.decode {
				t.Fatalf("decoded %+v alive %v ok %v; want %+v, %v, %v", got, alive, ok, tc.want, tc.alive, tc.decode)
			}
		})
	}
}
