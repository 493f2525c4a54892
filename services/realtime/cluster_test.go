package realtime_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// waitUsers waits until c's presence (from connected, sync or
// presence-update) is exactly ids, in any order.
func waitUsers(t testing.TB, c *wsClient, ids ...string) []protocol.User {
	t.Helper()
	var last []protocol.User
	c.await(t, "presence of "+joinIDs(ids), func(e protocol.Envelope) bool {
		switch e.Type {
		case protocol.TypeConnected:
			last = decode[protocol.Connected](t, e.Payload).Users
		case protocol.TypePresenceUpdate:
			last = decode[protocol.PresenceUpdate](t, e.Payload).Users
		case protocol.TypeSync:
			last = decode[protocol.Sync](t, e.Payload).Users
		default:
			return false
		}
		return sameIDs(last, ids)
	})
	return last
}

func sameIDs(users []protocol.User, ids []string) bool {
	if len(users) != len(ids) {
		return false
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, u := range users {
		if !want[u.ID] {
			return false
		}
	}
	return true
}

func joinIDs(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ","
		}
		out += id
	}
	return "[" + out + "]"
}

// TestTwoInstances: users on different instances see one presence list,
// each other's edits, cursors and language changes; two tabs of a user are
// one entry and user-left comes with the last.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	forReaders(t, func(t *testing.T, reader string) {
		cl := newCluster(t)
		one, two := cl.start(instanceOpts{env: map[string]string{"WS_READER": reader}}), cl.start()
		sid := cl.newSession(protocol.LangPython).ID

		alice := connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice"})
		waitUsers(t, alice, "alice")
		bob, refused := connectSIO(t, two.url, user{sid: sid, id: "bob", name: "Bob"}, nil)
		if refused != nil {
			t.Fatalf("bob refused %+v", refused)
		}
		waitUsers(t, bob, "alice", "bob")
		if u := decode[protocol.User](t, alice.waitFor(t, protocol.TypeUserJoined).Payload); u.ID != "bob" {
			t.Fatalf("alice: user-joined %+v", u)
		}
		waitUsers(t, alice, "alice", "bob")

		// Edits, both ways, in version order.
		alice.send(t, protocol.TypeCodeUpdate, fullCode("a", 0, "a1"))
		alice.waitFor(t, protocol.TypeCodeAck)
		if u := decode[codeUpdateOut](t, bob.waitFor(t, protocol.TypeCodeUpdate).Payload); u.Version != 1 || *u.Delta.FullCode != "a" {
			t.Fatalf("bob got %+v", u)
		}
		bob.send(t, protocol.TypeCodeUpdate, fullCode("ab", 1, "b1"))
		if a := decode[protocol.CodeAck](t, bob.waitFor(t, protocol.TypeCodeAck).Payload); a.Version != 2 {
			t.Fatalf("bob ack %+v", a)
		}
		if u := decode[codeUpdateOut](t, alice.waitFor(t, protocol.TypeCodeUpdate).Payload); u.Version != 2 || *u.Delta.FullCode != "ab" {
			t.Fatalf("alice got %+v", u)
		}

		// Cursors and the language cross instances.
		bob.send(t, protocol.TypeCursorUpdate, map[string]any{"position": map[string]any{"line": 0, "column": 2}})
		if e := alice.waitFor(t, protocol.TypeCursorUpdate); e.UserID != "bob" {
			t.Fatalf("cursor from %q", e.UserID)
		}
		alice.send(t, protocol.TypeLanguageChanged, "javascript")
		for _, c := range []*wsClient{alice, bob} {
			if l := decode[protocol.Language](t, c.waitFor(t, protocol.TypeLanguageChanged).Payload); l != protocol.LangJavaScript {
				t.Fatalf("language %q", l)
			}
		}

		// A second tab of Alice, on the other instance, is no new user.
		tab := connectPlain(t, two.url, user{sid: sid, id: "alice", name: "Alice"})
		waitUsers(t, tab, "alice", "bob")
		alice.leave(websocket.CloseGoingAway) // the first tab goes: Alice is still there
		bob.send(t, protocol.TypeSync, nil)
		waitUsers(t, bob, "alice", "bob")
		bob.quiet(t, protocol.TypeUserLeft, 300*time.Millisecond)
		bob.quiet(t, protocol.TypeUserJoined, 0)

		// Carol leaves on purpose from the other instance: manual crosses over.
		carol := connectPlain(t, one.url, user{sid: sid, id: "carol", name: "Carol"})
		waitUsers(t, bob, "alice", "bob", "carol")
		carol.leave(websocket.CloseNormalClosure)
		e := bob.waitFor(t, protocol.TypeUserLeft)
		if l := decode[protocol.UserLeft](t, e.Payload); e.UserID != "carol" || l.Reason != protocol.LeftManual {
			t.Fatalf("carol left %s: %+v", e.UserID, l)
		}

		tab.leave(websocket.CloseGoingAway) // the last tab: now Alice leaves
		e = bob.waitFor(t, protocol.TypeUserLeft)
		if l := decode[protocol.UserLeft](t, e.Payload); e.UserID != "alice" || l.Reason != protocol.LeftDisconnect {
			t.Fatalf("alice left %s: %+v", e.UserID, l)
		}
		waitUsers(t, bob, "bob")
	})
}

