package protocol

import "time"

// Session is the REST representation of a session.
type Session struct {
	ID               string    `json:"id"`
	CreatedAt        time.Time `json:"createdAt"`
	Language         Language  `json:"language"`
	ParticipantCount int       `json:"participantCount"`
}

// CreateSessionRequest is the body of POST /api/sessions.
type CreateSessionRequest struct {
	Language Language `json:"language"`
}

// JoinRequest is the body of POST /api/sessions/{id}/join.
type JoinRequest struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
}

// JoinResponse is the answer to a join.
type JoinResponse struct {
	SessionID        string `json:"sessionId"`
	UserID           string `json:"userId"`
	WSURL            string `json:"wsUrl"`
	ParticipantCount int    `json:"participantCount"`
	Token            string `json:"token"`
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
