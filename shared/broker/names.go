// Package broker is the NATS layer every service shares: the connection,
// every subject and bucket name, and the JetStream layout they provision.
package broker

import (
	"encoding/base64"
	"strings"
)

// Bucket and stream names. docs/nats.md describes each.
const (
	BucketSessions  = "sessions"  // key <sessionId>: session.Record
	BucketDocuments = "documents" // key <sessionId>: document snapshot
	BucketPresence  = "presence"  // key <sessionId>.<b64 userId>.<connId> (shared/presence builds it): presence entry, PresenceEntryTTL
	// BucketPresenceInstances: key <b64 instance>: a realtime instance's
	// heartbeat, TTL PRESENCE_TIMEOUT; its presence entries count only
	// while it lives.
	BucketPresenceInstances = "presence-instances"
	BucketRateLimits        = "ratelimits" // key <class>.<b64 ip>.<window>: request count
	// BucketParticipants: key <sessionId>: every user id that joined the
	// session, with the role and colour it first joined with.
	BucketParticipants = "participants"
	StreamOps          = "SESSION_OPS"
)

// MicroPrefix prefixes every micro service endpoint subject.
const MicroPrefix = "pairpad"

// KVSubject is the subject a key of a bucket is stored under.
func KVSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

// OpsSubject is the subject of a session's op log in SESSION_OPS.
func OpsSubject(sessionID string) string { return "session." + sessionID + ".ops" }

// NotesDocID is the document id of a session's interviewer notes: a second
// document beside the code (whose document id is the session id), with its
// own op log on OpsSubject(NotesDocID(sid)) and its own snapshot key in the
// documents bucket. The suffix keeps it one subject token, inside
// OpsSubjectAll, and never a session id (those are bare UUIDs).
func NotesDocID(sessionID string) string { return sessionID + NotesSuffix }

// NotesSuffix ends every notes document id.
const NotesSuffix = "-notes"

// DocSessionID is the session a document id belongs to: the id itself for
// the code, the session's id for its notes.
func DocSessionID(docID string) string { return strings.TrimSuffix(docID, NotesSuffix) }

// OpsSubjectAll matches every session's op log.
const OpsSubjectAll = "session.*.ops"

// AppliedSubject is where SESSION_OPS republishes what it stored for a session:
// the only source of live edits, so a rejected publish is never fanned out.
func AppliedSubject(sessionID string) string { return "session." + sessionID + ".applied" }

// AppliedSubjectTemplate is the republish destination of SESSION_OPS.
const AppliedSubjectTemplate = "session.{{wildcard(1)}}.applied"

// RunKeySuffix ends the documents-bucket key of a session's latest shared
// run output, so the key stays under its session (<sessionId>.run).
const RunKeySuffix = ".run"

// RunKey is the documents-bucket key of the session's latest run output.
func RunKey(sessionID string) string { return sessionID + RunKeySuffix }

// EventsSubject carries a session's ephemeral events between instances
// (cursors, presence, language, joins, leaves, session-ended).
func EventsSubject(sessionID string) string { return "session." + sessionID + ".events" }

// EncodeToken turns arbitrary text into a valid subject or key token.
func EncodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// DecodeToken reverses EncodeToken.
func DecodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	return string(b), err
}

// HeaderVersion repeats an op log entry's version in a header (the rest
// of the entry is in its body).
const HeaderVersion = "Pairpad-Version"

// HeaderInstance names the realtime instance that published a message on a
// session's events subject, so an instance skips its own messages.
const HeaderInstance = "Pairpad-Instance"
