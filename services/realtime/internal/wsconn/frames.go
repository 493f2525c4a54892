package wsconn

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// The polled reader (polled.go) reads client frames itself, without
// blocking, so it parses them here: RFC 6455 server side, with exactly
// gorilla's checks and answers (gorilla's Conn.advanceFrame), so a client
// sees the same whichever reader serves it (FuzzFrameReader compares the
// two on the same bytes).

const (
	opContinuation = 0
	maxControlLen  = 125
	// readChunk is the buffer a polled read lends a connection while bytes
	// are there; an idle connection holds none.
	readChunk = 4096
	// maxKept is the most of a partial frame release keeps out of a chunk.
	maxKept = 256
)

// protocolError is a client frame that breaks RFC 6455: the connection
// answers close 1002 with Text and ends.
type protocolError struct{ Text string }

func (e *protocolError) Error() string { return "websocket: " + e.Text }

// errTooBig is a data message over the read limit: close 1009, then the
// end. errLengthOverflow is gorilla's ErrReadLimit without a close frame
// (a length that overflows an int64).
var (
	errTooBig         = errors.New("websocket: read limit exceeded")
	errLengthOverflow = errors.New("websocket: read limit exceeded") // gorilla's ErrReadLimit, without its close frame
)

// frame is one parsed client frame; Payload is unmasked and aliases the
// reader's buffer until the next call.
type frame struct {
	Op      int
	Final   bool
	Payload []byte
}

// frameReader parses the client frames of one connection from the bytes
// read so far and assembles data messages from their frames. Its buffer
// exists only while bytes wait in it (a partial frame, or frames after
// the handshake's).
type frameReader struct {
	buf   []byte // read, not parsed yet: buf[off:]
	off   int
	pool  *[]byte // where buf came from in readBufs; nil once it grew
	limit int64   // the largest data message; 0 is none

	inMessage bool // a fragmented data message is open (gorilla's !readFinal)
	msgType   int
	msgLen    int64
	msg       []byte // the open message's payload so far
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, readChunk); return &b }}

// space returns room to read into at the end of the buffer: at least
// readChunk/4 bytes, and for a frame larger than the buffer, room for more
// of it, growing with what has arrived (a header alone never makes it
// allocate the whole length it announces, as gorilla's reader does not).
func (r *frameReader) space() []byte {
	if r.pool == nil && cap(r.buf) < readChunk {
		// None yet, or the few bytes release kept: read into a chunk.
		r.pool = readBufs.Get().(*[]byte)
		kept := r.buf[r.off:]
		r.buf, r.off = append((*r.pool)[:0], kept...), 0
	}
	if r.off > 0 && r.off == len(r.buf) {
		r.buf, r.off = r.buf[:0], 0
	}
	need := readChunk / 4
	if total := r.pendingFrame(); total > 0 {
		buffered := len(r.buf) - r.off
		need = max(need, min(total-buffered, max(buffered, readChunk)))
	}
	if cap(r.buf)-len(r.buf) < need {
		if r.off > 0 {
			n := copy(r.buf, r.buf[r.off:])
			r.buf, r.off = r.buf[:n], 0
		}
		if cap(r.buf)-len(r.buf) < need {
			nb := make([]byte, len(r.buf), len(r.buf)+max(need, readChunk))
			copy(nb, r.buf)
			r.buf, r.pool = nb, nil
		}
	}
	return r.buf[len(r.buf):cap(r.buf)]
}

// filled records n bytes read into space().
func (r *frameReader) filled(n int) { r.buf = r.buf[:len(r.buf)+n] }

// buffered reports bytes read and not parsed.
func (r *frameReader) buffered() int { return len(r.buf) - r.off }

// release gives the buffer back once nothing waits in it. A few bytes
// of a frame still to come (a slow client's, or a slowloris's) are kept in
// a slice of their own rather than in a whole chunk.
func (r *frameReader) release() {
	n := r.buffered()
	switch {
	case r.buf == nil, r.pool == nil && n > 0:
		return
	case n > maxKept:
		return
	}
	var kept []byte
	if n > 0 {
		kept = append([]byte(nil), r.buf[r.off:]...)
	}
	if r.pool != nil {
		readBufs.Put(r.pool)
	}
	r.buf, r.off, r.pool = kept, 0, nil
}

// pendingFrame is the size of the frame at the start of the buffer, once
// its header is there (0 otherwise).
func (r *frameReader) pendingFrame() int {
	p := r.buf[r.off:]
	if len(p) < 2 {
		return 0
	}
	n, length, ok := headerLen(p)
	if !ok || length > math.MaxInt32 {
		return 0
	}
	return n + int(length)
}

// headerLen returns the size of the header of the frame starting p (a
// client frame: masked) and its payload length, once the length is there.
func headerLen(p []byte) (n int, length uint64, ok bool) {
	switch l := p[1] & 0x7f; l {
	case 126:
		if len(p) < 4 {
			return 0, 0, false
		}
		return 8, uint64(binary.BigEndian.Uint16(p[2:])), true
	case 127:
		if len(p) < 10 {
			return 0, 0, false
		}
		return 14, binary.BigEndian.Uint64(p[2:]), true
	default:
		return 6, uint64(l), true
	}
}

