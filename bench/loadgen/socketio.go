package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// The client side of Socket.IO v4 over its WebSocket transport (Engine.IO 4
// frames carrying Socket.IO 5 packets), only as much as a load generator
// needs: the server's open, ping, CONNECT answer, events and disconnect; the
// client's CONNECT with auth, events and pong. A private codec keeps the
// bench module independent of the server's own parser, which it tests.

// FrameKind says what a server frame is.
type FrameKind int

// The server frames a client sees.
const (
	FrameOpen         FrameKind = iota // 0{"sid":...,"pingInterval":...}
	FramePing                          // 2: answer with PongFrame
	FrameClose                         // 1: the Engine.IO session ends
	FrameConnect                       // 40{"sid":...}: the namespace accepted us
	FrameConnectError                  // 44{"message":...,"data":{...}}: refused
	FrameEvent                         // 42["name",arg]
	FrameDisconnect                    // 41: the server made us leave
	FrameNoop                          // 6, 3, acks: nothing to do
)

// Client frames without data.
const (
	// PongFrame answers the server's Engine.IO ping.
	PongFrame = "3"
	// CloseFrame ends the Engine.IO session.
	CloseFrame = "1"
)

// ServerFrame is one parsed frame from a Socket.IO server.
type ServerFrame struct {
	Kind FrameKind
	// Name is the event name of a FrameEvent.
	Name string
	// Arg is the first argument of a FrameEvent, nil when it had none.
	Arg json.RawMessage
	// Data is the JSON object of FrameOpen, FrameConnect and FrameConnectError.
	Data json.RawMessage
}

// ErrFrame wraps every error about a frame that is not Socket.IO.
var ErrFrame = errors.New("socket.io: malformed frame")

// ParseServerFrame parses one WebSocket text frame sent by a Socket.IO v4
// server. Frames outside the main namespace are reported as FrameNoop.
func ParseServerFrame(b []byte) (ServerFrame, error) {
	if len(b) == 0 {
		return ServerFrame{}, fmt.Errorf("%w: empty frame", ErrFrame)
	}
	switch b[0] {
	case '0':
		return ServerFrame{Kind: FrameOpen, Data: json.RawMessage(b[1:])}, nil
	case '1':
		return ServerFrame{Kind: FrameClose}, nil
	case '2':
		return ServerFrame{Kind: FramePing}, nil
	case '3', '5', '6':
		return ServerFrame{Kind: FrameNoop}, nil
	case '4':
	default:
		return ServerFrame{}, fmt.Errorf("%w: Engine.IO type %q", ErrFrame, b[0])
	}
	if len(b) < 2 {
		return ServerFrame{}, fmt.Errorf("%w: message without a Socket.IO type", ErrFrame)
	}
	rest := b[2:]
	if len(rest) > 0 && rest[0] == '/' {
		return ServerFrame{Kind: FrameNoop}, nil // another namespace: not ours
	}
	switch b[1] {
	case '0':
		return ServerFrame{Kind: FrameConnect, Data: json.RawMessage(rest)}, nil
	case '1':
		return ServerFrame{Kind: FrameDisconnect}, nil
	case '3':
		return ServerFrame{Kind: FrameNoop}, nil
	case '4':
		return ServerFrame{Kind: FrameConnectError, Data: json.RawMessage(rest)}, nil
	case '2':
		return parseEvent(rest)
	default:
		return ServerFrame{}, fmt.Errorf("%w: Socket.IO type %q", ErrFrame, b[1])
	}
}

// parseEvent decodes [ackId]["name",arg,...].
func parseEvent(rest []byte) (ServerFrame, error) {
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++ // an ack id the server asks for; this bench never answers one
	}
	var items []json.RawMessage
	if err := json.Unmarshal(rest[i:], &items); err != nil {
		return ServerFrame{}, fmt.Errorf("%w: event data: %v", ErrFrame, err)
	}
	if len(items) == 0 {
		return ServerFrame{}, fmt.Errorf("%w: event without a name", ErrFrame)
	}
	f := ServerFrame{Kind: FrameEvent}
	if err := json.Unmarshal(items[0], &f.Name); err != nil {
		return ServerFrame{}, fmt.Errorf("%w: event name: %v", ErrFrame, err)
	}
	if len(items) > 1 {
		f.Arg = items[1]
	}
	return f, nil
}

// EncodeConnect returns the client's CONNECT to the main namespace: 40, or
// 40{auth} when auth is not nil.
func EncodeConnect(auth any) ([]byte, error) {
	if auth == nil {
		return []byte("40"), nil
	}
	body, err := json.Marshal(auth)
	if err != nil {
		return nil, fmt.Errorf("encode CONNECT auth: %w", err)
	}
	return append([]byte("40"), body...), nil
}

// AppendEvent appends 42["name",arg] to dst; arg must be valid JSON, or nil
// for an event without arguments.
func AppendEvent(dst []byte, name string, arg []byte) []byte {
	dst = append(dst, `42[`...)
	dst = strconv.AppendQuote(dst, name) // event names are ASCII: Go and JSON quoting agree
	if arg != nil {
		dst = append(append(dst, ','), arg...)
	}
	return append(dst, ']')
}

// connectError is the data of a CONNECT_ERROR: the protocol puts the error
// code in data.error.
type connectError struct {
	Message string `json:"message"`
	Data    struct {
		Error string `json:"error"`
	} `json:"data"`
}

// ConnectErrorCode returns the protocol error code of a CONNECT_ERROR's data,
// or its message when it has none (an older server).
func ConnectErrorCode(data json.RawMessage) string {
	var ce connectError
	if err := json.Unmarshal(data, &ce); err != nil {
		return "CONNECT_ERROR"
	}
	if ce.Data.Error != "" {
		return ce.Data.Error
	}
	if ce.Message != "" {
		return ce.Message
	}
	return "CONNECT_ERROR"
}
