package realtime

import (
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// foldLocked is the session's presence across every instance: the entries
// other instances wrote (from the presence watcher) plus this instance's
// own connections, folded into one entry per user.
func (hs *hubSession) foldLocked() []protocol.User {
	entries := hs.s.presence.remote(hs.id)
	for _, c := range hs.conns {
		entries = append(entries, c.entry)
	}
	return presence.Users(entries)
}

// announceLocked compares the users last announced with after and tells
// the local connections: user-joined and user-left to the others,
// presence-update to everyone when anything changed. joiner, when set, is
// a connection that just got the list in connected: it is told nothing
// about who joined or left before it came.
func (hs *hubSession) announceLocked(after []protocol.User, joiner *client, reason string) {
	joined, left, changed := diffUsers(hs.users, after)
	hs.users = after
	if !changed {
		return
	}
	now := hs.s.now()
	for _, u := range joined {
		e := newEvent(protocol.TypeUserJoined, hs.id, u.ID, protocol.User{ID: u.ID, Name: u.Name, Color: u.Color, Role: u.Role}, now)
		hs.broadcastLocked(e, func(c *client) bool { return c == joiner || c.ident.UserID == u.ID })
	}
	for _, u := range left {
		e := newEvent(protocol.TypeUserLeft, hs.id, u.ID, protocol.UserLeft{Reason: reason}, now)
		hs.broadcastLocked(e, func(c *client) bool { return c == joiner || c.ident.UserID == u.ID })
	}
	hs.broadcastLocked(hs.presenceEventLocked(after), nil)
}

func (hs *hubSession) presenceEventLocked(users []protocol.User) *outEvent {
	if users == nil {
		users = []protocol.User{}
	}
	return newEvent(protocol.TypePresenceUpdate, hs.id, "", protocol.PresenceUpdate{Users: users}, hs.s.now())
}

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

// presenceChanged is called by the presence watcher after another
// instance's entry for this session changed; reason is how it went, when
// it went.
func (hs *hubSession) presenceChanged(reason string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.ended || hs.closed {
		return
	}
	hs.announceLocked(hs.foldLocked(), nil, reason)
}

// tickPresence sends the periodic presence-update, with fresh lastSeen.
func (hs *hubSession) tickPresence() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.ended || len(hs.conns) == 0 {
		return
	}
	users := hs.foldLocked()
	hs.users = users
	hs.broadcastLocked(hs.presenceEventLocked(users), nil)
}
