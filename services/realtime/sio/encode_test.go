package sio_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestEncode pins every frame the server writes; realclient_test.go checks
// that the npm socket.io-client reads them as intended.
func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"open", sio.OpenPacket("abc", 25*time.Second, 20*time.Second, 1000000),
			`0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`},
		{"event", sio.EncodeEvent("/", "code-update", json.RawMessage(`{"a":1}`)),
			`42["code-update",{"a":1}]`},
		{"event empty namespace", sio.EncodeEvent("", "x", json.RawMessage(`1`)), `42["x",1]`},
		{"event namespace", sio.EncodeEvent("/admin", "x", json.RawMessage(`"y"`)), `42/admin,["x","y"]`},
		{"event without argument", sio.EncodeEvent("/", "sync", nil), `42["sync"]`},
		{"event escaped name", sio.EncodeEvent("/", "a\"b\n", json.RawMessage(`1`)), `42["a\"b\n",1]`},
		{"event unicode name", sio.EncodeEvent("/", "é", nil), `42["é"]`},
		{"connect", sio.EncodeConnect("/", "sock-1"), `40{"sid":"sock-1"}`},
		{"connect namespace", sio.EncodeConnect("/admin", "s"), `40/admin,{"sid":"s"}`},
		{"connect error", sio.EncodeConnectError("/", protocol.Errorf(protocol.CodeSessionNotFound, "Session with the specified ID does not exist")),
			`44{"message":"Session with the specified ID does not exist","data":{"error":"SESSION_NOT_FOUND","message":"Session with the specified ID does not exist"}}`},
		{"connect error details", sio.EncodeConnectError("/", protocol.Errorf(protocol.CodeSessionFull, "full").WithDetails(map[string]any{"max": 20})),
			`44{"message":"full","data":{"error":"SESSION_FULL","message":"full","details":{"max":20}}}`},
		{"connect error wrapped", sio.EncodeConnectError("/", errors.Join(protocol.Errorf(protocol.CodeUnauthorized, "bad token"))),
			`44{"message":"bad token","data":{"error":"UNAUTHORIZED","message":"bad token"}}`},
		{"connect error internal", sio.EncodeConnectError("/", errors.New("nats: timeout")),
			`44{"message":"An internal error occurred","data":{"error":"INTERNAL_SERVER_ERROR","message":"An internal error occurred"}}`},
		{"connect error payload", sio.EncodeConnectError("/", protocol.ErrorPayload{Error: protocol.CodeOriginNotAllowed, Message: "no"}),
			`44{"message":"no","data":{"error":"ORIGIN_NOT_ALLOWED","message":"no"}}`},
		{"connect error string", sio.EncodeConnectError("/admin", "Invalid namespace"), `44/admin,{"message":"Invalid namespace"}`},
		{"connect error nil", sio.EncodeConnectError("/", nil), `44{"message":"Connection refused"}`},
		{"connect error struct", sio.EncodeConnectError("/", struct {
			Code string `json:"error"`
			Msg  string `json:"message"`
		}{"X", "m"}), `44{"message":"m","data":{"error":"X","message":"m"}}`},
		{"connect error unmarshalable", sio.EncodeConnectError("/", map[string]any{"f": func() {}}),
			`44{"message":"Connection refused","data":{"error":"INTERNAL_SERVER_ERROR","message":"An internal error occurred"}}`},
		{"ack", sio.EncodeAck("/", 13, json.RawMessage(`true`), json.RawMessage(`{"v":1}`)), `4313[true,{"v":1}]`},
		{"ack empty", sio.EncodeAck("/admin", 0), `43/admin,0[]`},
		{"disconnect", sio.EncodeDisconnect("/"), `41`},
		{"disconnect namespace", sio.EncodeDisconnect("/admin"), `41/admin,`},
		{"ping", []byte(sio.PingFrame), `2`},
		{"pong", []byte(sio.PongFrame), `3`},
		{"close", []byte(sio.CloseFrame), `1`},
		{"noop", []byte(sio.NoopFrame), `6`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Fatalf("got  %s\nwant %s", tt.got, tt.want)
			}
			// Every frame we write is one our own strict parser accepts.
			if _, err := sio.Parse(tt.got); err != nil {
				t.Fatalf("Parse(%s): %v", tt.got, err)
			}
		})
	}
}

// TestEncodeEventAllocs holds the broadcast path to one allocation: the frame.
func TestEncodeEventAllocs(t *testing.T) {
	arg := json.RawMessage(`{"type":"cursor-update","payload":{"position":{"line":1,"column":2}}}`)
	if n := testing.AllocsPerRun(100, func() { sio.EncodeEvent("/", "cursor-update", arg) }); n != 1 {
		t.Errorf("EncodeEvent allocates %v times, want 1", n)
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = sio.AppendEvent(buf[:0], "/", "cursor-update", arg) }); n != 0 {
		t.Errorf("AppendEvent into a large enough buffer allocates %v times, want 0", n)
	}
	frame := sio.EncodeEvent("/", "cursor-update", arg)
	if len(frame) != cap(frame) {
		t.Errorf("EncodeEvent frame len %d cap %d: the size estimate is off", len(frame), cap(frame))
	}
}

func TestCheckHandshake(t *testing.T) {
	tests := []struct {
		query string
		want  error
	}{
		{"EIO=4&transport=websocket", nil},
		{"EIO=4&transport=websocket&sessionId=x&token=y", nil},
		{"EIO=4&transport=polling", sio.ErrTransport},
		{"EIO=4", sio.ErrTransport},
		{"EIO=4&transport=websocket&sid=abc", sio.ErrTransport},
		{"EIO=3&transport=websocket", sio.ErrVersion},
		{"transport=websocket", sio.ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if err := sio.CheckHandshake(q); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckHandshake(%s) = %v, want %v", tt.query, err, tt.want)
			}
		})
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	arg := json.RawMessage(`{"type":"code-update","sessionId":"0b6f5c2e-8d4b-4e7f-9a51-1f3c2d4e5f60","userId":"u1","payload":{"delta":{"ops":[12,"hello",-3,40]},"version":42,"opId":"op-17"},"timestamp":1705315800000}`)
	b.ReportAllocs()
	for b.Loop() {
		sio.EncodeEvent("/", "code-update", arg)
	}
}

func BenchmarkParseEvent(b *testing.B) {
	frame := []byte(`42["code-update",{"type":"code-update","sessionId":"0b6f5c2e-8d4b-4e7f-9a51-1f3c2d4e5f60","payload":{"delta":{"ops":[12,"hello",-3,40]},"version":42,"opId":"op-17"},"timestamp":1705315800000}]`)
	b.ReportAllocs()
	for b.Loop() {
		p, err := sio.Parse(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := sio.Event(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	frame := []byte(`42["code-update",{"type":"code-update","sessionId":"0b6f5c2e-8d4b-4e7f-9a51-1f3c2d4e5f60","payload":{"delta":{"ops":[12,"hello",-3,40]},"version":42,"opId":"op-17"},"timestamp":1705315800000}]`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sio.Parse(frame); err != nil {
			b.Fatal(err)
		}
	}
}
