package protocol

import "time"

// SessionStatus says whether an interview is running or over.
type SessionStatus string

// The statuses of a session.
const (
	// StatusActive: participants join and edit.
	StatusActive SessionStatus = "active"
	// StatusEnded: ended with POST .../end; readable (GET, code, history,
	// notes) until SESSION_RETENTION has passed, no new joins.
	StatusEnded SessionStatus = "ended"
)

// Limits of a session's creation.
const (
	MaxTitleLen = 120 // characters
	// MaxStarterCodeBytes bounds starterCode: it becomes version 1 of the
	// document, so the document's limit.
	MaxStarterCodeBytes = MaxDocumentBytes
)

// Session is the REST representation of a session.
type Session struct {
	ID               string        `json:"id"`
	CreatedAt        time.Time     `json:"createdAt"`
	Language         Language      `json:"language"`
	ParticipantCount int           `json:"participantCount"`
	Title            string        `json:"title,omitempty"`
	Status           SessionStatus `json:"status"`
	EndedAt          *time.Time    `json:"endedAt,omitempty"`
}

// CreateSessionRequest is the body of POST /api/sessions.
type CreateSessionRequest struct {
	Language    Language `json:"language"`
	Title       string   `json:"title,omitempty"`
	StarterCode string   `json:"starterCode,omitempty"`
}

// CreatedSession is the answer to POST /api/sessions: the session and its
// host key, which is shown only here.
type CreatedSession struct {
	Session
	HostKey string `json:"hostKey"`
}

// JoinRequest is the body of POST /api/sessions/{id}/join.
type JoinRequest struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	Role     Role   `json:"role,omitempty"`    // empty: candidate
	HostKey  string `json:"hostKey,omitempty"` // needed for interviewer and observer
}

// JoinResponse is the answer to a join.
type JoinResponse struct {
	SessionID        string `json:"sessionId"`
	UserID           string `json:"userId"`
	WSURL            string `json:"wsUrl"`
	ParticipantCount int    `json:"participantCount"`
	Token            string `json:"token"`
	Role             Role   `json:"role"`
	Color            string `json:"color"`
}

// SessionList is the answer of GET /api/sessions.
type SessionList struct {
	Sessions []Session `json:"sessions"`
	Total    int       `json:"total"`
	Limit    int       `json:"limit"`
	Offset   int       `json:"offset"`
}

// HistoryUpdate is one applied update in the history.
type HistoryUpdate struct {
	Version   int64  `json:"version"`
	UserID    string `json:"userId"`
	UserName  string `json:"userName,omitempty"`
	Role      Role   `json:"role,omitempty"`
	OpID      string `json:"opId,omitempty"`
	Timestamp int64  `json:"timestamp"`
	Ops       any    `json:"ops"`
}

// History is the answer of GET /api/sessions/{id}/history.
type History struct {
	SessionID string          `json:"sessionId"`
	Updates   []HistoryUpdate `json:"updates"`
	Next      *int64          `json:"next"`
}

// CurrentCode is the answer of GET /api/sessions/{id}/code.
type CurrentCode struct {
	Code      string    `json:"code"`
	Version   int64     `json:"version"`
	Language  Language  `json:"language"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// CurrentNotes is the answer of GET /api/sessions/{id}/notes.
type CurrentNotes struct {
	Notes     string    `json:"notes"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updatedAt"`
}
