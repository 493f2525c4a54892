package protocol

import (
	"encoding/json"
	"time"
)

// Event types, client to server and server to client.
const (
	TypeCodeUpdate      = "code-update"
	TypeCursorUpdate    = "cursor-update"
	TypeLanguageChanged = "language-changed"
	TypeSync            = "sync"
	TypeConnected       = "connected"
	TypeUserJoined      = "user-joined"
	TypeUserLeft        = "user-left"
	TypePresenceUpdate  = "presence-update"
	TypeCodeAck         = "code-ack"
	TypeSessionEnded    = "session-ended"
	TypeError           = "error"
)

// EventType is the type name names: the constant, without a copy, when it
// is one of this package's (the decoders of every client frame call it),
// else a copy of it.
func EventType(name []byte) string {
	switch string(name) {
	case TypeCodeUpdate:
		return TypeCodeUpdate
	case TypeCursorUpdate:
		return TypeCursorUpdate
	case TypeLanguageChanged:
		return TypeLanguageChanged
	case TypeSync:
		return TypeSync
	case TypeNotesUpdate:
		return TypeNotesUpdate
	case TypeRunOutput:
		return TypeRunOutput
	case TypeCodeAck:
		return TypeCodeAck
	case TypeNotesAck:
		return TypeNotesAck
	case TypeConnected:
		return TypeConnected
	case TypeUserJoined:
		return TypeUserJoined
	case TypeUserLeft:
		return TypeUserLeft
	case TypePresenceUpdate:
		return TypePresenceUpdate
	case TypeSessionEnded:
		return TypeSessionEnded
	case TypeError:
		return TypeError
	}
	return string(name)
}

// Envelope is the frame of every WebSocket message, both directions.
type Envelope struct {
	Type      string          `json:"type"`
	SessionID string          `json:"sessionId,omitempty"`
	UserID    string          `json:"userId,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	Timestamp int64           `json:"timestamp"`
}

// NewEnvelope marshals payload into an envelope stamped with now.
func NewEnvelope(typ, sessionID, userID string, payload any, now time.Time) (Envelope, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{Type: typ, SessionID: sessionID, UserID: userID, Payload: raw, Timestamp: now.UnixMilli()}, nil
}

// Delta is the change a code-update carries: exactly one of FullCode and Ops.
type Delta struct {
	FullCode *string         `json:"fullCode,omitempty"`
	Ops      json.RawMessage `json:"ops,omitempty"`
}

// CodeUpdate is the payload of code-update, both directions.
type CodeUpdate struct {
	Delta   Delta  `json:"delta"`
	Version int64  `json:"version"`
	OpID    string `json:"opId,omitempty"`
	Hash    string `json:"hash,omitempty"` // server to client: DocumentHash of the text at Version
}

// CodeAck is the payload of code-ack.
type CodeAck struct {
	Version int64  `json:"version"`
	OpID    string `json:"opId,omitempty"`
	Hash    string `json:"hash,omitempty"` // DocumentHash of the text at Version
}

// Position is a 0-based line and column in the document.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Selection is a range in the document.
type Selection struct {
	Start Position `json:"start"`
	End   Position `json:"end"`
}

// CursorUpdate is the payload of cursor-update.
type CursorUpdate struct {
	Position  Position   `json:"position"`
	Selection *Selection `json:"selection,omitempty"`
}

// User is one present user.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"`
	Role  Role   `json:"role,omitempty"`
	// LastSeen is the newest keepalive of any of the user's connections,
	// ISO 8601 (RFC 3339 in UTC with milliseconds); absent in user-joined.
	LastSeen string `json:"lastSeen,omitempty"`
}

// Connected is the payload of connected: who the connection is, the
// session's state as in Sync, and the latest shared run (absent before
// anyone shared one).
type Connected struct {
	SessionID   string `json:"sessionId"`
	UserID      string `json:"userId"`
	Role        Role   `json:"role"`
	ConnectedAt int64  `json:"connectedAt"`
	Sync
	LastRun *RunOutput `json:"lastRun,omitempty"`
}

// Sync is the payload of the server's sync answer: the state a client
// starts from. Notes, NotesVersion and NotesHash are set only for a
// connection whose role may read the notes.
type Sync struct {
	Code         string   `json:"code"`
	Version      int64    `json:"version"`
	Language     Language `json:"language"`
	Users        []User   `json:"users"`
	Hash         string   `json:"hash"` // DocumentHash(Code)
	Notes        *string  `json:"notes,omitempty"`
	NotesVersion *int64   `json:"notesVersion,omitempty"`
	NotesHash    *string  `json:"notesHash,omitempty"` // DocumentHash(Notes)
}

// UserLeft is the payload of user-left.
type UserLeft struct {
	Reason string `json:"reason"`
}

// Reasons a user leaves.
const (
	LeftDisconnect = "disconnect"
	LeftTimeout    = "timeout"
	LeftManual     = "manual"
)

// PresenceUpdate is the payload of presence-update.
type PresenceUpdate struct {
	Users []User `json:"users"`
}

// SessionEnded is the payload of session-ended.
type SessionEnded struct {
	Reason string `json:"reason"`
}

// Reasons a session ends.
const (
	EndedDeleted = "deleted" // DELETE by the operator
	EndedExpired = "expired" // the janitor, after SESSION_IDLE_TIMEOUT
	EndedByHost  = "ended"   // POST .../end: the interview is over, the session stays readable
)

// Limits of the protocol.
const (
	MaxDocumentBytes = 256 << 10
	MaxOpIDLen       = 64
	MaxUserIDLen     = 100
	MaxUserNameLen   = 50
	MaxBodyBytes     = 64 << 10
)
