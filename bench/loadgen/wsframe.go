package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// The generator's own WebSocket framing (RFC 6455), the client side only:
// it parses what a server sends (unmasked text, binary and continuation
// frames; ping, pong and close) straight out of the bytes a read returned,
// several frames per read when they came together, and writes masked
// client frames in one buffer, so a connection reads and writes its socket
// itself (see Conn) instead of through gorilla's reader and writer.

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxMessage bounds a message the generator accepts (a document's sync is
// the largest): a larger one ends the connection with ErrProtocol.
const maxMessage = 64 << 20

// maxHeader is the longest client frame header: 2 bytes, a 64-bit length
// and the masking key.
const maxHeader = 14

// readChunk is the size of the buffers a connection reads into, lent by a
// pool while a read is in progress or a frame is incomplete.
const readChunk = 8 << 10

// ErrProtocol wraps every violation of the WebSocket protocol by a server:
// the connection ends with it.
var ErrProtocol = errors.New("websocket: protocol error")

// wsReader parses server frames out of buf[r:w]. A data message (text or
// binary, fragmented or not) is returned whole; control frames are returned
// as they come, also between the fragments of a message.
type wsReader struct {
	pool  *sync.Pool // of *[]byte of readChunk bytes
	buf   []byte     // nil while nothing is buffered
	r, w  int
	limit int

	msg    []byte // the fragments of a message so far
	msgOp  byte   // its opcode, 0 when no message is fragmented
	pooled bool   // buf came from pool
}

func newWSReader(pool *sync.Pool) *wsReader {
	return &wsReader{pool: pool, limit: maxMessage}
}

// space makes room to read into and returns buf[w:]: a pooled buffer when
// none is held, the bytes not yet parsed moved to the front, and a larger
// buffer when the frame being read does not fit.
func (p *wsReader) space() []byte {
	if p.buf == nil {
		if p.pool != nil {
			p.buf, p.pooled = (*p.pool.Get().(*[]byte))[:readChunk], true
		} else {
			p.buf = make([]byte, readChunk)
		}
		p.r, p.w = 0, 0
	}
	if p.w < len(p.buf) {
		return p.buf[p.w:]
	}
	need := p.w - p.r
	if n := p.frameLen(); n > need {
		need = n
	}
	n := p.w - p.r
	if need < len(p.buf) && p.r > 0 {
		copy(p.buf, p.buf[p.r:p.w])
	} else {
		grown := make([]byte, max(2*len(p.buf), need))
		copy(grown, p.buf[p.r:p.w])
		p.release()
		p.buf = grown
	}
	p.r, p.w = 0, n
	return p.buf[p.w:]
}

// filled records n bytes read into the space returned by space.
func (p *wsReader) filled(n int) { p.w += n }

// idle returns the buffer to the pool when it holds nothing unparsed, so a
// connection between frames holds no buffer.
func (p *wsReader) idle() {
	if p.buf != nil && p.r == p.w {
		p.release()
	}
}

func (p *wsReader) release() {
	if p.pooled && p.pool != nil {
		b := p.buf[:0]
		p.pool.Put(&b)
	}
	p.buf, p.pooled, p.r, p.w = nil, false, 0, 0
}

// buffered is how many bytes are read but not parsed.
func (p *wsReader) buffered() int { return p.w - p.r }

// frameLen is the full length of the frame at buf[r:] once its header is
// buffered, else 0.
func (p *wsReader) frameLen() int {
	b := p.buf[p.r:p.w]
	if len(b) < 2 {
		return 0
	}
	switch n := int(b[1] & 0x7f); n {
	case 126:
		if len(b) < 4 {
			return 0
		}
		return 4 + int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0
		}
		n := binary.BigEndian.Uint64(b[2:])
		if n > uint64(p.limit) {
			return 0 // next refuses it
		}
		return 10 + int(n)
	default:
		return 2 + n
	}
}

