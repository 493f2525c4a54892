package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// frameBytes is one server frame as written on the wire: unmasked unless
// mask.
func frameBytes(fin bool, op byte, payload []byte, mask bool) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	var m byte
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, m|byte(n))
	case n <= 0xffff:
		out = append(out, m|126, byte(n>>8), byte(n))
	default:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if mask {
		out = append(out, 1, 2, 3, 4)
	}
	return append(out, payload...)
}

// readAll feeds wire to a reader chunk bytes at a time and returns what it
// parsed, one "op:payload" per message or control frame, and the error
// that ended it.
func readAll(wire []byte, chunk int, limit int) ([]string, error) {
	p := newWSReader(nil)
	if limit > 0 {
		p.limit = limit
	}
	var got []string
	for len(wire) > 0 || p.buffered() > 0 {
		for {
			op, payload, ok, err := p.next()
			if err != nil {
				return got, err
			}
			if !ok {
				break
			}
			got = append(got, fmt.Sprintf("%d:%s", op, payload))
		}
		if len(wire) == 0 {
			break
		}
		buf := p.space()
		n := copy(buf, wire[:min(chunk, len(wire))])
		p.filled(n)
		wire = wire[n:]
		p.idle()
	}
	return got, nil
}

func TestWSReader(t *testing.T) {
	long := strings.Repeat("a", 300)
	huge := strings.Repeat("b", 70000)
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	tests := []struct {
		name  string
		wire  []byte
		limit int
		want  []string
		err   string // a part of the error; empty: none
	}{
		{name: "text", wire: frameBytes(true, opText, []byte("hello"), false), want: []string{"1:hello"}},
		{name: "binary", wire: frameBytes(true, opBinary, []byte{0, 1}, false), want: []string{"2:\x00\x01"}},
		{name: "empty text", wire: frameBytes(true, opText, nil, false), want: []string{"1:"}},
		{name: "16-bit length", wire: frameBytes(true, opText, []byte(long), false), want: []string{"1:" + long}},
		{name: "64-bit length", wire: frameBytes(true, opText, []byte(huge), false), want: []string{"1:" + huge}},
		{name: "several frames", wire: cat(frameBytes(true, opText, []byte("a"), false), frameBytes(true, opText, []byte("b"), false)),
			want: []string{"1:a", "1:b"}},
		{name: "fragments", wire: cat(frameBytes(false, opText, []byte("he"), false), frameBytes(false, opContinuation, []byte("ll"), false),
			frameBytes(true, opContinuation, []byte("o"), false)), want: []string{"1:hello"}},
		{name: "control frames between fragments", wire: cat(frameBytes(false, opBinary, []byte("x"), false),
			frameBytes(true, opPing, []byte("p"), false), frameBytes(true, opPong, nil, false),
			frameBytes(true, opContinuation, []byte("y"), false)), want: []string{"9:p", "10:", "2:xy"}},
		{name: "close", wire: frameBytes(true, opClose, []byte{0x03, 0xe8, 'b', 'y', 'e'}, false), want: []string{"8:\x03\xe8bye"}},
		{name: "at the limit", wire: frameBytes(true, opText, []byte("12345"), false), limit: 5, want: []string{"1:12345"}},
		{name: "over the limit", wire: frameBytes(true, opText, []byte("123456"), false), limit: 5, err: "over 5 bytes"},
		{name: "fragments over the limit", wire: cat(frameBytes(false, opText, []byte("123"), false),
			frameBytes(true, opContinuation, []byte("456"), false)), limit: 5, err: "over 5 bytes"},
		{name: "64-bit length over the limit", wire: []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, err: "over"},
		{name: "masked", wire: frameBytes(true, opText, []byte("x"), true), err: "masked"},
		{name: "reserved bit", wire: []byte{0x80 | 0x40 | opText, 0}, err: "reserved bits"},
		{name: "unknown opcode", wire: []byte{0x83, 0}, err: "unknown opcode 3"},
		{name: "unknown control opcode", wire: []byte{0x8B, 0}, err: "unknown opcode 11"},
		{name: "fragmented ping", wire: frameBytes(false, opPing, nil, false), err: "fragmented control frame"},
		{name: "long ping", wire: frameBytes(true, opPing, []byte(long[:126]), false), err: "control frame of 126 bytes"},
		{name: "stray continuation", wire: frameBytes(true, opContinuation, []byte("x"), false), err: "continuation frame outside"},
		{name: "message inside a message", wire: cat(frameBytes(false, opText, []byte("x"), false),
			frameBytes(true, opText, []byte("y"), false)), err: "new message"},
		{name: "incomplete header", wire: []byte{0x81}, want: nil},
		{name: "incomplete payload", wire: []byte{0x81, 5, 'a'}, want: nil},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 1 << 20} {
			t.Run(fmt.Sprintf("%s/chunk %d", tt.name, chunk), func(t *testing.T) {
				got, err := readAll(tt.wire, chunk, tt.limit)
				if tt.err != "" {
					if err == nil || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("error %v, want ErrProtocol with %q (read %q)", err, tt.err, got)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("read %q, want %q", got, tt.want)
				}
			})
		}
	}
}

