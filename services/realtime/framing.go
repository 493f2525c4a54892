package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/protocol"
)

// framingKind indexes per-framing encodings, so a broadcast is framed once
// per framing rather than once per receiver.
type framingKind int

const (
	kindPlain framingKind = iota
	kindSocketIO
	numFramings
)

// framing is everything that differs between plain WebSocket and Socket.IO:
// how an event is framed, how keepalives look and how client frames parse.
// The hub, the events and the connection loops only see this interface.
type framing interface {
	kind() framingKind
	name() string
	// wrap turns an encoded envelope into one WebSocket text frame.
	wrap(typ string, env []byte) []byte
	// ping sends a keepalive; it runs on the writer goroutine only.
	ping(ws *websocket.Conn, deadline time.Time) error
	// decode parses one client text frame.
	decode(frame []byte) (inbound, error)
	// ack answers a Socket.IO event that asked for an acknowledgement; nil
	// when the framing has no such thing.
	ack(id int64, err error) []byte
	// farewell is what the client gets before the server closes for good
	// (session ended): Socket.IO's DISCONNECT, which stops the reconnection.
	farewell() [][]byte
	// closedBy classifies a close frame from the client into a leave reason.
	closedBy(code int) string
}

// inboundKind says what a client frame asked for.
type inboundKind int

const (
	inEvent   inboundKind = iota // an envelope to handle
	inNothing                    // a keepalive or a frame with no effect
	inLeave                      // the client leaves (Socket.IO DISCONNECT): reason manual
)

// inbound is one decoded client frame.
type inbound struct {
	kind  inboundKind
	env   protocol.Envelope
	ev    clientEvent // the validated event, when kind is inEvent
	ackID *int64
}

// decodeFrame turns one client frame of message type mt into what it asks
// for: the framing's decoding, then the event's validation for the
// connection's session sessionID. It has no side effects; a refusal
// carries a protocol error code (INVALID_PAYLOAD, INVALID_SESSION,
// INVALID_LANGUAGE, DOCUMENT_TOO_LARGE) and is answered, never dropped.
func decodeFrame(fr framing, mt int, data []byte, sessionID string) (inbound, error) {
	if mt != websocket.TextMessage {
		return inbound{}, frameError("Binary frames are not supported; send JSON text frames")
	}
	in, err := fr.decode(data)
	if err != nil || in.kind != inEvent {
		return in, err
	}
	in.ev, err = parseEvent(in.env, sessionID)
	return in, err
}

// errFrame wraps every decoding failure: INVALID_PAYLOAD, connection stays.
var errFrame = errors.New("malformed frame")

func frameError(format string, args ...any) error {
	return protocol.Wrap(protocol.CodeInvalidPayload, fmt.Sprintf(format, args...), errFrame)
}

// plainFraming is one JSON envelope per text frame, pings at the WebSocket level.
type plainFraming struct{}

func (plainFraming) kind() framingKind { return kindPlain }
func (plainFraming) name() string      { return "plain" }

func (plainFraming) wrap(_ string, env []byte) []byte { return env }

func (plainFraming) ping(ws *websocket.Conn, deadline time.Time) error {
	return ws.WriteControl(websocket.PingMessage, nil, deadline)
}

func (plainFraming) decode(frame []byte) (inbound, error) {
	env, err := protocol.DecodeEnvelope(frame) // INVALID_PAYLOAD saying what is wrong
	if err != nil {
		return inbound{}, err
	}
	return inbound{kind: inEvent, env: env}, nil
}

func (plainFraming) ack(int64, error) []byte { return nil }
func (plainFraming) farewell() [][]byte      { return nil }

// closedBy: a plain client that closes with 1000 (normal closure) meant to
// leave; anything else (1001 going away, 1005 no status, errors) is a disconnect.
func (plainFraming) closedBy(code int) string {
	if code == websocket.CloseNormalClosure {
		return protocol.LeftManual
	}
	return protocol.LeftDisconnect
}

// sioFraming is Socket.IO v4 over Engine.IO 4: events are 42["type",envelope],
// keepalives are Engine.IO ping/pong packets.
type sioFraming struct{}

func (sioFraming) kind() framingKind { return kindSocketIO }
func (sioFraming) name() string      { return "socket.io" }

func (sioFraming) wrap(typ string, env []byte) []byte {
	return sio.EncodeEvent(sio.MainNamespace, typ, env)
}

func (sioFraming) ping(ws *websocket.Conn, deadline time.Time) error {
	if err := ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	return ws.WriteMessage(websocket.TextMessage, []byte(sio.PingFrame))
}

func (sioFraming) decode(frame []byte) (inbound, error) {
	p, err := sio.Parse(frame)
	if err != nil {
		return inbound{}, frameError("The frame is not a Socket.IO packet: %v", err)
	}
	switch p.EIO {
	case sio.EIOPong, sio.EIONoop:
		return inbound{kind: inNothing}, nil
	case sio.EIOClose:
		return inbound{kind: inLeave}, nil
	case sio.EIOMessage:
	default:
		return inbound{}, frameError("Engine.IO packet type %d is not expected from a client", p.EIO)
	}
	if p.Namespace != sio.MainNamespace {
		return inbound{}, frameError("Only the main namespace / is served, not %q", p.Namespace)
	}
	switch p.Type {
	case sio.TypeDisconnect:
		return inbound{kind: inLeave}, nil
	case sio.TypeAck:
		return inbound{kind: inNothing}, nil // the server never asks for acknowledgements
	case sio.TypeConnect:
		return inbound{}, frameError("The namespace is already connected")
	case sio.TypeEvent:
	default:
		return inbound{}, frameError("Socket.IO packet type %d is not expected from a client", p.Type)
	}
	name, args, err := sio.Event(p)
	if err != nil {
		return inbound{}, frameError("The event is malformed: %v", err)
	}
	env, err := sioEnvelope(name, args)
	if err != nil {
		return inbound{ackID: p.AckID}, err
	}
	return inbound{kind: inEvent, env: env, ackID: p.AckID}, nil
}

// sioEnvelope builds the envelope of a Socket.IO event: the event name is the
// type; the first argument is either a whole envelope (it has a payload,
// type or sessionId field) or the payload itself, so both
// emit("language-changed", {payload: "python"}) and emit("language-changed", "python") work.
func sioEnvelope(name string, args []json.RawMessage) (protocol.Envelope, error) {
	env := protocol.Envelope{Type: name}
	if len(args) == 0 || string(args[0]) == "null" {
		return env, nil
	}
	arg := args[0]
	if arg[0] == '{' {
		var probe struct {
			Type      *string         `json:"type"`
			SessionID *string         `json:"sessionId"`
			Payload   json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(arg, &probe); err == nil && (probe.Type != nil || probe.SessionID != nil || probe.Payload != nil) {
			if probe.SessionID != nil {
				env.SessionID = *probe.SessionID
			}
			env.Payload = probe.Payload
			return env, nil
		}
	}
	env.Payload = arg
	return env, nil
}

func (sioFraming) ack(id int64, err error) []byte {
	if err == nil {
		return sio.EncodeAck(sio.MainNamespace, id)
	}
	body, _ := json.Marshal(protocol.PayloadOf(err))
	return sio.EncodeAck(sio.MainNamespace, id, body)
}

func (sioFraming) farewell() [][]byte {
	return [][]byte{sio.EncodeDisconnect(sio.MainNamespace)}
}

// closedBy: a Socket.IO client says goodbye with a DISCONNECT packet, so a
// bare close frame is a disconnect.
func (sioFraming) closedBy(int) string { return protocol.LeftDisconnect }
