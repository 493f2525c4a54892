// Package sio is the wire codec of Socket.IO v4 over its WebSocket transport:
// Engine.IO protocol 4 frames carrying Socket.IO protocol 5 packets.
//
// It is pure (no network, no NATS) so the hub can parse every frame a client
// sends and encode every frame it sends without knowing the notation. Only
// the WebSocket transport, opened directly (no polling, no upgrade), and only
// JSON packets (no binary attachments) are supported.
//
// One WebSocket text frame is one Engine.IO packet: a type digit followed by
// its data. An Engine.IO message ("4") carries one Socket.IO packet:
//
//	<type digit>[/<namespace>,][<ack id>][<JSON data>]
//
// for example 40{"token":"t"}, 42["code-update",{...}], 42/admin,13["evt"],
// 431[true] or 44{"message":"...","data":{...}}.
package sio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Engine.IO packet types: the first digit of every frame.
const (
	EIOOpen    byte = 0 // server → client, handshake data
	EIOClose   byte = 1 // either side closes the Engine.IO session
	EIOPing    byte = 2 // server → client heartbeat (Engine.IO 4)
	EIOPong    byte = 3 // client → server answer to a ping
	EIOMessage byte = 4 // carries one Socket.IO packet
	EIOUpgrade byte = 5 // transport upgrade; unused without polling
	EIONoop    byte = 6 // does nothing
)

// Socket.IO packet types: the digit after the Engine.IO message digit.
const (
	TypeConnect      byte = 0 // client asks to join a namespace; server accepts
	TypeDisconnect   byte = 1 // either side leaves a namespace
	TypeEvent        byte = 2 // ["name", args...]
	TypeAck          byte = 3 // the answer to an EVENT that carried an ack id
	TypeConnectError byte = 4 // server refuses a CONNECT
	TypeBinaryEvent  byte = 5 // refused: we are JSON-only
	TypeBinaryAck    byte = 6 // refused: we are JSON-only
)

// MainNamespace is the namespace a packet without one belongs to.
const MainNamespace = "/"

// MaxAckID is the largest acknowledgement id accepted: the largest integer a
// JavaScript number holds exactly, since the real client counts in one.
const MaxAckID = 1<<53 - 1

// MaxNamespaceLen bounds the namespace a client may name.
const MaxNamespaceLen = 256

// Sentinel errors of Parse and Event; every error they return wraps
// ErrMalformed, so one errors.Is decides whether a frame is garbage.
var (
	// ErrMalformed is wrapped by every error about a frame that does not
	// follow the protocol.
	ErrMalformed = errors.New("sio: malformed packet")
	// ErrBinary reports a binary EVENT or ACK (45, 46): refused, as this
	// server speaks JSON only. It wraps ErrMalformed.
	ErrBinary = fmt.Errorf("%w: binary packets are not supported", ErrMalformed)
	// ErrNotEvent is returned by Event for a packet that is not an EVENT.
	// It wraps ErrMalformed.
	ErrNotEvent = fmt.Errorf("%w: not an EVENT packet", ErrMalformed)
)

// Packet is one parsed frame.
//
// For Engine.IO packets other than message, only EIO is set (Data holds the
// handshake object of an open packet). For messages, Type is the Socket.IO
// packet type, Namespace is never empty ("/" when the frame named none),
// AckID is set when the frame carried one, and Data is the JSON payload
// exactly as sent (nil when there was none). Data returned by Parse aliases
// the parsed frame.
type Packet struct {
	EIO       byte
	Type      byte
	Namespace string
	AckID     *int64
	Data      json.RawMessage
}

// reserved are event names the reference implementation refuses on the wire,
// because the client and server libraries give them their own meaning.
var reserved = [...]string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// Reserved reports whether name is an event name the protocol reserves,
// which Parse refuses.
func Reserved(name string) bool { return isReserved(name) }

func isReserved(name string) bool {
	for _, r := range reserved {
		if name == r {
			return true
		}
	}
	return false
}

// Event returns the name and the arguments of an EVENT packet. The arguments
// alias p.Data.
func Event(p Packet) (name string, args []json.RawMessage, err error) {
	if p.EIO != EIOMessage || p.Type != TypeEvent {
		return "", nil, ErrNotEvent
	}
	if !isJSON(p.Data, '[') {
		return "", nil, malformed("EVENT data is not a JSON array")
	}
	items := splitArray(p.Data)
	if len(items) == 0 {
		return "", nil, malformed("EVENT without a name")
	}
	raw := items[0]
	if raw[0] != '"' {
		return "", nil, malformed("EVENT name is not a string")
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		name = string(raw[1 : len(raw)-1])
	} else if err := json.Unmarshal(raw, &name); err != nil {
		return "", nil, malformed("EVENT name: %v", err)
	}
	return name, items[1:], nil
}

// splitArray returns the items of a valid JSON array, without the space
// around them, by tracking nesting and strings instead of decoding.
func splitArray(arr []byte) []json.RawMessage {
	var items []json.RawMessage
	depth, inString, start := 0, false, 1
	for i := 0; i < len(arr); i++ {
		c := arr[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				if item := bytes.TrimSpace(arr[start:i]); len(item) > 0 {
					items = append(items, json.RawMessage(item))
				}
				return items
			}
		case c == ',' && depth == 1:
			items = append(items, json.RawMessage(bytes.TrimSpace(arr[start:i])))
			start = i + 1
		}
	}
	return items // unreachable for a valid array
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
