package protocol

import (
	"hash/fnv"
	"strconv"
)

// DocumentHash is the hash sent with connected, sync, code-ack and
// code-update: FNV-1a 64-bit over the document's UTF-8 bytes, as 16
// lowercase hex digits. A client hashes the text it holds at that version
// and resyncs when the two differ, so a divergence is detected rather than
// kept. FNV-1a is not a cryptographic hash: it detects accidents (a client
// bug, a lost update), not forgeries, and needs no library in a browser.
func DocumentHash(code string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(code)) // never fails
	var buf [16]byte
	b := strconv.AppendUint(buf[:0], h.Sum64(), 16)
	out := make([]byte, 16)
	copy(out[16-len(b):], b)
	for i := 0; i < 16-len(b); i++ {
		out[i] = '0'
	}
	return string(out)
}
