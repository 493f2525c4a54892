package realtime

import (
	"context"
	"sync"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// diffUsers returns who joined and who left between two presence lists,
// and whether anything a client shows (membership, names) changed.
func diffUsers(before, after []protocol.User) (joined, left []protocol.User, changed bool) {
	old := make(map[string]protocol.User, len(before))
	for _, u := range before {
		old[u.ID] = u
	}
	cur := make(map[string]bool, len(after))
	for _, u := range after {
		cur[u.ID] = true
		p, ok := old[u.ID]
		switch {
		case !ok:
			joined = append(joined, u)
			changed = true
		case p.Name != u.Name:
			changed = true
		}
	}
	for _, u := range before {
		if !cur[u.ID] {
			left = append(left, u)
			changed = true
		}
	}
	return joined, left, changed
}

// announcer spreads the periodic presence-update over its period. Every
// room is handed over at the period's tick (tickPresence); each goes out
// in its part of the period (presenceSlot of its session id, one of
// presenceSlots parts), so a room's updates stay a period apart. Sending
// them all at the tick wrote one frame to every connection of the
// instance at once (16,700 at target 5's size, as many as 10 s of cursor
// fan-out), and the moves that arrived behind them waited.
type announcer struct {
	mu    sync.Mutex
	wheel [presenceSlots][]*room // the rooms due at each step
	cur   int                    // the part sent by the last step
	send  func(*room)
}

func newAnnouncer(send func(*room)) *announcer {
	return &announcer{send: send}
}

// due queues rm's presence-update in its part of the coming period.
func (a *announcer) due(rm *room) {
	a.mu.Lock()
	k := (a.cur + 1 + presenceSlot(rm.id)) % presenceSlots
	a.wheel[k] = append(a.wheel[k], rm)
	a.mu.Unlock()
}

// step sends the next part's presence-updates.
func (a *announcer) step() {
	a.mu.Lock()
	a.cur = (a.cur + 1) % presenceSlots
	rooms := a.wheel[a.cur]
	a.wheel[a.cur] = nil
	a.mu.Unlock()
	for _, rm := range rooms {
		a.send(rm)
	}
}

// run steps every period/presenceSlots until ctx ends.
func (a *announcer) run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(max(period/presenceSlots, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.step()
		}
	}
}
