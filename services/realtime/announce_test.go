package realtime

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestAnnouncerSpread: the periodic presence-update of every room goes out
// in the room's part of the period, not at the tick: nothing is sent when
// the rooms are handed over, no step sends more than twice its share, every
// room is sent once within the period, and in the next period at the same
// step, so a room's updates stay a period apart. It fails when the
// announcer sends a period's rooms at once.
func TestAnnouncerSpread(t *testing.T) {
	const rooms = 1000
	sentAt := map[string][]int{} // room id -> the steps it was sent at
	step := 0
	a := newAnnouncer(func(rm *room) { sentAt[rm.id] = append(sentAt[rm.id], step) })
	var all []*room
	for i := range rooms {
		all = append(all, newRoom(&roomDeps{}, fmt.Sprintf("session-%04d", i)))
	}
	for period := range 2 {
		for _, rm := range all { // the period's tick (tickPresence)
			a.due(rm)
		}
		if n := sent(sentAt); n != period*rooms {
			t.Fatalf("period %d: %d updates sent when the rooms were handed over, want %d (none of this period's)", period, n, period*rooms)
		}
		for range presenceSlots {
			before := sent(sentAt)
			step++
			a.step()
			if n := sent(sentAt) - before; n > 2*rooms/presenceSlots {
				t.Fatalf("step %d sent %d updates, more than twice its share of %d", step, n, rooms/presenceSlots)
			}
		}
	}
	for id, steps := range sentAt {
		if len(steps) != 2 || steps[1]-steps[0] != presenceSlots {
			t.Fatalf("room %s sent at steps %v, want once a period, %d steps apart", id, steps, presenceSlots)
		}
	}
	if len(sentAt) != rooms {
		t.Fatalf("%d rooms sent, want %d", len(sentAt), rooms)
	}
}

func sent(sentAt map[string][]int) int {
	n := 0
	for _, s := range sentAt {
		n += len(s)
	}
	return n
}

// BenchmarkPresenceUpdate is the CPU of a periodic presence-update before
// its writes (room.sendPresence without the sockets): the fold of the
// other instances' entries and the room's own connections, and the
// event's encoding. "pair" is target 5's session: one user here, one on
// another instance; "crowd" has three remote users (two tabs each) and
// two local connections.
func BenchmarkPresenceUpdate(b *testing.B) {
	entry := func(uid, inst string, tab int) presence.Entry {
		return presence.Entry{SessionID: fuzzSID, UserID: uid, Name: "User " + uid, Color: "#3366ff", Role: "candidate",
			ConnID: uid + "-" + strconv.Itoa(tab), Instance: inst, ConnectedAt: fuzzNow.UnixMilli() - int64(tab), LastSeen: fuzzNow.UnixMilli(), Vouched: true}
	}
	for _, bc := range []struct {
		name   string
		remote []presence.Entry
		local  []string
	}{
		{"pair", []presence.Entry{entry("bob", "i2", 0)}, []string{"alice"}},
		{"crowd", []presence.Entry{entry("bob", "i2", 0), entry("bob", "i2", 1), entry("carol", "i3", 0), entry("carol", "i3", 1),
			entry("dave", "i2", 0), entry("dave", "i3", 1)}, []string{"alice", "erin"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newPresenceTracker(nil, nil, "i1", time.Minute, time.Now, nil)
			p.entries[fuzzSID] = map[string]mirrored{}
			for _, e := range bc.remote {
				p.entries[fuzzSID][e.ConnID] = mirrored{Entry: e}
				p.beats[e.Instance] = beat{at: fuzzNow.UnixMilli() + 500}
			}
			d := &roomDeps{instance: "i1", now: func() time.Time { return fuzzNow }, remote: p.remote,
				lastBeat: func() int64 { return fuzzNow.UnixMilli() }}
			rm := newRoom(d, fuzzSID)
			for i, uid := range bc.local {
				rm.conns = append(rm.conns, &client{id: uid + "-c", rm: rm, opened: fuzzNow.UnixMilli() - 1000 + int64(i),
					ident: identity{SessionID: fuzzSID, UserID: uid, UserName: "User " + uid, Role: protocol.RoleInterviewer, Color: "#ff6633"}})
			}
			b.ReportAllocs()
			for b.Loop() {
				rm.mu.Lock()
				users := rm.foldLocked()
				rm.users = users
				e := rm.presenceEventLocked(users)
				rm.mu.Unlock()
				if len(e.Body) == 0 {
					b.Fatal("empty event")
				}
			}
		})
	}
}
