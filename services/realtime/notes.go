package realtime

import (
	"context"

	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
)

// The interviewers' notes are a second document of the session, with its
// own version line, stored by the same document engine under
// broker.NotesDocID. An instance holds it while it has a connection whose
// role may read notes; every frame about it goes only to such connections.

// notesListener is the engine's listener of one attachment of the notes
// document; the hub session ignores a listener it has since replaced.
type notesListener struct{ hs *hubSession }

// Opened implements document.Listener.
func (l *notesListener) Opened(st document.State, _ []document.Applied, _ bool) {
	hs := l.hs
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.notesL == l {
		hs.notes, hs.notesVersion, hs.notesHash = st.Code, st.Version, st.Hash
	}
}

// Applied implements document.Listener: notes-ack to the sender's
// connection, notes-update to the other connections that may read notes,
// nothing to anyone else.
func (l *notesListener) Applied(a document.Applied) {
	hs := l.hs
	now := hs.s.now()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.notesL != l || a.Version <= hs.notesVersion || hs.ended {
		return
	}
	gap := a.Version != hs.notesVersion+1
	hs.notes, hs.notesVersion, hs.notesHash = a.Code, a.Version, a.Hash
	if gap {
		// Never happens with an engine that keeps its promise; if it does,
		// the readers are brought to the new state.
		hs.s.log.Error("notes update out of order", "session_id", hs.id, "version", a.Version)
		for _, c := range hs.conns {
			if c.ident.Role.CanReadNotes() {
				c.sendEvent(hs.syncEventLocked(c))
				c.notesBase = a.Version
			}
		}
		return
	}
	// The role check is what keeps the notes off a candidate's connection.
	hs.deliverLocked(a, protocol.TypeNotesUpdate, protocol.TypeNotesAck,
		func(c *client) bool { return c.ident.Role.CanReadNotes() && a.Version > c.notesBase }, now)
}

// acquireNotes attaches this instance to the session's notes for one more
// connection, opening the document on the first.
func (hs *hubSession) acquireNotes(ctx context.Context) error {
	hs.notesMu.Lock()
	defer hs.notesMu.Unlock()
	if hs.notesRefs == 0 {
		l := &notesListener{hs: hs}
		hs.mu.Lock()
		hs.notesL = l
		hs.mu.Unlock()
		d, err := hs.s.engine.Open(ctx, broker.NotesDocID(hs.id), -1, l)
		if err != nil {
			hs.mu.Lock()
			hs.notesL = nil
			hs.mu.Unlock()
			return handshakeFailure(err)
		}
		hs.notesDoc = d
	}
	hs.notesRefs++
	return nil
}

// releaseNotes drops one connection's hold; the last closes the document
// (which writes its snapshot, unless the session was dropped).
func (hs *hubSession) releaseNotes() {
	hs.notesMu.Lock()
	defer hs.notesMu.Unlock()
	if hs.notesRefs--; hs.notesRefs > 0 {
		return
	}
	d := hs.notesDoc
	hs.notesDoc = nil
	hs.mu.Lock()
	hs.notesL = nil
	hs.mu.Unlock()
	if d != nil {
		d.Close()
	}
}

// notesUpdate hands a notes-update to the engine; its notes-ack and the
// others' notes-update come back through the notes listener.
func (s *Service) notesUpdate(c *client, u protocol.CodeUpdate) error {
	hs := c.hs
	hs.notesMu.Lock()
	d := hs.notesDoc // held for c since its admission
	hs.notesMu.Unlock()
	return s.submitTo(c, d, protocol.TypeNotesUpdate, protocol.TypeNotesAck, u)
}
