package realtime

import (
	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime/internal/wsconn"
	"github.com/pairpad/pairpad/shared/protocol"
)

// The kinds of client frame (wsconn.InKind).
const (
	inEvent = wsconn.InEvent // an envelope to handle
	inLeave = wsconn.InLeave // the client leaves (Socket.IO DISCONNECT): reason manual
)

// inbound is one decoded client frame.
type inbound struct {
	kind  wsconn.InKind
	env   protocol.Envelope
	ev    clientEvent // the validated event, when kind is inEvent
	ackID *int64
}

// decodeFrame turns one client frame of message type mt into what it asks
// for: the framing's decoding, then the event's validation for the
// connection's session sessionID. It has no side effects; a refusal
// carries a protocol error code (INVALID_PAYLOAD, INVALID_SESSION,
// INVALID_LANGUAGE, DOCUMENT_TOO_LARGE) and is answered, never dropped.
func decodeFrame(fr wsconn.Framing, mt int, data []byte, sessionID string) (inbound, error) {
	if mt != websocket.TextMessage {
		return inbound{}, wsconn.FrameError("Binary frames are not supported; send JSON text frames")
	}
	raw, err := fr.Decode(data)
	in := inbound{kind: raw.Kind, env: raw.Env, ackID: raw.AckID}
	if err != nil || in.kind != inEvent {
		return in, err
	}
	in.ev, err = parseEvent(in.env, sessionID)
	return in, err
}
