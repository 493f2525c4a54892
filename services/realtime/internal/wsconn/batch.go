package wsconn

import (
	"encoding/binary"
	"sync"
)

// The writer frames the data and keepalive frames it takes at once into
// one buffer and writes it to the socket with one write, instead of one
// write per frame through gorilla's writer (which has no batching). This
// is safe because:
//   - the writer is the only one writing data frames (WriteNow is for the
//     handshake, before StartWriter), so no data frame of gorilla's can
//     fall between them;
//   - gorilla's own control frames (the pong that answers a client's ping
//     and the close that answers the client's close, written from the
//     reader, and the writer's close frame) are written with one
//     net.Conn Write each, and a net.Conn writes each Write whole,
//     holding its write lock, so a control frame lands between two
//     batches, never inside a frame; a polled connection's control
//     frames and batches are also written under ctl.mu, which an inline
//     write (inline.go) holds until its frame is whole;
//   - permessage-deflate is never negotiated (the upgrader does not enable
//     compression), so every frame is sent as it is; an upgrader that
//     enabled it would need the frames compressed here.

// maxBatchBytes is where the writer flushes a batch before framing more:
// a long queue of large frames is written in writes of about this size.
const maxBatchBytes = 64 << 10

// batches lends the writers their buffers: an idle connection holds none.
var batches = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writeCalls lends the writers of polled connections their system call
// state (writeOut), for the same reason.
var writeCalls = sync.Pool{New: func() any { return newSysCalls() }}

func getBatch() *[]byte { return batches.Get().(*[]byte) }

// putBatch returns a buffer to the pool, unless a burst grew it past what
// is worth keeping.
func putBatch(b *[]byte) {
	if cap(*b) > 2*maxBatchBytes {
		return
	}
	*b = (*b)[:0]
	batches.Put(b)
}

// appendFrame appends one final, unmasked server frame (RFC 6455 §5.2) of
// the given opcode.
func appendFrame(b []byte, opcode int, payload []byte) []byte {
	b = append(b, 0x80|byte(opcode))
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}