// next parses the next whole frame of the buffer: ok false when it is not
// all there yet. An error ends the connection (*protocolError, errTooBig,
// errLengthOverflow); the checks and their order are gorilla's.
func (r *frameReader) next() (f frame, ok bool, err error) {
	p := r.buf[r.off:]
	if len(p) < 2 {
		return frame{}, false, nil
	}
	op := int(p[0] & 0xf)
	final := p[0]&0x80 != 0
	var errs []string
	if p[0]&0x40 != 0 {
		errs = append(errs, "RSV1 set")
	}
	if p[0]&0x20 != 0 {
		errs = append(errs, "RSV2 set")
	}
	if p[0]&0x10 != 0 {
		errs = append(errs, "RSV3 set")
	}
	switch op {
	case websocket.CloseMessage, websocket.PingMessage, websocket.PongMessage:
		if p[1]&0x7f > maxControlLen {
			errs = append(errs, "len > 125 for control")
		}
		if !final {
			errs = append(errs, "FIN not set on control")
		}
	case websocket.TextMessage, websocket.BinaryMessage:
		if r.inMessage {
			errs = append(errs, "data before FIN")
		}
	case opContinuation:
		if !r.inMessage {
			errs = append(errs, "continuation after FIN")
		}
	default:
		errs = append(errs, "bad opcode "+strconv.Itoa(op))
	}
	if p[1]&0x80 == 0 {
		errs = append(errs, "bad MASK")
	}
	if len(errs) > 0 {
		return frame{}, false, &protocolError{Text: strings.Join(errs, ", ")}
	}
	hlen, length, ok := headerLen(p)
	if !ok {
		return frame{}, false, nil
	}
	if int64(length) < 0 {
		return frame{}, false, errLengthOverflow
	}
	if len(p) < hlen {
		return frame{}, false, nil
	}
	data := op != websocket.CloseMessage && op != websocket.PingMessage && op != websocket.PongMessage
	if data {
		total := int64(length)
		if r.inMessage {
			total += r.msgLen
		}
		if total < 0 {
			return frame{}, false, errLengthOverflow
		}
		if r.limit > 0 && total > r.limit {
			return frame{}, false, errTooBig
		}
	}
	if uint64(len(p)-hlen) < length {
		return frame{}, false, nil
	}
	payload := p[hlen : hlen+int(length)]
	maskBytes([4]byte(p[hlen-4:hlen]), payload)
	r.off += hlen + int(length)
	if data {
		if op != opContinuation {
			r.msgType, r.msgLen = op, 0
		}
		r.msgLen += int64(length)
		r.inMessage = !final
	}
	return frame{Op: op, Final: final, Payload: payload}, true, nil
}

// message adds a data frame to the open message and returns the whole
// message once its last frame is there, in a slice of its own (the
// handler may keep it).
func (r *frameReader) message(f frame) (mt int, data []byte, done bool) {
	if f.Final && r.msg == nil {
		data = make([]byte, len(f.Payload))
		copy(data, f.Payload)
		return r.msgType, data, true
	}
	if r.msg == nil {
		r.msg = make([]byte, 0, len(f.Payload))
	}
	r.msg = append(r.msg, f.Payload...)
	if !f.Final {
		return 0, nil, false
	}
	data, r.msg = r.msg, nil
	return r.msgType, data, true
}

// maskBytes unmasks b in place with a client frame's key.
func maskBytes(key [4]byte, b []byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

// closeFrame reads a client's close frame as gorilla does: the code (1005
// when there is none) and text, or a protocol error for a code a peer may
// not send or text that is not UTF-8.
func closeFrame(payload []byte) (code int, text string, err error) {
	code = websocket.CloseNoStatusReceived
	if len(payload) >= 2 {
		code = int(binary.BigEndian.Uint16(payload))
		if !validReceivedCloseCode(code) {
			return 0, "", &protocolError{Text: "bad close code " + strconv.Itoa(code)}
		}
		text = string(payload[2:])
		if !utf8.ValidString(text) {
			return 0, "", &protocolError{Text: "invalid utf8 payload in close frame"}
		}
	}
	return code, text, nil
}

// validReceivedCloseCode is gorilla's isValidReceivedCloseCode.
func validReceivedCloseCode(code int) bool {
	switch code {
	case websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseProtocolError,
		websocket.CloseUnsupportedData, websocket.CloseInvalidFramePayloadData, websocket.ClosePolicyViolation,
		websocket.CloseMessageTooBig, websocket.CloseMandatoryExtension, websocket.CloseInternalServerErr,
		websocket.CloseServiceRestart, websocket.CloseTryAgainLater:
		return true
	}
	return code >= 3000 && code <= 4999
}
