package wsconn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/gorilla/websocket"
)

// clientFrame is one masked client frame.
func clientFrame(op int, final bool, payload []byte) []byte {
	b0 := byte(op)
	if final {
		b0 |= 0x80
	}
	return rawFrame(b0, true, payload)
}

// rawFrame is a frame with the first byte b0 (FIN, RSV bits, opcode),
// masked or not.
func rawFrame(b0 byte, masked bool, payload []byte) []byte {
	out := []byte{b0, 0}
	switch n := len(payload); {
	case n < 126:
		out[1] = byte(n)
	case n < 1<<16:
		out[1] = 126
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out[1] = 127
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	out[1] |= 0x80
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key[:]...)
	start := len(out)
	out = append(out, payload...)
	maskBytes(key, out[start:])
	return out
}

// readerOutcome is what a reader made of a client's bytes: the data
// messages, in order, and how it stopped.
type readerOutcome struct {
	Messages []string // "<type>:<payload>"
	End      string   // "eof" (the bytes ran out), "close <code> <text>", or the error's text
}

// readAll runs a frameReader over in, fed in chunks of chunk bytes (all at
// once when chunk is 0), until an error, a close frame or the end of in.
func readAll(in []byte, limit int64, chunk int) readerOutcome {
	var out readerOutcome
	r := frameReader{limit: limit}
	for {
		f, ok, err := r.next()
		switch {
		case err != nil:
			out.End = err.Error()
			return out
		case ok && f.Op == websocket.CloseMessage:
			code, text, err := closeFrame(f.Payload)
			if err != nil {
				out.End = err.Error()
			} else {
				out.End = fmt.Sprintf("close %d %s", code, text)
			}
			return out
		case ok && (f.Op == websocket.PingMessage || f.Op == websocket.PongMessage):
		case ok:
			if mt, data, whole := r.message(f); whole {
				out.Messages = append(out.Messages, fmt.Sprintf("%d:%s", mt, data))
			}
		case len(in) == 0:
			out.End = "eof"
			return out
		default:
			r.release() // as a worker does before it re-arms: a partial frame stays
			space := r.space()
			n := min(len(space), len(in))
			if chunk > 0 {
				n = min(n, chunk)
			}
			copy(space, in[:n])
			r.filled(n)
			in = in[n:]
		}
	}
}

// hijacked is a ResponseWriter whose Hijack hands gorilla one end of a
// net.Pipe, so gorilla's own reader reads the test's bytes in process.
type hijacked struct {
	http.ResponseWriter
	conn net.Conn
}

func (h hijacked) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

// gorillaReads is what gorilla's server reader (the goroutine reader's)
// makes of the same bytes.
func gorillaReads(t testing.TB, in []byte, limit int64) readerOutcome {
	t.Helper()
	server, client := net.Pipe()
	defer client.Close()
	drained := make(chan struct{})
	go func() { // the client reads whatever the server writes
		defer close(drained)
		_, _ = io.Copy(io.Discard, client)
	}()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	up := websocket.Upgrader{ReadBufferSize: ReadBufferSize}
	ws, err := up.Upgrade(hijacked{httptest.NewRecorder(), server}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadLimit(limit)
	ws.SetPingHandler(func(string) error { return nil }) // its pong would race the pipe's close
	go func() {
		_, _ = client.Write(in) // returns once the server has read it all
		_ = client.Close()
	}()
	var out readerOutcome
	for {
		mt, data, err := ws.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
			out.End = "eof" // gorilla's name for an end of stream
		case errors.As(err, &ce):
			out.End = fmt.Sprintf("close %d %s", ce.Code, ce.Text)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe):
			out.End = "eof"
		case err != nil:
			out.End = err.Error()
		default:
			out.Messages = append(out.Messages, fmt.Sprintf("%d:%s", mt, data))
			continue
		}
		_ = server.Close()
		<-drained
		return out
	}
}

