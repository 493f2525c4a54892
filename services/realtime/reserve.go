package realtime

import (
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// reserve holds a place for uid: SESSION_MAX_USERS counts distinct users
// across every instance (a user already present may open more tabs).
func (hs *hubSession) reserve(uid string) error {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.ended {
		return session.ErrNotFound
	}
	users := map[string]bool{}
	for _, e := range hs.s.presence.remote(hs.id) {
		users[e.UserID] = true
	}
	for _, c := range hs.conns {
		users[c.ident.UserID] = true
	}
	for u := range hs.reserved {
		users[u] = true
	}
	if !users[uid] && len(users) >= hs.s.cfg.SessionMaxUsers {
		return protocol.Errorf(protocol.CodeSessionFull, "The session already has %d participants", hs.s.cfg.SessionMaxUsers)
	}
	hs.reserved[uid]++
	return nil
}

func (hs *hubSession) unreserve(uid string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.unreserveLocked(uid)
}

func (hs *hubSession) unreserveLocked(uid string) {
	if hs.reserved[uid] > 1 {
		hs.reserved[uid]--
		return
	}
	delete(hs.reserved, uid)
}
