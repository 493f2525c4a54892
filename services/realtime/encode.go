package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/services/realtime/internal/wsconn"
	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/jsonwire"
	"github.com/pairpad/pairpad/shared/protocol"
)

// outEvent is one server→client event: the envelope is encoded once, and
// framed at most once per framing however many connections receive it.
type outEvent = wsconn.Message

// newEvent encodes an event. Payloads are the protocol's own structs, so
// encoding cannot fail short of a programming error; then the receivers get
// an INTERNAL_SERVER_ERROR event instead of nothing. The payloads every
// update fans out (code-update, code-ack, cursor-update) are written by
// hand (appendPayload), the others by encoding/json.
func newEvent(typ, sessionID, userID string, payload any, now time.Time) *outEvent {
	b, start := startEvent(96+len(sessionID)+len(userID)+payloadSize(payload), typ, sessionID, userID)
	if b, ok := appendPayload(append(b, `,"payload":`...), payload); ok {
		return finishEvent(b, start, typ, now.UnixMilli())
	}
	raw, err := marshal(payload)
	if err != nil {
		typ = protocol.TypeError
		raw, _ = marshal(protocol.PayloadOf(err))
	}
	return rawEvent(typ, sessionID, userID, raw, now.UnixMilli())
}

// rawEvent builds an event around an already encoded payload.
func rawEvent(typ, sessionID, userID string, payload []byte, ts int64) *outEvent {
	b, start := startEvent(96+len(sessionID)+len(userID)+len(payload), typ, sessionID, userID)
	if len(payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return finishEvent(b, start, typ, ts)
}

// startEvent starts an event's Socket.IO frame, 42["type", and its
// envelope up to the payload in the same buffer, with room for about n
// bytes of envelope; start is where the envelope begins. A Socket.IO
// receiver then gets the bytes encoded here, not a copy
// (wsconn.NewFramedMessage); a plain one gets the envelope alone.
func startEvent(n int, typ, sessionID, userID string) (b []byte, start int) {
	b = sio.AppendEventHead(make([]byte, 0, 8+len(typ)+n), sio.MainNamespace, typ)
	start = len(b)
	return appendHead(b, typ, sessionID, userID), start
}

// appendHead appends an envelope up to its payload.
func appendHead(b []byte, typ, sessionID, userID string) []byte {
	b = append(b, `{"type":`...)
	b = jsonwire.AppendString(b, typ)
	b = append(b, `,"sessionId":`...)
	b = jsonwire.AppendString(b, sessionID)
	if userID != "" {
		b = append(b, `,"userId":`...)
		b = jsonwire.AppendString(b, userID)
	}
	return b
}

// finishEvent appends the timestamp that ends the envelope begun at
// b[start:] by startEvent.
func finishEvent(b []byte, start int, typ string, ts int64) *outEvent {
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '}')
	return wsconn.NewFramedMessage(typ, b, start)
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

// appendPayload appends the payloads of code-update, code-ack,
// cursor-update and presence-update exactly as marshal encodes them
// (FuzzEncodePayload); false
// for any other payload, and for ops that are not compact JSON, which
// marshal compacts or refuses.
func appendPayload(b []byte, v any) ([]byte, bool) {
	switch p := v.(type) {
	case protocol.CodeUpdate:
		b = append(b, `{"delta":{`...)
		if p.Delta.FullCode != nil {
			b = append(b, `"fullCode":`...)
			b = jsonwire.AppendString(b, *p.Delta.FullCode)
		}
		if len(p.Delta.Ops) > 0 {
			if !jsonwire.Valid(p.Delta.Ops) || !jsonwire.Compact(p.Delta.Ops) {
				return b, false
			}
			if p.Delta.FullCode != nil {
				b = append(b, ',')
			}
			b = append(b, `"ops":`...)
			b = append(b, p.Delta.Ops...)
		}
		b = append(b, `},"version":`...)
		b = strconv.AppendInt(b, p.Version, 10)
		return appendIDs(b, p.OpID, p.Hash), true
	case protocol.CodeAck:
		b = append(b, `{"version":`...)
		b = strconv.AppendInt(b, p.Version, 10)
		return appendIDs(b, p.OpID, p.Hash), true
	case protocol.CursorUpdate:
		b = append(b, `{"position":`...)
		b = appendPosition(b, p.Position)
		if p.Selection != nil {
			b = append(b, `,"selection":{"start":`...)
			b = appendPosition(b, p.Selection.Start)
			b = append(b, `,"end":`...)
			b = appendPosition(b, p.Selection.End)
			b = append(b, '}')
		}
		return append(b, '}'), true
	case protocol.PresenceUpdate:
		if p.Users == nil {
			return append(b, `{"users":null}`...), true
		}
		b = append(b, `{"users":[`...)
		for i, u := range p.Users {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendUser(b, u)
		}
		return append(b, "]}"...), true
	}
	return b, false
}

// appendUser appends a user of a presence list as encoding/json does.
func appendUser(b []byte, u protocol.User) []byte {
	b = append(b, `{"id":`...)
	b = jsonwire.AppendString(b, u.ID)
	b = append(b, `,"name":`...)
	b = jsonwire.AppendString(b, u.Name)
	b = append(b, `,"color":`...)
	b = jsonwire.AppendString(b, u.Color)
	if u.Role != "" {
		b = append(b, `,"role":`...)
		b = jsonwire.AppendString(b, string(u.Role))
	}
	if u.LastSeen != "" {
		b = append(b, `,"lastSeen":`...)
		b = jsonwire.AppendString(b, u.LastSeen)
	}
	return append(b, '}')
}

// appendIDs appends the opId and hash of an update or ack, each omitted
// when empty, and the object's end.
func appendIDs(b []byte, opID, hash string) []byte {
	if opID != "" {
		b = append(b, `,"opId":`...)
		b = jsonwire.AppendString(b, opID)
	}
	if hash != "" {
		b = append(b, `,"hash":`...)
		b = jsonwire.AppendString(b, hash)
	}
	return append(b, '}')
}

func appendPosition(b []byte, p protocol.Position) []byte {
	b = append(b, `{"line":`...)
	b = strconv.AppendInt(b, int64(p.Line), 10)
	b = append(b, `,"column":`...)
	b = strconv.AppendInt(b, int64(p.Column), 10)
	return append(b, '}')
}

// payloadSize is about how many bytes appendPayload writes for v.
func payloadSize(v any) int {
	if u, ok := v.(protocol.CodeUpdate); ok {
		n := 64 + len(u.Delta.Ops) + len(u.OpID) + len(u.Hash)
		if u.Delta.FullCode != nil {
			n += len(*u.Delta.FullCode) + len(*u.Delta.FullCode)/4 // room for escapes
		}
		return n
	}
	if p, ok := v.(protocol.PresenceUpdate); ok {
		n := 16
		for _, u := range p.Users {
			n += 64 + len(u.ID) + len(u.Name) + len(u.Color) + len(u.Role) + len(u.LastSeen)
		}
		return n
	}
	return 128
}

// cursorKey collapses a user's cursor-updates in a send queue: a client
// that reads slowly gets the newest one only. It is the user's id itself,
// not a copy made per move: a user id has no control characters, so it
// never equals presenceKey, the only other key.
func cursorKey(userID string) string { return userID }

// presenceKey collapses the presence lists in a send queue: the newest
// replaces a queued one.
const presenceKey = "\x00presence"

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