// TestInstanceDeath: an instance that stops renewing its heartbeat (its
// NATS connection is gone, as when the process is killed) loses its users
// on the other instances with reason timeout: the heartbeat's TTL
// (PRESENCE_TIMEOUT) expired it, or the other instance pruned what it saw
// expire unannounced; the other instance then purges the dead one's
// entries from the bucket. It takes about PRESENCE_TIMEOUT on an idle
// machine (logged); the wait is bounded only to end a hung test, since
// the expiry, its marker and the watcher are timers and goroutines a busy
// machine delays.
func TestInstanceDeath(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	one, two := cl.start(), cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	alice := connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice"})
	bob := connectPlain(t, two.url, user{sid: sid, id: "bob", name: "Bob"})
	waitUsers(t, alice, "alice", "bob")
	waitUsers(t, bob, "alice", "bob")

	start := time.Now()
	two.nc.Close() // no goodbye: no delete, no more refreshes
	e := alice.awaitWithin(t, 6*waitTimeout, "user-left", func(e protocol.Envelope) bool { return e.Type == protocol.TypeUserLeft })
	if l := decode[protocol.UserLeft](t, e.Payload); e.UserID != "bob" || l.Reason != protocol.LeftTimeout {
		t.Fatalf("user-left %s %+v", e.UserID, l)
	}
	t.Logf("bob left after %v", time.Since(start))
	within(t, waitTimeout, "the dead instance's entry to be purged", func() bool {
		entries, err := presence.Entries(context.Background(), cl.in.Presence, sid)
		return err == nil && len(entries) == 1 && entries[0].UserID == "alice"
	})
}