// next returns the next message or control frame, ok false when more bytes
// are needed. The payload points into the reader's buffers: it is valid
// until the next call. A protocol violation is an error wrapping
// ErrProtocol.
func (p *wsReader) next() (op byte, payload []byte, ok bool, err error) {
	for {
		b := p.buf[p.r:p.w]
		if len(b) < 2 {
			return 0, nil, false, nil
		}
		fin, op := b[0]&0x80 != 0, b[0]&0x0f
		if b[0]&0x70 != 0 {
			return 0, nil, false, fmt.Errorf("%w: reserved bits %#x set (no extension was negotiated)", ErrProtocol, b[0]&0x70)
		}
		if b[1]&0x80 != 0 {
			return 0, nil, false, fmt.Errorf("%w: a masked frame from the server", ErrProtocol)
		}
		n, hl := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return 0, nil, false, nil
			}
			n, hl = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return 0, nil, false, nil
			}
			n, hl = binary.BigEndian.Uint64(b[2:]), 10
		}
		switch op {
		case opClose, opPing, opPong:
			if !fin {
				return 0, nil, false, fmt.Errorf("%w: a fragmented control frame (opcode %d)", ErrProtocol, op)
			}
			if n > 125 {
				return 0, nil, false, fmt.Errorf("%w: a control frame of %d bytes (at most 125)", ErrProtocol, n)
			}
		case opText, opBinary:
			if p.msgOp != 0 {
				return 0, nil, false, fmt.Errorf("%w: a new message (opcode %d) inside a fragmented one", ErrProtocol, op)
			}
		case opContinuation:
			if p.msgOp == 0 {
				return 0, nil, false, fmt.Errorf("%w: a continuation frame outside a message", ErrProtocol)
			}
		default:
			return 0, nil, false, fmt.Errorf("%w: unknown opcode %d", ErrProtocol, op)
		}
		if n > uint64(p.limit) || uint64(len(p.msg))+n > uint64(p.limit) {
			return 0, nil, false, fmt.Errorf("%w: a message over %d bytes", ErrProtocol, p.limit)
		}
		total := hl + int(n)
		if len(b) < total {
			return 0, nil, false, nil
		}
		payload = b[hl:total]
		p.r += total
		switch {
		case op >= opClose:
			return op, payload, true, nil
		case op != opContinuation && fin:
			return op, payload, true, nil
		case op != opContinuation:
			p.msgOp, p.msg = op, append(p.msg[:0], payload...)
		default:
			p.msg = append(p.msg, payload...)
			if fin {
				op, payload = p.msgOp, p.msg
				p.msgOp, p.msg = 0, nil // the caller holds the message until its next call
				return op, payload, true, nil
			}
		}
	}
}

// closeError reads a close frame's payload as gorilla did: no payload is
// 1005, one byte is a protocol error.
func closeError(payload []byte) error {
	switch {
	case len(payload) == 0:
		return &websocket.CloseError{Code: websocket.CloseNoStatusReceived}
	case len(payload) == 1:
		return fmt.Errorf("%w: a close frame of one byte", ErrProtocol)
	case !utf8.Valid(payload[2:]):
		return fmt.Errorf("%w: a close frame's reason is not UTF-8", ErrProtocol)
	}
	return &websocket.CloseError{Code: int(binary.BigEndian.Uint16(payload)), Text: string(payload[2:])}
}

// closeEcho is the close frame that answers a server's: the same code, none
// when it gave none.
func closeEcho(payload []byte) []byte {
	if len(payload) < 2 {
		return nil
	}
	return payload[:2:2]
}

// headroom is where a frame built in place starts: room for the longest
// header before it (see clientFrameAt).
func headroom(size int) []byte { return make([]byte, maxHeader, maxHeader+size) }

// clientFrameAt turns buf, maxHeader bytes of headroom followed by a
// payload, into one masked client frame of opcode op in place and returns
// it (a suffix of buf).
func clientFrameAt(buf []byte, op byte) []byte {
	payload := buf[maxHeader:]
	n := len(payload)
	hl := 6
	switch {
	case n > 0xffff:
		hl = 14
	case n > 125:
		hl = 8
	}
	frame := buf[maxHeader-hl:]
	frame[0] = 0x80 | op
	switch hl {
	case 6:
		frame[1] = 0x80 | byte(n)
	case 8:
		frame[1] = 0x80 | 126
		binary.BigEndian.PutUint16(frame[2:], uint16(n))
	default:
		frame[1] = 0x80 | 127
		binary.BigEndian.PutUint64(frame[2:], uint64(n))
	}
	key := rand.Uint32()
	binary.LittleEndian.PutUint32(frame[hl-4:], key)
	maskBytes(payload, key)
	return frame
}

// clientFrame returns payload as one masked client frame of opcode op,
// leaving payload as it was.
func clientFrame(op byte, payload []byte) []byte {
	buf := append(headroom(len(payload)), payload...)
	return clientFrameAt(buf, op)
}

// maskBytes XORs b with the masking key whose bytes, in the order they are
// on the wire, are key's little-endian bytes; eight bytes at a time.
func maskBytes(b []byte, key uint32) {
	k8 := uint64(key) | uint64(key)<<32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k8)
	}
	for ; i < len(b); i++ {
		b[i] ^= byte(key >> (8 * (i & 3)))
	}
}
