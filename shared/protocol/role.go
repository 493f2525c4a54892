package protocol

// Role is what a participant may do in a session. It is chosen at join,
// signed into the join token and kept for the user id's lifetime in the
// session.
type Role string

// The roles of the protocol.
const (
	// RoleCandidate edits the code; the default role, and the role of a
	// join token that names none.
	RoleCandidate Role = "candidate"
	// RoleInterviewer edits the code and the notes and may end the interview.
	RoleInterviewer Role = "interviewer"
	// RoleObserver reads the code, reads and writes the notes, and changes
	// neither the code nor the language.
	RoleObserver Role = "observer"
)

// Roles lists every role, in the protocol's order.
var Roles = []Role{RoleCandidate, RoleInterviewer, RoleObserver}

// Valid reports whether r is one of the protocol's roles.
func (r Role) Valid() bool {
	return r == RoleCandidate || r == RoleInterviewer || r == RoleObserver
}

// OrDefault is r, or RoleCandidate when r is empty.
func (r Role) OrDefault() Role {
	if r == "" {
		return RoleCandidate
	}
	return r
}

// NeedsHostKey reports whether joining with r needs the session's host key.
func (r Role) NeedsHostKey() bool { return r == RoleInterviewer || r == RoleObserver }

// CanEdit reports whether r may change the code and the language.
func (r Role) CanEdit() bool { return r == RoleCandidate || r == RoleInterviewer }

// CanReadNotes reports whether r may read the interviewer's notes.
func (r Role) CanReadNotes() bool { return r == RoleInterviewer || r == RoleObserver }

// CanWriteNotes reports whether r may change the interviewer's notes:
// observers do not touch the code, but they take notes with the interviewer.
func (r Role) CanWriteNotes() bool { return r == RoleInterviewer || r == RoleObserver }

// CanEnd reports whether r may end the interview.
func (r Role) CanEnd() bool { return r == RoleInterviewer }
