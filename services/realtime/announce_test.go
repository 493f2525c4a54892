package realtime

import (
	"fmt"
	"testing"
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
