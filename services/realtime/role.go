package realtime

import (
	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/shared/protocol"
)

// permit refuses an event the connection's role may not send, with
// FORBIDDEN: an observer changes nothing a candidate sees (code-update,
// language-changed, run-output), and only interviewers and observers touch
// the notes. The connection stays; the event is answered, never applied.
func (c *client) permit(env protocol.Envelope) error {
	role := c.ident.Role
	var why string
	switch env.Type {
	case protocol.TypeCodeUpdate, protocol.TypeLanguageChanged, protocol.TypeRunOutput:
		if !role.CanEdit() {
			why = "An observer cannot send " + env.Type + ": observers are read-only"
		}
	case protocol.TypeNotesUpdate:
		if !role.CanWriteNotes() {
			why = "Only interviewers and observers may write the notes"
		}
	}
	if why == "" {
		return nil
	}
	return withDetails(protocol.Errorf(protocol.CodeForbidden, "%s", why).
		WithDetails(map[string]any{"role": role}), env.Type, probeOpID(env))
}

// author is who the connection's updates are recorded as in the op log.
func (c *client) author() document.Author {
	return document.Author{UserID: c.ident.UserID, UserName: c.ident.UserName, Role: c.ident.Role}
}
