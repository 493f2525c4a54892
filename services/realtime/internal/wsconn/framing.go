package wsconn

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/jsonwire"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Kind indexes per-framing encodings, so a broadcast is framed once per
// framing rather than once per receiver.
type Kind int

const (
	KindPlain Kind = iota
	KindSocketIO
	numKinds
)

// Framing is everything that differs between plain WebSocket and
// Socket.IO: how an event is framed, how keepalives look and how client
// frames parse. Everything above the socket only sees this interface.
type Framing interface {
	Kind() Kind
	Name() string
	// Wrap turns an encoded envelope into one WebSocket text frame.
	Wrap(typ string, env []byte) []byte
	// Ping is the keepalive frame: its WebSocket opcode and payload.
	Ping() (opcode int, payload []byte)
	// Decode parses one client text frame. The envelope's payload may
	// alias frame, so a frame is not reused while its Inbound lives (the
	// submitter may hold it).
	Decode(frame []byte) (Inbound, error)
	// Ack answers a Socket.IO event that asked for an acknowledgement; nil
	// when the framing has no such thing.
	Ack(id int64, err error) []byte
	// Farewell is what the client gets before the server closes for good
	// (session ended): Socket.IO's DISCONNECT, which stops the reconnection.
	Farewell() [][]byte
	// ClosedBy classifies a close frame from the client into a leave reason.
	ClosedBy(code int) string
}

// InKind says what a client frame asked for.
type InKind int

const (
	InEvent   InKind = iota // an envelope to handle
	InNothing               // a keepalive or a frame with no effect
	InLeave                 // the client leaves (Socket.IO DISCONNECT): reason manual
)

// Inbound is one decoded client frame.
type Inbound struct {
	Kind  InKind
	Env   protocol.Envelope
	AckID *int64
}

// ErrFrame wraps every decoding failure: INVALID_PAYLOAD, the connection
// stays.
var ErrFrame = errors.New("malformed frame")

// FrameError is an INVALID_PAYLOAD refusal of a client frame.
func FrameError(format string, args ...any) error {
	return protocol.Wrap(protocol.CodeInvalidPayload, fmt.Sprintf(format, args...), ErrFrame)
}

// Plain is one JSON envelope per text frame, pings at the WebSocket level.
type Plain struct{}

func (Plain) Kind() Kind   { return KindPlain }
func (Plain) Name() string { return "plain" }

func (Plain) Wrap(_ string, env []byte) []byte { return env }

func (Plain) Ping() (int, []byte) { return websocket.PingMessage, nil }

func (Plain) Decode(frame []byte) (Inbound, error) {
	env, err := protocol.DecodeEnvelope(frame) // INVALID_PAYLOAD saying what is wrong
	if err != nil {
		return Inbound{}, err
	}
	return Inbound{Kind: InEvent, Env: env}, nil
}

func (Plain) Ack(int64, error) []byte { return nil }
func (Plain) Farewell() [][]byte      { return nil }

// ClosedBy: a plain client that closes with 1000 (normal closure) meant to
// leave; anything else (1001 going away, 1005 no status, errors) is a disconnect.
func (Plain) ClosedBy(code int) string {
	if code == websocket.CloseNormalClosure {
		return protocol.LeftManual
	}
	return protocol.LeftDisconnect
}

// SocketIO is Socket.IO v4 over Engine.IO 4: events are
// 42["type",envelope], keepalives are Engine.IO ping/pong packets.
type SocketIO struct{}

func (SocketIO) Kind() Kind   { return KindSocketIO }
func (SocketIO) Name() string { return "socket.io" }

func (SocketIO) Wrap(typ string, env []byte) []byte {
	return sio.EncodeEvent(sio.MainNamespace, typ, env)
}

var sioPing = []byte(sio.PingFrame)

func (SocketIO) Ping() (int, []byte) { return websocket.TextMessage, sioPing }

func (SocketIO) Decode(frame []byte) (Inbound, error) {
	if in, ok := fastEvent(frame); ok {
		return in, nil
	}
	return decodePacket(frame)
}

// fastEvent is Decode's fast path, for the frame of nearly every client
// event: 42["type",arg] or 42<ack id>["type",arg], read in one pass of a
// jsonwire.Reader (after utf8.Valid) instead of Parse's validations,
// Event's split and sioEnvelope's encoding/json probe. It answers false
// for anything else, even valid (a namespace, an escaped name, a null or
// repeated envelope key): decodePacket then decides, so a refusal is the
// same whichever path saw the frame, and what fastEvent accepts
// decodePacket decodes the same (FuzzSocketIODecode).
func fastEvent(frame []byte) (Inbound, bool) {
	if len(frame) < 3 || frame[0] != '0'+sio.EIOMessage || frame[1] != '0'+sio.TypeEvent {
		return Inbound{}, false
	}
	in := Inbound{Kind: InEvent}
	i := 2
	if frame[i] >= '0' && frame[i] <= '9' {
		var id int64
		j := i
		for ; j < len(frame) && frame[j] >= '0' && frame[j] <= '9'; j++ {
			if j-i == 16 {
				return Inbound{}, false
			}
			id = id*10 + int64(frame[j]-'0')
		}
		if (j-i > 1 && frame[i] == '0') || id > sio.MaxAckID {
			return Inbound{}, false
		}
		in.AckID, i = &id, j
	}
	if i >= len(frame) || frame[i] != '[' || !utf8.Valid(frame) {
		return Inbound{}, false
	}
	r := jsonwire.NewReader(frame[i:])
	ok := r.Array(func(n int) bool {
		switch n {
		case 0:
			name, ok := r.Name()
			in.Env.Type = protocol.EventType(name)
			return ok && !sio.Reserved(in.Env.Type)
		case 1:
			return fastArg(&r, &in.Env)
		}
		_, ok := r.Value() // further arguments are ignored
		return ok
	})
	return in, ok && len(in.Env.Type) > 0 && r.End()
}

