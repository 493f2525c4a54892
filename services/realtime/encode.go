package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/services/realtime/internal/wsconn"
	"github.com/pairpad/pairpad/shared/protocol"
)

// outEvent is one server→client event: the envelope is encoded once, and
// framed at most once per framing however many connections receive it.
type outEvent = wsconn.Message

// newEvent encodes an event. Payloads are the protocol's own structs, so
// encoding cannot fail short of a programming error; then the receivers get
// an INTERNAL_SERVER_ERROR event instead of nothing.
func newEvent(typ, sessionID, userID string, payload any, now time.Time) *outEvent {
	raw, err := marshal(payload)
	if err != nil {
		typ = protocol.TypeError
		raw, _ = marshal(protocol.PayloadOf(err))
	}
	return rawEvent(typ, sessionID, userID, raw, now.UnixMilli())
}

// rawEvent builds an event around an already encoded payload.
func rawEvent(typ, sessionID, userID string, payload []byte, ts int64) *outEvent {
	b := make([]byte, 0, 96+len(sessionID)+len(userID)+len(payload))
	b = append(b, `{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"sessionId":`...)
	b = appendString(b, sessionID)
	if userID != "" {
		b = append(b, `,"userId":`...)
		b = appendString(b, userID)
	}
	if len(payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '}')
	return &outEvent{Type: typ, Body: b}
}

// marshal encodes v without HTML escaping: code is full of < and >, and
// escaping them would only make every frame larger.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func appendString(b []byte, s string) []byte {
	q, _ := marshal(s) // a string always encodes
	return append(b, q...)
}

// deltaFormat is how a connection wants code-updates: the whole text after
// the update, or the operation.
type deltaFormat int

const (
	formatFullCode deltaFormat = iota
	formatOps
	numFormats
)

func parseDeltaFormat(s string) (deltaFormat, bool) {
	switch s {
	case "", "fullCode":
		return formatFullCode, true
	case "ops":
		return formatOps, true
	}
	return 0, false
}

// updateEvent encodes an applied update as a code-update or notes-update
// (typ) in format f.
func updateEvent(typ, sid string, a document.Applied, f deltaFormat) *outEvent {
	u := protocol.CodeUpdate{Version: a.Version, OpID: a.OpID, Hash: a.Hash}
	if f == formatOps {
		ops, err := marshal(a.Ops)
		if err != nil {
			return newEvent(protocol.TypeError, sid, a.UserID, protocol.PayloadOf(err), time.UnixMilli(a.Timestamp))
		}
		u.Delta.Ops = ops
	} else {
		code := a.Code
		u.Delta.FullCode = &code
	}
	return newEvent(typ, sid, a.UserID, u, time.UnixMilli(a.Timestamp))
}

// ackEvent encodes the acknowledgement (code-ack, notes-ack: typ) of an
// update to its sender; hash is the document's at version ("" when no
// longer known: omitted).
func ackEvent(typ, sid, userID string, version int64, opID, hash string, now time.Time) *outEvent {
	return newEvent(typ, sid, userID, protocol.CodeAck{Version: version, OpID: opID, Hash: hash}, now)
}

// errorEvent encodes err as the protocol's error event. An internal
// failure keeps its generic message but still says which event (and opId)
// it was about: those details are added by this package, never a cause's.
func errorEvent(sid, userID string, err error, now time.Time) *outEvent {
	p := protocol.PayloadOf(err)
	var pe *protocol.Error
	if p.Details == nil && errors.As(err, &pe) && p.Error == protocol.CodeInternal {
		p.Details = pe.Details
	}
	return newEvent(protocol.TypeError, sid, userID, p, now)
}