// TestFrameReader: the frames a client may send, and those it may not,
// table-driven; every case is also read by gorilla, which must agree.
func TestFrameReader(t *testing.T) {
	t.Parallel()
	text, bin, cont := websocket.TextMessage, websocket.BinaryMessage, opContinuation
	ping, pong, cls := websocket.PingMessage, websocket.PongMessage, websocket.CloseMessage
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	big := bytes.Repeat([]byte("x"), 300)
	tests := []struct {
		name string
		in   []byte
		want readerOutcome
	}{
		{"one text", clientFrame(text, true, []byte("hi")), readerOutcome{[]string{"1:hi"}, "eof"}},
		{"two in one write", cat(clientFrame(text, true, []byte("a")), clientFrame(bin, true, []byte("b"))),
			readerOutcome{[]string{"1:a", "2:b"}, "eof"}},
		{"empty", clientFrame(text, true, nil), readerOutcome{[]string{"1:"}, "eof"}},
		{"16-bit length", clientFrame(text, true, big[:200]), readerOutcome{[]string{"1:" + string(big[:200])}, "eof"}},
		{"fragments with control frames between", cat(clientFrame(text, false, []byte("ab")), clientFrame(ping, true, []byte("p")),
			clientFrame(cont, false, []byte("cd")), clientFrame(pong, true, nil), clientFrame(cont, true, []byte("ef"))),
			readerOutcome{[]string{"1:abcdef"}, "eof"}},
		{"partial frame", clientFrame(text, true, []byte("hello"))[:8], readerOutcome{nil, "eof"}},
		{"close with code", clientFrame(cls, true, websocket.FormatCloseMessage(1000, "bye")), readerOutcome{nil, "close 1000 bye"}},
		{"close without code", clientFrame(cls, true, nil), readerOutcome{nil, "close 1005 "}},
		{"close with a bad code", clientFrame(cls, true, []byte{0x03, 0xed}), // 1005
			readerOutcome{nil, "websocket: bad close code 1005"}},
		{"close with bad utf-8", clientFrame(cls, true, append(websocket.FormatCloseMessage(1000, ""), 0xff)),
			readerOutcome{nil, "websocket: invalid utf8 payload in close frame"}},
		{"unmasked", rawFrame(0x81, false, []byte("x")), readerOutcome{nil, "websocket: bad MASK"}},
		{"rsv bits", rawFrame(0xf1, true, []byte("x")), readerOutcome{nil, "websocket: RSV1 set, RSV2 set, RSV3 set"}},
		{"bad opcode", rawFrame(0x83, true, nil), readerOutcome{nil, "websocket: bad opcode 3"}},
		{"continuation first", clientFrame(cont, true, []byte("x")), readerOutcome{nil, "websocket: continuation after FIN"}},
		{"data inside a message", cat(clientFrame(text, false, []byte("a")), clientFrame(text, true, []byte("b"))),
			readerOutcome{nil, "websocket: data before FIN"}},
		{"control not final", clientFrame(ping, false, nil), readerOutcome{nil, "websocket: FIN not set on control"}},
		{"control too long", clientFrame(ping, true, big[:126]), readerOutcome{nil, "websocket: len > 125 for control"}},
		{"over the limit", clientFrame(text, true, big), readerOutcome{nil, "websocket: read limit exceeded"}},
		{"fragments over the limit", cat(clientFrame(text, false, big[:200]), clientFrame(cont, true, big[:57])),
			readerOutcome{nil, "websocket: read limit exceeded"}},
		{"messages before an error", cat(clientFrame(text, true, []byte("ok")), rawFrame(0x81, false, nil)),
			readerOutcome{[]string{"1:ok"}, "websocket: bad MASK"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range []int{0, 1, 3} {
				if got := readAll(tc.in, 256, chunk); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("chunks of %d: got %+v, want %+v", chunk, got, tc.want)
				}
			}
			if got := gorillaReads(t, tc.in, 256); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("gorilla: got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzFrameReader: whatever a client sends, the polled reader reads what
// gorilla's reader reads (the same messages, the same end), whichever
// pieces the bytes come in.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add(clientFrame(websocket.TextMessage, true, []byte("hello")), uint8(1))
	f.Add(bytes.Join([][]byte{clientFrame(websocket.TextMessage, false, []byte("he")),
		clientFrame(websocket.PingMessage, true, nil), clientFrame(opContinuation, true, []byte("llo"))}, nil), uint8(3))
	f.Add(clientFrame(websocket.CloseMessage, true, websocket.FormatCloseMessage(4000, "x")), uint8(0))
	f.Add(clientFrame(websocket.BinaryMessage, true, bytes.Repeat([]byte{1}, 200)), uint8(7))
	f.Add(rawFrame(0x82, true, make([]byte, 1<<16)), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		want := gorillaReads(t, in, 256)
		if got := readAll(in, 256, int(chunk)); !reflect.DeepEqual(got, want) {
			t.Fatalf("polled reader %+v, gorilla %+v", got, want)
		}
	})
}

// TestMaskBytes: the word-wise unmasking is the byte-wise XOR.
func TestMaskBytes(t *testing.T) {
	t.Parallel()
	key := [4]byte{1, 2, 3, 4}
	for n := range 20 {
		b := bytes.Repeat([]byte{0xaa}, n)
		maskBytes(key, b)
		for i := range b {
			if b[i] != 0xaa^key[i%4] {
				t.Fatalf("len %d: byte %d is %x", n, i, b[i])
			}
		}
	}
}

// TestFrameReaderGrowsWithData: a header that announces a large payload
// does not make the reader allocate it before the bytes arrive.
func TestFrameReaderGrowsWithData(t *testing.T) {
	t.Parallel()
	r := frameReader{limit: 1 << 20}
	f := clientFrame(websocket.BinaryMessage, true, make([]byte, 1<<20))
	space := r.space()
	r.filled(copy(space, f[:14])) // the header alone
	if _, ok, err := r.next(); ok || err != nil {
		t.Fatalf("a header alone: ok %v, err %v", ok, err)
	}
	if c := cap(r.space()); c > 4*readChunk {
		t.Fatalf("%d bytes of room for a 14-byte header", c)
	}
	for in := f[14:]; len(in) > 0; {
		n := copy(r.space(), in)
		r.filled(n)
		in = in[n:]
		if c := cap(r.buf); c > 2*(len(r.buf)+readChunk) {
			t.Fatalf("%d bytes of buffer for %d read", c, len(r.buf))
		}
	}
	if fr, ok, err := r.next(); !ok || err != nil || len(fr.Payload) != 1<<20 {
		t.Fatalf("the whole frame: %d bytes, ok %v, err %v", len(fr.Payload), ok, err)
	}
}