// TestWSReaderBuffers: the reader holds no buffer once everything it read
// is parsed, returns pooled ones, and grows one for a frame larger than a
// read chunk.
func TestWSReaderBuffers(t *testing.T) {
	big := frameBytes(true, opText, bytes.Repeat([]byte("z"), 3*readChunk), false)
	got, err := readAll(append(big, frameBytes(true, opText, []byte("after"), false)...), readChunk, 0)
	if err != nil || len(got) != 2 || len(got[0]) != 2+3*readChunk || got[1] != "1:after" {
		t.Fatalf("read %d messages (%v)", len(got), err)
	}
	p := newWSReader(nil)
	p.filled(copy(p.space(), frameBytes(true, opText, []byte("x"), false)))
	if _, _, ok, _ := p.next(); !ok {
		t.Fatal("no message")
	}
	p.idle()
	if p.buf != nil {
		t.Fatal("the reader kept a buffer with nothing unparsed")
	}
}

func TestClientFrame(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 125, 126, 127, 1000, 0xffff, 0x10000, 0x10001} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		orig := bytes.Clone(payload)
		frame := clientFrame(opText, payload)
		if !bytes.Equal(payload, orig) {
			t.Fatalf("%d bytes: clientFrame changed its argument", n)
		}
		if frame[0] != 0x80|opText || frame[1]&0x80 == 0 {
			t.Fatalf("%d bytes: header %x: not a final masked text frame", n, frame[:2])
		}
		hl := 2
		switch frame[1] & 0x7f {
		case 126:
			hl = 4
			if got := int(binary.BigEndian.Uint16(frame[2:])); got != n {
				t.Fatalf("length %d, want %d", got, n)
			}
		case 127:
			hl = 10
			if got := int(binary.BigEndian.Uint64(frame[2:])); got != n {
				t.Fatalf("length %d, want %d", got, n)
			}
		default:
			if got := int(frame[1] & 0x7f); got != n {
				t.Fatalf("length %d, want %d", got, n)
			}
		}
		key := frame[hl : hl+4]
		body := frame[hl+4:]
		if len(body) != n {
			t.Fatalf("%d bytes: body of %d", n, len(body))
		}
		for i := range body {
			if body[i]^key[i%4] != orig[i] {
				t.Fatalf("%d bytes: byte %d unmasks to %d, want %d", n, i, body[i]^key[i%4], orig[i])
			}
		}
	}
}

// FuzzWSReader: any bytes, read whole or one at a time, give the same
// messages and the same verdict, and never a panic.
func FuzzWSReader(f *testing.F) {
	f.Add(frameBytes(true, opText, []byte("hello"), false))
	f.Add(append(frameBytes(false, opText, []byte("he"), false), frameBytes(true, opContinuation, []byte("llo"), false)...))
	f.Add([]byte{0x81, 126, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{0x88, 2, 3, 0xe8})
	f.Fuzz(func(t *testing.T, wire []byte) {
		whole, errWhole := readAll(wire, len(wire)+1, 1<<16)
		bytewise, errBytes := readAll(wire, 1, 1<<16)
		if fmt.Sprint(whole) != fmt.Sprint(bytewise) || (errWhole == nil) != (errBytes == nil) {
			t.Fatalf("whole: %q %v; byte by byte: %q %v", whole, errWhole, bytewise, errBytes)
		}
		if errWhole != nil && !errors.Is(errWhole, ErrProtocol) {
			t.Fatalf("error %v does not wrap ErrProtocol", errWhole)
		}
	})
}
