package sio

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Engine.IO frames without data, as the server sends them. Convert with
// []byte(...) at the write.
const (
	// PingFrame is the server's heartbeat; the client answers PongFrame
	// within the pingTimeout of the open packet, or the server drops it.
	PingFrame = "2"
	// PongFrame is the client's answer to PingFrame.
	PongFrame = "3"
	// CloseFrame ends the Engine.IO session.
	CloseFrame = "1"
	// NoopFrame does nothing.
	NoopFrame = "6"
)

// Protocol is the Engine.IO protocol revision supported, the EIO query value.
const Protocol = "4"

// Path is where Socket.IO clients connect by default.
const Path = "/socket.io/"

// Sentinel errors of CheckHandshake.
var (
	// ErrVersion: the client speaks another Engine.IO revision (a
	// socket.io-client 2.x sends EIO=3).
	ErrVersion = errors.New("sio: unsupported Engine.IO protocol version")
	// ErrTransport: the client asked for a transport other than websocket.
	ErrTransport = errors.New("sio: unsupported transport")
)

// CheckHandshake checks the Engine.IO query of GET /socket.io/: EIO must be 4
// and transport websocket, since we serve WebSocket directly, without HTTP
// long-polling or an upgrade. The error says what to change, for a 400 body.
func CheckHandshake(q url.Values) error {
	if v := q.Get("EIO"); v != Protocol {
		return fmt.Errorf("%w: EIO=%q, only EIO=4 (socket.io-client 4.x) is supported", ErrVersion, v)
	}
	if t := q.Get("transport"); t != "websocket" {
		return fmt.Errorf("%w: transport=%q, only transport=websocket is supported; "+
			"connect with io(url, {transports: [\"websocket\"]})", ErrTransport, t)
	}
	if q.Get("sid") != "" {
		// A sid is only sent when upgrading an existing polling session, which never exists here.
		return fmt.Errorf("%w: sid is only valid for a polling upgrade, which is not supported", ErrTransport)
	}
	return nil
}

// OpenPacket returns the Engine.IO handshake the server sends first:
// 0{"sid":"...","upgrades":[],"pingInterval":ms,"pingTimeout":ms,"maxPayload":n}.
// The client expects a ping every pingInterval and gives up on the server
// when none came for pingInterval+pingTimeout; maxPayload bounds what it sends.
func OpenPacket(sid string, pingInterval, pingTimeout time.Duration, maxPayload int) []byte {
	b := make([]byte, 0, 96+len(sid))
	b = append(b, '0'+EIOOpen)
	b = append(b, `{"sid":`...)
	b = appendString(b, sid)
	b = append(b, `,"upgrades":[],"pingInterval":`...)
	b = strconv.AppendInt(b, pingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, pingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, int64(maxPayload), 10)
	return append(b, '}')
}
