package sio_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pairpad/pairpad/services/realtime/sio"
)

// FuzzParse checks that Parse never panics, that whatever it accepts Encode
// writes back to a frame that parses to the same packet, and that accepted
// EVENTs survive Event and EncodeEvent. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`40{"token":"t"}`, `42["code-update",{"a":1}]`, `42/admin,13["evt"]`, `431[]`, `2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, err := sio.Parse(frame)
		if err != nil {
			if !errors.Is(err, sio.ErrMalformed) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrMalformed", frame, err)
			}
			return
		}
		enc := sio.Encode(p)
		p2, err := sio.Parse(enc)
		if err != nil {
			t.Fatalf("Parse(%q) = %s, but its encoding %q does not parse: %v", frame, show(p), enc, err)
		}
		if !samePacket(p, p2) {
			t.Fatalf("Parse(%q) = %s, Parse(Encode) = %s", frame, show(p), show(p2))
		}
		if enc2 := sio.Encode(p2); !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode is not stable: %q then %q", enc, enc2)
		}
		if p.EIO != sio.EIOMessage || p.Type != sio.TypeEvent {
			return
		}
		name, args, err := sio.Event(p)
		if err != nil {
			t.Fatalf("Parse accepted %q but Event refused it: %v", frame, err)
		}
		if len(args) > 1 {
			return
		}
		var arg []byte
		if len(args) == 1 {
			arg = args[0]
		}
		again := sio.EncodeEvent(p.Namespace, name, arg)
		q, err := sio.Parse(again)
		if err != nil {
			t.Fatalf("EncodeEvent(%q, %q, %q) = %q does not parse: %v", p.Namespace, name, arg, again, err)
		}
		name2, args2, err := sio.Event(q)
		if err != nil || name2 != name || len(args2) != len(args) || (len(args) == 1 && !bytes.Equal(args2[0], arg)) {
			t.Fatalf("EncodeEvent round trip of %q: got %q %q %v, want %q %q", frame, name2, args2, err, name, args)
		}
	})
}
