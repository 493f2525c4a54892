package realtime

import (
	"slices"
	"testing"

	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestPlaces: held places count distinct users against SESSION_MAX_USERS
// (a user may hold several), each release gives one back, and a room
// whose places are all released or joined keeps no map for them. Not
// parallel: TestShutdown counts the binary's goroutines, and a parallel
// test waiting for its turn is one.
func TestPlaces(t *testing.T) {
	rm := newRoom(&roomDeps{maxUsers: 2, remote: func(string, int) []presence.Entry { return nil }, lastBeat: func() int64 { return 0 }}, "s1")
	steps := []struct {
		hold, release string
		wantCode      protocol.Code // the refusal's code, "" when it is held
		wantPlaces    int           // distinct users holding places afterwards
	}{
		{hold: "a", wantPlaces: 1},
		{hold: "a", wantPlaces: 1}, // a second tab of a
		{hold: "b", wantPlaces: 2},
		{hold: "c", wantCode: protocol.CodeSessionFull, wantPlaces: 2},
		{release: "a", wantPlaces: 2},
		{release: "a", wantPlaces: 1},
		{hold: "c", wantPlaces: 2},
		{release: "b", wantPlaces: 1},
		{release: "c", wantPlaces: 0},
	}
	for i, st := range steps {
		if st.hold != "" {
			err := rm.holdPlace(st.hold)
			if got := protocol.ErrorCode(err); err != nil && got != st.wantCode || err == nil && st.wantCode != "" {
				t.Fatalf("step %d: hold %s: %v, want code %q", i, st.hold, err, st.wantCode)
			}
		} else {
			rm.releasePlace(st.release)
		}
		if len(rm.places) != st.wantPlaces {
			t.Fatalf("step %d: %d users hold places, want %d", i, len(rm.places), st.wantPlaces)
		}
	}
	if rm.places != nil {
		t.Fatal("a room with no places held keeps their map")
	}
}

// TestRemoveConn: a room's connections are a slice in no order; removing
// one keeps every other, removing one that is not there changes nothing,
// and a room without connections keeps no array.
func TestRemoveConn(t *testing.T) {
	a, b, c, x := &client{id: "a"}, &client{id: "b"}, &client{id: "c"}, &client{id: "x"}
	tests := []struct {
		name   string
		conns  []*client
		remove *client
		ok     bool
		want   []string // ids left, sorted
	}{
		{"first", []*client{a, b, c}, a, true, []string{"b", "c"}},
		{"middle", []*client{a, b, c}, b, true, []string{"a", "c"}},
		{"last", []*client{a, b, c}, c, true, []string{"a", "b"}},
		{"absent", []*client{a, b}, x, false, []string{"a", "b"}},
		{"only", []*client{a}, a, true, nil},
		{"none", nil, a, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rm := &room{conns: slices.Clone(tt.conns)}
			if ok := rm.removeConnLocked(tt.remove); ok != tt.ok {
				t.Fatalf("removed %v, want %v", ok, tt.ok)
			}
			var ids []string
			for _, c := range rm.conns {
				ids = append(ids, c.id)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("left %v, want %v", ids, tt.want)
			}
			if len(tt.want) == 0 && rm.conns != nil {
				t.Fatal("an empty room keeps its array")
			}
		})
	}
}

// TestPresenceEntry: a connection keeps only its entry's lastSeen; the
// entry it puts and folds is built from its identity, its room and its
// instance, vouched for by the instance's heartbeat, and folds with
// lastSeen the later of its own and the last heartbeat.
func TestPresenceEntry(t *testing.T) {
	rm := newRoom(&roomDeps{instance: "inst1"}, "s1")
	c := &client{id: "conn1", rm: rm, opened: 1000, lastSeen: 2000,
		ident: identity{SessionID: "s1", UserID: "u1", UserName: "Ann", Role: protocol.RoleInterviewer, Color: "#123456"}}
	want := presence.Entry{SessionID: "s1", UserID: "u1", Name: "Ann", Color: "#123456", Role: string(protocol.RoleInterviewer),
		ConnID: "conn1", Instance: "inst1", ConnectedAt: 1000, LastSeen: 3000, Vouched: true}
	if got := c.presenceEntry(3000); got != want {
		t.Fatalf("entry %+v, want %+v", got, want)
	}
	rm.conns = []*client{c}
	rm.d.remote = func(string, int) []presence.Entry { return nil }
	for _, tc := range []struct {
		beat int64
		want string
	}{
		{1500, "1970-01-01T00:00:02.000Z"}, // the entry's own, later than the heartbeat
		{5000, "1970-01-01T00:00:05.000Z"}, // the heartbeat's
	} {
		rm.d.lastBeat = func() int64 { return tc.beat }
		users := rm.foldLocked()
		if len(users) != 1 || users[0].ID != "u1" || users[0].Name != "Ann" || users[0].LastSeen != tc.want {
			t.Fatalf("heartbeat %d: folded %+v, want lastSeen %s", tc.beat, users, tc.want)
		}
	}
}
