package sio

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/pairpad/pairpad/shared/protocol"
)

// Encode returns the frame of p: the inverse of Parse for every packet Parse
// accepts. Data is written as is; it must already be valid JSON.
func Encode(p Packet) []byte {
	if p.EIO != EIOMessage {
		b := make([]byte, 0, 1+len(p.Data))
		return append(append(b, '0'+p.EIO), p.Data...)
	}
	b := make([]byte, 0, 4+len(p.Namespace)+20+len(p.Data))
	b = appendHeader(b, p.Type, p.Namespace)
	if p.AckID != nil {
		b = strconv.AppendInt(b, *p.AckID, 10)
	}
	return append(b, p.Data...)
}

// EncodeEvent returns the frame of an EVENT with one argument:
// 42["name",arg], or 42/nsp,["name",arg] outside the main namespace.
// A nil arg sends the event without arguments. arg must be valid JSON; the
// hub encodes a broadcast once and sends the same bytes to every receiver.
func EncodeEvent(nsp, name string, arg json.RawMessage) []byte {
	return AppendEvent(make([]byte, 0, eventLen(nsp, name, arg)), nsp, name, arg)
}

// AppendEvent appends the frame EncodeEvent returns to dst, so a caller with
// a buffer to reuse allocates nothing.
func AppendEvent(dst []byte, nsp, name string, arg json.RawMessage) []byte {
	if len(arg) == 0 {
		return append(appendString(append(appendHeader(dst, TypeEvent, nsp), '['), name), ']')
	}
	return append(append(AppendEventHead(dst, nsp, name), arg...), ']')
}

// AppendEventHead appends what comes before the argument in the frame of
// an EVENT with one argument: 42["name", so that a caller can encode the
// argument in place and end the frame with ']' (EncodeEvent's bytes,
// without copying the argument).
func AppendEventHead(dst []byte, nsp, name string) []byte {
	dst = appendHeader(dst, TypeEvent, nsp)
	dst = append(dst, '[')
	dst = appendString(dst, name)
	return append(dst, ',')
}

// eventLen is the exact length of an event frame whose name needs no escaping.
func eventLen(nsp, name string, arg json.RawMessage) int {
	n := 2 + 1 + 2 + len(name) + len(arg) + 1 // "42", "[", quotes, name, arg, "]"
	if len(arg) > 0 {
		n++ // the comma before arg
	}
	if nsp != "" && nsp != MainNamespace {
		n += len(nsp) + 1
	}
	return n
}

// EncodeConnect returns the server's answer to an accepted CONNECT:
// 40{"sid":"..."}. socket.io-client v4 treats a CONNECT without a sid as a
// v2 server and refuses it.
func EncodeConnect(nsp, sid string) []byte {
	b := make([]byte, 0, 4+len(nsp)+len(sid)+10)
	b = appendHeader(b, TypeConnect, nsp)
	b = append(b, `{"sid":`...)
	b = appendString(b, sid)
	return append(b, '}')
}

// connectError is the CONNECT_ERROR payload socket.io-client v4 turns into the
// Error it gives connect_error listeners: err.message and err.data.
type connectError struct {
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// EncodeConnectError returns the refusal of a CONNECT:
// 44{"message":"...","data":{...}}. An error becomes the protocol's
// WebSocket error payload (protocol.PayloadOf), so the client reads the code
// in err.data.error; a protocol.ErrorPayload is used as is; a string is sent
// as the message alone; any other value is sent as data, with its "message"
// field, when it has one, as the message.
func EncodeConnectError(nsp string, data any) []byte {
	ce := connectError{Message: "Connection refused"}
	switch d := data.(type) {
	case error:
		pl := protocol.PayloadOf(d)
		ce = connectError{Message: pl.Message, Data: pl}
	case protocol.ErrorPayload:
		ce = connectError{Message: d.Message, Data: d}
	case string:
		ce = connectError{Message: d}
	case nil:
	default:
		ce.Data = d
		if raw, err := json.Marshal(d); err == nil {
			var m struct {
				Message *string `json:"message"`
			}
			if json.Unmarshal(raw, &m) == nil && m.Message != nil {
				ce.Message = *m.Message
			}
		}
	}
	body, err := json.Marshal(ce)
	if err != nil {
		// Only an unmarshalable data gets here; the client still learns the refusal.
		body, _ = json.Marshal(connectError{Message: "Connection refused",
			Data: protocol.PayloadOf(errors.New("encode connect error"))})
	}
	b := make([]byte, 0, 4+len(nsp)+len(body))
	return append(appendHeader(b, TypeConnectError, nsp), body...)
}

// EncodeAck returns the answer to an EVENT that carried ack id id:
// 43id[args...]. Each arg must be valid JSON.
func EncodeAck(nsp string, id int64, args ...json.RawMessage) []byte {
	n := 4 + len(nsp) + 20 + 2
	for _, a := range args {
		n += len(a) + 1
	}
	b := appendHeader(make([]byte, 0, n), TypeAck, nsp)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, '[')
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a...)
	}
	return append(b, ']')
}

// EncodeDisconnect returns the frame that makes the client leave nsp: 41.
func EncodeDisconnect(nsp string) []byte {
	return appendHeader(make([]byte, 0, 4+len(nsp)), TypeDisconnect, nsp)
}

// appendHeader appends the Engine.IO message digit, the Socket.IO type digit
// and, outside the main namespace, the namespace and its comma.
func appendHeader(b []byte, typ byte, nsp string) []byte {
	b = append(b, '0'+EIOMessage, '0'+typ)
	if nsp != "" && nsp != MainNamespace {
		b = append(append(b, nsp...), ',')
	}
	return b
}

// appendString appends s as a JSON string. Event names and ids are plain
// ASCII, so the common case copies bytes; anything else goes through
// encoding/json for correct escaping.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
