package sio

import (
	"encoding/json"
	"unicode/utf8"
)

// Parse decodes one WebSocket text frame. It is strict: anything the
// reference socket.io-client would not send, or that could not be encoded
// back to the same packet, is an error wrapping ErrMalformed. It never
// panics, whatever the input.
func Parse(frame []byte) (Packet, error) {
	if len(frame) == 0 {
		return Packet{}, malformed("empty frame")
	}
	if !utf8.Valid(frame) {
		// RFC 6455 text frames are UTF-8; anything else is not from a real client.
		return Packet{}, malformed("frame is not valid UTF-8")
	}
	if frame[0] < '0' || frame[0] > '6' {
		return Packet{}, malformed("unknown Engine.IO packet type %q", frame[0])
	}
	eio, rest := frame[0]-'0', frame[1:]
	switch eio {
	case EIOMessage:
		return parseMessage(rest)
	case EIOOpen:
		if !isJSON(rest, '{') {
			return Packet{}, malformed("open packet without a JSON object")
		}
		return Packet{EIO: eio, Data: rest}, nil
	default:
		if len(rest) != 0 {
			// Payloads here only serve polling upgrades ("2probe"), which we never offer.
			return Packet{}, malformed("Engine.IO packet type %d carries data", eio)
		}
		return Packet{EIO: eio}, nil
	}
}

// parseMessage decodes the Socket.IO packet inside an Engine.IO message.
func parseMessage(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, malformed("empty message")
	}
	if b[0] < '0' || b[0] > '6' {
		return Packet{}, malformed("unknown Socket.IO packet type %q", b[0])
	}
	p := Packet{EIO: EIOMessage, Type: b[0] - '0', Namespace: MainNamespace}
	if p.Type == TypeBinaryEvent || p.Type == TypeBinaryAck {
		return Packet{}, ErrBinary
	}
	i := 1
	if i < len(b) && b[i] == '/' {
		j := i
		for j < len(b) && b[j] != ',' {
			j++
		}
		if err := checkNamespace(b[i:j]); err != nil {
			return Packet{}, err
		}
		p.Namespace = string(b[i:j])
		if j < len(b) {
			j++ // the comma that ends the namespace
		}
		i = j
	}
	if i < len(b) && isDigit(b[i]) {
		j := i
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		id, err := parseAckID(b[i:j])
		if err != nil {
			return Packet{}, err
		}
		p.AckID = &id
		i = j
	}
	if i < len(b) {
		p.Data = json.RawMessage(b[i:])
	}
	if err := checkMessage(p); err != nil {
		return Packet{}, err
	}
	return p, nil
}

// checkMessage enforces what each Socket.IO packet type may carry.
func checkMessage(p Packet) error {
	switch p.Type {
	case TypeConnect:
		if p.AckID != nil {
			return malformed("CONNECT with an ack id")
		}
		if p.Data != nil && !isJSON(p.Data, '{') {
			return malformed("CONNECT data is not a JSON object")
		}
	case TypeDisconnect:
		if p.AckID != nil || p.Data != nil {
			return malformed("DISCONNECT carries data")
		}
	case TypeEvent:
		if !isJSON(p.Data, '[') {
			return malformed("EVENT data is not a JSON array")
		}
		return checkEventName(p.Data)
	case TypeAck:
		if p.AckID == nil {
			return malformed("ACK without an ack id")
		}
		if !isJSON(p.Data, '[') {
			return malformed("ACK data is not a JSON array")
		}
	case TypeConnectError:
		if p.AckID != nil {
			return malformed("CONNECT_ERROR with an ack id")
		}
		if !isJSON(p.Data, '{') && !isJSON(p.Data, '"') {
			return malformed("CONNECT_ERROR data is neither an object nor a string")
		}
	default:
		return malformed("unknown Socket.IO packet type %d", p.Type)
	}
	return nil
}

// checkEventName looks at the first item of a valid JSON array without
// decoding the rest: it must be a string that is not a reserved name.
func checkEventName(arr []byte) error {
	i := skipSpace(arr, 1)
	if i >= len(arr) || arr[i] == ']' {
		return malformed("EVENT without a name")
	}
	if arr[i] != '"' {
		return malformed("EVENT name is not a string")
	}
	end, escaped := i+1, false
	for end < len(arr) && arr[end] != '"' {
		if arr[end] == '\\' {
			escaped = true
			end++ // the escaped character cannot end the string
		}
		end++
	}
	if end >= len(arr) {
		return malformed("EVENT name is not terminated") // unreachable for valid JSON
	}
	if !escaped {
		if isReserved(string(arr[i+1 : end])) {
			return malformed("EVENT name %q is reserved", arr[i+1:end])
		}
		return nil
	}
	var name string
	if err := json.Unmarshal(arr[i:end+1], &name); err != nil {
		return malformed("EVENT name: %v", err)
	}
	if isReserved(name) {
		return malformed("EVENT name %q is reserved", name)
	}
	return nil
}

// checkNamespace accepts "/" followed by URL path characters, which is what
// socket.io-client derives a namespace from; the rest would not survive a
// round trip or is not from a real client.
func checkNamespace(nsp []byte) error {
	if len(nsp) > MaxNamespaceLen {
		return malformed("namespace longer than %d bytes", MaxNamespaceLen)
	}
	for _, c := range nsp[1:] {
		if !isPathChar(c) {
			return malformed("namespace has the character %q", c)
		}
	}
	return nil
}

// isPathChar reports whether c may appear in a URL path segment (RFC 3986
// pchar, plus "/"), minus the comma that terminates a namespace on the wire.
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', isDigit(c):
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ';', '=', ':', '@', '%', '/':
		return true
	}
	return false
}

// parseAckID reads a decimal ack id: no sign, no leading zero, at most MaxAckID.
func parseAckID(digits []byte) (int64, error) {
	if len(digits) > 1 && digits[0] == '0' {
		return 0, malformed("ack id %q has a leading zero", digits)
	}
	if len(digits) > 16 { // MaxAckID has 16 digits; more would overflow below
		return 0, malformed("ack id %q is too large", digits)
	}
	var id int64
	for _, d := range digits {
		id = id*10 + int64(d-'0')
	}
	if id > MaxAckID {
		return 0, malformed("ack id %d is too large", id)
	}
	return id, nil
}

// isJSON reports whether b is one valid JSON value starting with first (no
// leading space: the real client never sends one).
func isJSON(b []byte, first byte) bool {
	return len(b) > 0 && b[0] == first && json.Valid(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
