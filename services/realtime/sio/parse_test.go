package sio_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/services/realtime/sio"
)

func id(n int64) *int64 { return &n }

// TestParse covers every frame a socket.io-client 4.x sends (captured with
// the npm client in realclient_test.go) and every server frame we encode.
func TestParse(t *testing.T) {
	tests := []struct {
		frame string
		want  sio.Packet
	}{
		// Engine.IO packets.
		{`0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
			sio.Packet{EIO: sio.EIOOpen, Data: []byte(`{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)}},
		{`1`, sio.Packet{EIO: sio.EIOClose}},
		{`2`, sio.Packet{EIO: sio.EIOPing}},
		{`3`, sio.Packet{EIO: sio.EIOPong}},
		{`5`, sio.Packet{EIO: sio.EIOUpgrade}},
		{`6`, sio.Packet{EIO: sio.EIONoop}},
		// CONNECT, as the client sends it and as the server answers.
		{`40`, sio.Packet{EIO: 4, Type: sio.TypeConnect, Namespace: "/"}},
		{`40{"token":"t"}`, sio.Packet{EIO: 4, Type: sio.TypeConnect, Namespace: "/", Data: []byte(`{"token":"t"}`)}},
		{`40/admin,`, sio.Packet{EIO: 4, Type: sio.TypeConnect, Namespace: "/admin"}},
		{`40/admin`, sio.Packet{EIO: 4, Type: sio.TypeConnect, Namespace: "/admin"}},
		{`40/admin,{"token":"t"}`, sio.Packet{EIO: 4, Type: sio.TypeConnect, Namespace: "/admin", Data: []byte(`{"token":"t"}`)}},
		{`40/,{}`, sio.Packet{EIO: 4, Type: sio.TypeConnect, Namespace: "/", Data: []byte(`{}`)}},
		{`40{"sid":"x"}`, sio.Packet{EIO: 4, Type: sio.TypeConnect, Namespace: "/", Data: []byte(`{"sid":"x"}`)}},
		// DISCONNECT.
		{`41`, sio.Packet{EIO: 4, Type: sio.TypeDisconnect, Namespace: "/"}},
		{`41/admin,`, sio.Packet{EIO: 4, Type: sio.TypeDisconnect, Namespace: "/admin"}},
		// EVENT.
		{`42["code-update",{"a":1}]`, sio.Packet{EIO: 4, Type: sio.TypeEvent, Namespace: "/", Data: []byte(`["code-update",{"a":1}]`)}},
		{`42["sync"]`, sio.Packet{EIO: 4, Type: sio.TypeEvent, Namespace: "/", Data: []byte(`["sync"]`)}},
		{`42[ "sync" ]`, sio.Packet{EIO: 4, Type: sio.TypeEvent, Namespace: "/", Data: []byte(`[ "sync" ]`)}},
		{`420["sync"]`, sio.Packet{EIO: 4, Type: sio.TypeEvent, Namespace: "/", AckID: id(0), Data: []byte(`["sync"]`)}},
		{`4213["evt",1,"x"]`, sio.Packet{EIO: 4, Type: sio.TypeEvent, Namespace: "/", AckID: id(13), Data: []byte(`["evt",1,"x"]`)}},
		{`42/admin,13["evt"]`, sio.Packet{EIO: 4, Type: sio.TypeEvent, Namespace: "/admin", AckID: id(13), Data: []byte(`["evt"]`)}},
		{`429007199254740991["e"]`, sio.Packet{EIO: 4, Type: sio.TypeEvent, Namespace: "/", AckID: id(sio.MaxAckID), Data: []byte(`["e"]`)}},
		{`42["\u0063onnected 😀"]`, sio.Packet{EIO: 4, Type: sio.TypeEvent, Namespace: "/", Data: []byte(`["\u0063onnected 😀"]`)}},
		{`42["connected"]`, sio.Packet{EIO: 4, Type: sio.TypeEvent, Namespace: "/", Data: []byte(`["connected"]`)}},
		// ACK.
		{`431[]`, sio.Packet{EIO: 4, Type: sio.TypeAck, Namespace: "/", AckID: id(1), Data: []byte(`[]`)}},
		{`43/admin,7[true,null]`, sio.Packet{EIO: 4, Type: sio.TypeAck, Namespace: "/admin", AckID: id(7), Data: []byte(`[true,null]`)}},
		// CONNECT_ERROR.
		{`44{"message":"m","data":{"error":"UNAUTHORIZED"}}`, sio.Packet{EIO: 4, Type: sio.TypeConnectError, Namespace: "/", Data: []byte(`{"message":"m","data":{"error":"UNAUTHORIZED"}}`)}},
		{`44"Invalid namespace"`, sio.Packet{EIO: 4, Type: sio.TypeConnectError, Namespace: "/", Data: []byte(`"Invalid namespace"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			got, err := sio.Parse([]byte(tt.frame))
			if err != nil {
				t.Fatalf("Parse(%s): %v", tt.frame, err)
			}
			if !samePacket(got, tt.want) {
				t.Fatalf("Parse(%s) = %s, want %s", tt.frame, show(got), show(tt.want))
			}
			if enc := sio.Encode(got); !bytes.Equal(enc, []byte(canonical(tt.frame))) {
				t.Fatalf("Encode(Parse(%s)) = %s, want %s", tt.frame, enc, canonical(tt.frame))
			}
		})
	}
}

// canonical is the frame Encode writes for a parsed frame: the namespace
// always ends with a comma, and "/" is left out.
func canonical(frame string) string {
	switch frame {
	case `40/admin`:
		return `40/admin,`
	case `40/,{}`:
		return `40{}`
	}
	return frame
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, frame string
		binary      bool
	}{
		{"empty", ``, false},
		{"unknown EIO type", `7`, false},
		{"non-digit EIO type", `x`, false},
		{"open without object", `0`, false},
		{"open with array", `0[]`, false},
		{"ping probe", `2probe`, false},
		{"pong with data", `3x`, false},
		{"close with data", `1 `, false},
		{"empty message", `4`, false},
		{"unknown SIO type", `47`, false},
		{"non-digit SIO type", `4x["a"]`, false},
		{"binary event", `451-["a",{"_placeholder":true,"num":0}]`, true},
		{"binary ack", `461-1[{"_placeholder":true,"num":0}]`, true},
		{"invalid UTF-8", "42[\"a\xff\"]", false},
		{"connect with array", `40["a"]`, false},
		{"connect with ack id", `401{}`, false},
		{"connect with junk", `40x`, false},
		{"connect with invalid JSON", `40{"a":}`, false},
		{"connect with trailing data", `40{}{}`, false},
		{"connect with leading space", `40 {}`, false},
		{"disconnect with data", `41{}`, false},
		{"disconnect with ack id", `411`, false},
		{"event without data", `42`, false},
		{"event with ack id only", `4212`, false},
		{"event with object", `42{"a":1}`, false},
		{"event empty array", `42[]`, false},
		{"event empty array with spaces", `42[ ]`, false},
		{"event numeric name", `42[1,2]`, false},
		{"event null name", `42[null]`, false},
		{"event object name", `42[{"a":1}]`, false},
		{"event invalid JSON", `42["a",]`, false},
		{"event truncated", `42["a"`, false},
		{"event reserved name", `42["disconnect"]`, false},
		{"event reserved name escaped", `42["\u0063onnect"]`, false},
		{"event leading zero ack", `4201["a"]`, false},
		{"event ack too large", `429007199254740992["a"]`, false},
		{"event ack overflow", `4299999999999999999999["a"]`, false},
		{"event negative ack", `42-1["a"]`, false},
		{"ack without id", `43[]`, false},
		{"ack without data", `431`, false},
		{"ack with object", `431{}`, false},
		{"connect error without data", `44`, false},
		{"connect error with array", `44[]`, false},
		{"connect error with ack id", `441{}`, false},
		{"namespace with bracket", `42/admin["a"]`, false},
		{"namespace with space", `42/ad min,["a"]`, false},
		{"namespace with quote", `40/"a",`, false},
		{"namespace with control", "40/a\x01,", false},
		{"namespace too long", `40/` + strings.Repeat("a", sio.MaxNamespaceLen) + `,`, false},
		{"namespace only, event", `42/admin,`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := sio.Parse([]byte(tt.frame))
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tt.frame, show(p))
			}
			if !errors.Is(err, sio.ErrMalformed) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrMalformed", tt.frame, err)
			}
			if errors.Is(err, sio.ErrBinary) != tt.binary {
				t.Fatalf("Parse(%q) error %v: errors.Is(ErrBinary) = %v, want %v", tt.frame, err, !tt.binary, tt.binary)
			}
		})
	}
}

func TestEvent(t *testing.T) {
	tests := []struct {
		frame    string
		name     string
		args     []string
		wantFail bool
	}{
		{frame: `42["code-update",{"a":1}]`, name: "code-update", args: []string{`{"a":1}`}},
		{frame: `42["sync"]`, name: "sync", args: []string{}},
		{frame: `42/admin,3[ "x\"y" , 1 , [2] ]`, name: `x"y`, args: []string{`1`, `[2]`}},
		{frame: `41`, wantFail: true},
		{frame: `431["a"]`, wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			p, err := sio.Parse([]byte(tt.frame))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			name, args, err := sio.Event(p)
			if tt.wantFail {
				if !errors.Is(err, sio.ErrNotEvent) {
					t.Fatalf("Event(%s) error = %v, want ErrNotEvent", tt.frame, err)
				}
				return
			}
			if err != nil || name != tt.name || len(args) != len(tt.args) {
				t.Fatalf("Event(%s) = %q, %q, %v; want %q, %q", tt.frame, name, args, err, tt.name, tt.args)
			}
			for i := range args {
				if string(args[i]) != tt.args[i] {
					t.Fatalf("arg %d = %s, want %s", i, args[i], tt.args[i])
				}
			}
		})
	}
	// Event is also safe on packets built by hand.
	for _, p := range []sio.Packet{
		{EIO: 4, Type: sio.TypeEvent},
		{EIO: 4, Type: sio.TypeEvent, Data: []byte(`[]`)},
		{EIO: 4, Type: sio.TypeEvent, Data: []byte(`[1]`)},
		{EIO: 4, Type: sio.TypeEvent, Data: []byte(`{}`)},
	} {
		if _, _, err := sio.Event(p); !errors.Is(err, sio.ErrMalformed) {
			t.Errorf("Event(%s) error = %v, want ErrMalformed", show(p), err)
		}
	}
}

func samePacket(a, b sio.Packet) bool {
	if (a.AckID == nil) != (b.AckID == nil) || (a.AckID != nil && *a.AckID != *b.AckID) {
		return false
	}
	return a.EIO == b.EIO && a.Type == b.Type && a.Namespace == b.Namespace &&
		bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil)
}

func show(p sio.Packet) string {
	ack := "nil"
	if p.AckID != nil {
		ack = fmt.Sprint(*p.AckID)
	}
	return fmt.Sprintf("{EIO:%d Type:%d Namespace:%q AckID:%s Data:%q}", p.EIO, p.Type, p.Namespace, ack, p.Data)
}