// fastArg reads the event's first argument, as sioEnvelope takes it: a
// whole envelope (an object with a payload, type or sessionId key), else
// the payload itself.
func fastArg(r *jsonwire.Reader, env *protocol.Envelope) bool {
	if r.Peek() != '{' {
		arg, ok := r.Value()
		if string(arg) != "null" {
			env.Payload = arg
		}
		return ok
	}
	start := r.Pos()
	var seen jsonwire.Seen
	var sid []byte
	var payload []byte
	ok := r.Object(func(key []byte) bool {
		switch string(key) {
		case "type":
			v, ok := r.Value() // only its presence counts: the event name is the type
			return ok && v[0] == '"' && seen.First(1)
		case "sessionId":
			var ok bool
			sid, ok = r.Name()
			return ok && seen.First(2)
		case "payload":
			var ok bool
			payload, ok = r.Value()
			return ok && seen.First(4)
		}
		if jsonwire.FoldsTo(key, "type", "sessionId", "payload") {
			return false
		}
		_, ok := r.Value()
		return ok
	})
	if !ok {
		return false
	}
	if seen == 0 {
		env.Payload = r.Bytes(start, r.Pos())
		return true
	}
	env.SessionID = string(sid)
	env.Payload = payload
	return true
}

// decodePacket is Decode with sio.Parse and encoding/json: every refusal,
// and what fastEvent leaves to it.
func decodePacket(frame []byte) (Inbound, error) {
	p, err := sio.Parse(frame)
	if err != nil {
		return Inbound{}, FrameError("The frame is not a Socket.IO packet: %v", err)
	}
	switch p.EIO {
	case sio.EIOPong, sio.EIONoop:
		return Inbound{Kind: InNothing}, nil
	case sio.EIOClose:
		return Inbound{Kind: InLeave}, nil
	case sio.EIOMessage:
	default:
		return Inbound{}, FrameError("Engine.IO packet type %d is not expected from a client", p.EIO)
	}
	if p.Namespace != sio.MainNamespace {
		return Inbound{}, FrameError("Only the main namespace / is served, not %q", p.Namespace)
	}
	switch p.Type {
	case sio.TypeDisconnect:
		return Inbound{Kind: InLeave}, nil
	case sio.TypeAck:
		return Inbound{Kind: InNothing}, nil // the server never asks for acknowledgements
	case sio.TypeConnect:
		return Inbound{}, FrameError("The namespace is already connected")
	case sio.TypeEvent:
	default:
		return Inbound{}, FrameError("Socket.IO packet type %d is not expected from a client", p.Type)
	}
	name, args, err := sio.Event(p)
	if err != nil {
		return Inbound{}, FrameError("The event is malformed: %v", err)
	}
	env, err := sioEnvelope(name, args)
	if err != nil {
		return Inbound{AckID: p.AckID}, err
	}
	return Inbound{Kind: InEvent, Env: env, AckID: p.AckID}, nil
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

func (SocketIO) Ack(id int64, err error) []byte {
	if err == nil {
		return sio.EncodeAck(sio.MainNamespace, id)
	}
	body, _ := json.Marshal(protocol.PayloadOf(err))
	return sio.EncodeAck(sio.MainNamespace, id, body)
}

func (SocketIO) Farewell() [][]byte {
	return [][]byte{sio.EncodeDisconnect(sio.MainNamespace)}
}

// ClosedBy: a Socket.IO client says goodbye with a DISCONNECT packet, so a
// bare close frame is a disconnect.
func (SocketIO) ClosedBy(int) string { return protocol.LeftDisconnect }

// Message is one server→client event: the envelope is encoded once, and
// framed at most once per framing however many connections receive it.
// A Message is used by one goroutine at a time (the one broadcasting).
type Message struct {
	Type   string
	Body   []byte // the encoded envelope
	Key    string // Frame.Key: a newer message with the same key replaces it while queued
	framed [numKinds][]byte
}

// NewFramedMessage makes the message of type typ whose envelope is
// frame[start:] (frame[:start] from sio.AppendEventHead of typ in the main
// namespace): it ends the frame with ']' and keeps it as the message's
// Socket.IO frame, so the envelope is not copied again to frame it. Body
// and that frame share their bytes, which nobody changes afterwards; Body's
// capacity ends with it, so appending to Body copies.
func NewFramedMessage(typ string, frame []byte, start int) *Message {
	end := len(frame)
	frame = append(frame, ']')
	m := &Message{Type: typ, Body: frame[start:end:end]}
	m.framed[KindSocketIO] = frame
	return m
}

// Frame returns the message framed for f.
func (m *Message) Frame(f Framing) []byte {
	k := f.Kind()
	if m.framed[k] == nil {
		m.framed[k] = f.Wrap(m.Type, m.Body)
	}
	return m.framed[k]
}
