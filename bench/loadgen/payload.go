package loadgen

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// How a receiver learns when an event was sent, without trusting any clock
// but the load generator's own (one process, one monotonic clock):
//   - a code-update carries opId "lg<seq>.<sent>", sent being nanoseconds
//     since the run's start; the server keeps the opId in the broadcast and
//     in the sender's code-ack.
//   - a cursor-update carries its per-sender sequence number in the
//     position (line = seq/1000, column = seq%1000: small, plausible values
//     whatever the server validates); the receiver looks the send time up in
//     the sender's ring of recent send times.

// Clock gives nanoseconds since a run started, on the monotonic clock.
type Clock struct{ base time.Time }

// NewClock starts a clock now.
func NewClock() Clock { return Clock{base: time.Now()} }

// Now returns the nanoseconds elapsed since the clock started.
func (c Clock) Now() int64 { return int64(time.Since(c.base)) }

// OpID returns the opId of a code-update sent at sent (Clock nanoseconds).
func OpID(seq uint64, sent int64) string {
	b := make([]byte, 0, 32)
	b = append(b, "lg"...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, sent, 10)
	return string(b)
}

// ParseOpID returns the sequence and send time an OpID carries; ok is false
// for an opId this generator did not write.
func ParseOpID(id string) (seq uint64, sent int64, ok bool) {
	rest, found := strings.CutPrefix(id, "lg")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, ".")
	if !found {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(a, 10, 64)
	sent, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || sent < 0 {
		return 0, 0, false
	}
	return seq, sent, true
}

// CursorPosition is where cursor update seq puts the cursor.
func CursorPosition(seq uint64) protocol.Position {
	return protocol.Position{Line: int(seq / 1000), Column: int(seq % 1000)}
}

// CursorSeq is the inverse of CursorPosition.
func CursorSeq(p protocol.Position) (uint64, bool) {
	if p.Line < 0 || p.Column < 0 || p.Column >= 1000 {
		return 0, false
	}
	return uint64(p.Line)*1000 + uint64(p.Column), true
}

// sendRing remembers the send times of a sender's recent cursor updates.
// The sender writes, any receiver reads; both without locks.
type sendRing struct {
	seq  [ringSize]atomic.Uint64
	sent [ringSize]atomic.Int64
}

// ringSize covers minutes of cursor updates at the server's 10/s limit.
const ringSize = 4096

func (r *sendRing) put(seq uint64, sent int64) {
	i := seq % ringSize
	r.sent[i].Store(sent)
	r.seq[i].Store(seq + 1) // +1: zero means empty
}

func (r *sendRing) get(seq uint64) (int64, bool) {
	i := seq % ringSize
	if r.seq[i].Load() != seq+1 {
		return 0, false
	}
	return r.sent[i].Load(), true
}

// envelope is what the generator decodes of every server event.
type envelope struct {
	Type      string          `json:"type"`
	SessionID string          `json:"sessionId"`
	UserID    string          `json:"userId"`
	Payload   json.RawMessage `json:"payload"`

	// decoded says that quickEnvelope already read the payload of a
	// code-update (into code) or a code-ack (its Version, OpID and Hash
	// in code), so that the handler does not read it again; Payload is
	// then nil.
	decoded bool
	code    protocol.CodeUpdate
}

// decodeEnvelope reads a plain frame, or a Socket.IO event argument, which is
// the envelope itself or, from an older server, only the payload.
func decodeEnvelope(name string, data []byte) (envelope, error) {
	var env envelope
	if len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, &env); err != nil {
			return envelope{}, fmt.Errorf("decode envelope: %w", err)
		}
	}
	if name == "" {
		if env.Type == "" {
			return envelope{}, fmt.Errorf("decode envelope: no type in %.80q", data)
		}
		return env, nil
	}
	if env.Type == "" && env.Payload == nil {
		env = envelope{Payload: json.RawMessage(data)} // a bare payload
	}
	env.Type = name
	return env, nil
}

// encodeEnvelope returns the JSON of an outgoing envelope.
func encodeEnvelope(typ, sessionID string, payload any, now time.Time) ([]byte, error) {
	env := protocol.Envelope{Type: typ, SessionID: sessionID, Timestamp: now.UnixMilli()}
	if payload != nil {
		raw, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", typ, err)
		}
		env.Payload = raw
	}
	return json.Marshal(env)
}
