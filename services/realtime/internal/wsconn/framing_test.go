package wsconn

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// sioSeeds are Socket.IO frames as socket.io-client and the load generator
// send them, and near misses the fast path must leave to decodePacket.
var sioSeeds = []string{
	`42["code-update",{"type":"code-update","sessionId":"6a1f0a34-0cf6-4c1e-9a57-3c8e3b1b2d4f","payload":{"delta":{"fullCode":"func f() {\n\tif a \u003c b {\n\t\treturn \"x\"\n\t}\n}\n"},"version":41,"opId":"u2-17"},"timestamp":1705315800000}]`,
	`42["cursor-update",{"type":"cursor-update","sessionId":"6a1f0a34-0cf6-4c1e-9a57-3c8e3b1b2d4f","payload":{"position":{"line":12,"column":30}},"timestamp":1705315800000}]`,
	`4217["code-update",{"payload":{"delta":{"ops":[3,"x",-1]},"version":4,"opId":"a1"}}]`,
	`42["language-changed","python"]`, `42["language-changed",{"payload":"python"}]`, `42["sync"]`, `42["sync",null]`, `42["sync",{}]`,
	`42["cursor-update",{"position":{"line":1,"column":2}}]`, `42["x",{"payload":null}]`, `42["x",{"type":5}]`, `42["x",{"type":null}]`,
	`42["x",{"Type":"y"}]`, `42["x",{"sessionId":"a","sessionId":"b"}]`, `42["x",1,2,{"a":[]}]`, `42[ "x" , { "payload" : [ ] } ] `,
	`42["connect",{}]`, `42["a\"b",1]`, `42[""]`, `42[]`, `42[1]`, `42/admin,["x"]`, `4201["x"]`, `4212345678901234567["x"]`, `429007199254740992["x"]`,
	"42[\"x\",\"\xff\"]", `42["x"`, `42 ["x"]`, `2`, `3`, `41`, `40`, `43["x"]`, `42["x"]x`, `42["x",{"payload":1}]` + strings.Repeat(" ", 3),
}

// FuzzSocketIODecode holds Decode (its fast path first) to decodePacket,
// the Parse and encoding/json path, on any frame: the same inbound and the
// same refusal.
func FuzzSocketIODecode(f *testing.F) {
	for _, s := range sioSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		got, err := SocketIO{}.Decode(frame)
		want, wantErr := decodePacket(frame)
		if !reflect.DeepEqual(got, want) || !sameError(err, wantErr) {
			t.Fatalf("Decode(%q) = %+v, %v; decodePacket: %+v, %v", frame, got, err, want, wantErr)
		}
	})
}

func sameError(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return a == nil || reflect.DeepEqual(protocol.PayloadOf(a), protocol.PayloadOf(b))
}

// TestFastEventTaken holds the fast path to the frames real clients send.
func TestFastEventTaken(t *testing.T) {
	for _, s := range sioSeeds[:9] {
		if _, ok := fastEvent([]byte(s)); !ok {
			t.Errorf("the fast path leaves %s to decodePacket", s)
		}
	}
}