// TestMissedKeepalive: a client that stops answering pings is closed and
// leaves with reason timeout, here and on the other instance.
func TestMissedKeepalive(t *testing.T) {
	t.Parallel()
	forReaders(t, func(t *testing.T, reader string) {
		cl := newCluster(t)
		opts := instanceOpts{env: map[string]string{"SESSION_MAX_USERS": "10", "WS_READER": reader}}
		one, two := cl.start(opts), cl.start(opts)
		sid := cl.newSession(protocol.LangPython).ID
		alice := connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice"})
		local := connectPlain(t, two.url, user{sid: sid, id: "local", name: "Local"})

		// A plain client that never reads never answers a ping.
		ws, _, err := dialRaw(t, two.url+"/ws?"+user{sid: sid, id: "mute", name: "Mute"}.values().Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		// A Socket.IO client that reads but does not answer pings.
		deaf, refused := connectSIO(t, two.url, user{sid: sid, id: "deaf", name: "Deaf"}, nil)
		if refused != nil {
			t.Fatal(refused)
		}
		deaf.mu.Lock()
		deaf.pong = false
		deaf.mu.Unlock()
		waitUsers(t, alice, "alice", "local", "mute", "deaf")

		for _, c := range []*wsClient{alice, local} {
			left := map[string]string{}
			for len(left) < 2 {
				e := c.waitFor(t, protocol.TypeUserLeft)
				left[e.UserID] = decode[protocol.UserLeft](t, e.Payload).Reason
			}
			if left["mute"] != protocol.LeftTimeout || left["deaf"] != protocol.LeftTimeout {
				t.Fatalf("left %v, want both by timeout", left)
			}
		}
		deaf.waitClosed(t)
	})
}

// TestSessionEnded: ending a session (as the api's DELETE and the janitor
// do) reaches the clients on every instance, which are then closed.
func TestSessionEnded(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	one, two := cl.start(), cl.start()
	for _, reason := range []string{protocol.EndedDeleted, protocol.EndedExpired} {
		t.Run(reason, func(t *testing.T) {
			sid := cl.newSession(protocol.LangPython).ID
			plain := connectPlain(t, one.url, user{sid: sid, id: "p", name: "P"})
			sio, refused := connectSIO(t, two.url, user{sid: sid, id: "s", name: "S", query: url.Values{"since": {"0"}}}, nil)
			if refused != nil {
				t.Fatal(refused)
			}
			waitUsers(t, plain, "p", "s")
			waitUsers(t, sio, "p", "s")

			ctx := context.Background()
			st := session.NewStore(cl.in.Sessions)
			rec, rev, err := st.Get(ctx, sid)
			if err != nil {
				t.Fatal(err)
			}
			if err := session.End(ctx, cl.in, rec, rev, reason); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*wsClient{plain, sio} {
				if got := decode[protocol.SessionEnded](t, c.waitFor(t, protocol.TypeSessionEnded).Payload); got.Reason != reason {
					t.Fatalf("session-ended %+v", got)
				}
			}
			if code := closeCode(plain.waitClosed(t)); code != websocket.CloseNormalClosure {
				t.Fatalf("plain closed with %d", code)
			}
			sio.waitFrame(t, func(f string) bool { return f == "41" }) // no reconnection
			sio.waitClosed(t)
			plain.quiet(t, protocol.TypeUserLeft, 0)

			_, resp, err := tryPlain(t, one.url, user{sid: sid, id: "late", name: "Late"})
			if err == nil || resp == nil || resp.StatusCode != 404 {
				t.Fatalf("joining an ended session: %v %s", err, body(resp))
			}
		})
	}
}

// TestPeerEvents: an instance publishes a cursor for the other instances
// only while one of them holds a connection of the session, on a NoEcho
// connection, so the server sends none back to it; the other instance's
// users get them.
func TestPeerEvents(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	one := cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	alice := connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice"})
	carol := connectPlain(t, one.url, user{sid: sid, id: "carol", name: "Carol"})
	waitUsers(t, alice, "alice", "carol")
	// The server's view of connections named pairpad-realtime-peers.
	peers := func() []*server.ConnInfo {
		cz, err := cl.srv.Connz(&server.ConnzOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []*server.ConnInfo
		for _, c := range cz.Conns {
			if c.Name == "pairpad-realtime-peers" {
				out = append(out, c)
			}
		}
		return out
	}
	const cursors = 5
	moveAll := func(c *wsClient, id string, to ...*wsClient) {
		t.Helper()
		for i := range cursors {
			c.send(t, protocol.TypeCursorUpdate, map[string]any{"position": map[string]any{"line": 0, "column": i}})
			for _, o := range to {
				if e := o.waitFor(t, protocol.TypeCursorUpdate); e.UserID != id {
					t.Fatalf("cursor from %q, want %q", e.UserID, id)
				}
			}
		}
	}
	// Alone: the cursors stay here. The language hint that follows them
	// on the same connection is always published: once the server has
	// it, it would have had any cursor before it.
	moveAll(alice, "alice", carol)
	alice.send(t, protocol.TypeLanguageChanged, "javascript")
	var mine *server.ConnInfo
	within(t, waitTimeout, "the language hint to reach the server", func() bool {
		ps := peers()
		if len(ps) != 1 {
			t.Fatalf("%d peers connections, want 1", len(ps))
		}
		mine = ps[0]
		return mine.InMsgs >= 1
	})
	if mine.InMsgs != 1 || mine.OutMsgs != 0 {
		t.Fatalf("alone, the instance published %d peer events (want only the language hint) and got %d", mine.InMsgs, mine.OutMsgs)
	}

	// With a user on another instance, they go there, and not back.
	two := cl.start()
	bob := connectPlain(t, two.url, user{sid: sid, id: "bob", name: "Bob"})
	waitUsers(t, alice, "alice", "bob", "carol")
	waitUsers(t, bob, "alice", "bob", "carol")
	moveAll(alice, "alice", carol, bob)
	// bob got them through the server, which counted each in while
	// handling it, and would have counted its echo out then too.
	for _, c := range peers() {
		if c.Cid == mine.Cid && (c.InMsgs-mine.InMsgs != cursors || c.OutMsgs != 0) {
			t.Fatalf("instance one published %d cursors (want %d) and got %d peer events back",
				c.InMsgs-mine.InMsgs, cursors, c.OutMsgs)
		}
	}
	moveAll(bob, "bob", alice, carol)
}

// TestPeerEventsSharedConnection: an instance built without Deps.Dial
// publishes its peer events on its one connection, which the server echoes
// back to it; it names itself in their header and skips them, so its own
// users get each cursor once, and the other instance's users get them.
func TestPeerEventsSharedConnection(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	one, two := cl.start(instanceOpts{sharedPeers: true}), cl.start(instanceOpts{sharedPeers: true})
	sid := cl.newSession(protocol.LangPython).ID
	alice := connectPlain(t, one.url, user{sid: sid, id: "alice", name: "Alice"})
	carol := connectPlain(t, one.url, user{sid: sid, id: "carol", name: "Carol"})
	bob := connectPlain(t, two.url, user{sid: sid, id: "bob", name: "Bob"})
	for _, c := range []*wsClient{alice, bob, carol} {
		waitUsers(t, c, "alice", "bob", "carol")
	}
	const cursors = 5
	column := func(e protocol.Envelope) int {
		var cur protocol.CursorUpdate
		if err := json.Unmarshal(e.Payload, &cur); err != nil {
			t.Fatal(err)
		}
		return cur.Position.Column
	}
	for i := range cursors {
		alice.send(t, protocol.TypeCursorUpdate, map[string]any{"position": map[string]any{"line": 0, "column": i}})
		if e := bob.waitFor(t, protocol.TypeCursorUpdate); e.UserID != "alice" || column(e) != i {
			t.Fatalf("bob got a cursor from %q at column %d, want alice's %d", e.UserID, column(e), i)
		}
	}
	// bob's move reaches instance one on its connection after the echoes
	// of alice's, which the server sent it before bob could have had them.
	bob.send(t, protocol.TypeCursorUpdate, map[string]any{"position": map[string]any{"line": 1, "column": 0}})
	// carol reads nothing while alice moves, so her queue may collapse
	// alice's unwritten moves into the latest (a cursor is state): she gets
	// alice's columns in rising order, ending at the last, each at most
	// once, and then bob's. An echo of her instance's own publication
	// would repeat a column.
	last := -1
	for {
		e := carol.waitFor(t, protocol.TypeCursorUpdate)
		if e.UserID == "bob" {
			break
		}
		if e.UserID != "alice" || column(e) <= last {
			t.Fatalf("carol got a cursor from %q at column %d after alice's %d: the echo of her instance's own", e.UserID, column(e), last)
		}
		last = column(e)
	}
	if last != cursors-1 {
		t.Fatalf("carol's last cursor from alice before bob's is at column %d, want %d", last, cursors-1)
	}
}
