package realtime

import (
	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/shared/protocol"
)

// The interviewers' notes are a second document of the session, with its
// own version line, stored by the same document engine under
// broker.NotesDocID. An instance holds it while it has a connection whose
// role may read notes; every frame about it goes only to such connections.

// notesListener is the engine's listener of one attachment of the notes
// document; the room ignores a listener it has since replaced.
type notesListener struct{ rm *room }

// Opened implements document.Listener.
func (l *notesListener) Opened(st document.State, _ []document.Applied, _ bool) {
	rm := l.rm
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.notesL == l {
		rm.notes, rm.notesVersion, rm.notesHash = st.Code, st.Version, st.Hash
	}
}

// Applied implements document.Listener: notes-ack to the sender's
// connection, notes-update to the other connections that may read notes,
// nothing to anyone else.
func (l *notesListener) Applied(a document.Applied) {
	rm := l.rm
	now := rm.d.now()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.notesL != l || a.Version <= rm.notesVersion || rm.ended {
		return
	}
	gap := a.Version != rm.notesVersion+1
	rm.notes, rm.notesVersion, rm.notesHash = a.Code, a.Version, a.Hash
	if gap {
		// Never happens with an engine that keeps its promise; if it does,
		// the readers are brought to the new state.
		rm.d.log.Error("notes update out of order", "session_id", rm.id, "version", a.Version)
		for _, c := range rm.conns {
			if c.ident.Role.CanReadNotes() {
				c.sendEvent(rm.syncEventLocked(c))
				c.notesBase = a.Version
			}
		}
		return
	}
	// The role check is what keeps the notes off a candidate's connection.
	rm.deliverLocked(a, protocol.TypeNotesUpdate, protocol.TypeNotesAck,
		func(c *client) bool { return c.ident.Role.CanReadNotes() && a.Version > c.notesBase }, now)
}

// notesUpdate hands a notes-update to the engine; its notes-ack and the
// others' notes-update come back through the notes listener.
func (s *Service) notesUpdate(c *client, u protocol.CodeUpdate) error {
	rm := c.rm
	rm.notesMu.Lock()
	d := rm.notesDoc // held for c since its admission
	rm.notesMu.Unlock()
	return s.submitTo(c, d, protocol.TypeNotesUpdate, protocol.TypeNotesAck, u)
}
