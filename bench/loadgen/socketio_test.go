package loadgen

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

var frameKinds = map[string]FrameKind{
	"open": FrameOpen, "ping": FramePing, "close": FrameClose, "connect": FrameConnect,
	"connect_error": FrameConnectError, "event": FrameEvent, "disconnect": FrameDisconnect, "noop": FrameNoop,
}

// TestParseServerFrameGolden parses the frames a Socket.IO v4 server sends,
// as recorded in testdata/socketio_frames.json.
func TestParseServerFrameGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/socketio_frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Frame string `json:"frame"`
		Kind  string `json:"kind"`
		Name  string `json:"name"`
		Arg   string `json:"arg"`
		Data  string `json:"data"`
		Code  string `json:"code"`
		Err   bool   `json:"err"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Frame, func(t *testing.T) {
			f, err := ParseServerFrame([]byte(tc.Frame))
			if tc.Err {
				if !errors.Is(err, ErrFrame) {
					t.Fatalf("ParseServerFrame(%q) = %+v, %v; want an ErrFrame", tc.Frame, f, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseServerFrame(%q): %v", tc.Frame, err)
			}
			if want := frameKinds[tc.Kind]; f.Kind != want {
				t.Errorf("kind = %d, want %d (%s)", f.Kind, want, tc.Kind)
			}
			if f.Name != tc.Name || string(f.Arg) != tc.Arg || string(f.Data) != tc.Data {
				t.Errorf("got name %q arg %s data %s; want %q %s %s", f.Name, f.Arg, f.Data, tc.Name, tc.Arg, tc.Data)
			}
			if tc.Code != "" {
				if got := ConnectErrorCode(f.Data); got != tc.Code {
					t.Errorf("ConnectErrorCode = %q, want %q", got, tc.Code)
				}
			}
		})
	}
}

func TestEncodeClientFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"connect without auth", func() ([]byte, error) { return EncodeConnect(nil) }, `40`},
		{"connect with a token", func() ([]byte, error) { return EncodeConnect(map[string]string{"token": "v1.a.b"}) }, `40{"token":"v1.a.b"}`},
		{"event with an envelope", func() ([]byte, error) {
			return AppendEvent(nil, "cursor-update", []byte(`{"type":"cursor-update"}`)), nil
		}, `42["cursor-update",{"type":"cursor-update"}]`},
		{"event without arguments", func() ([]byte, error) { return AppendEvent([]byte("x"), "sync", nil), nil }, `x42["sync"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.got()
			if err != nil || string(got) != tc.want {
				t.Errorf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// TestEventRoundTrip checks that what the client encodes, its own parser
// (the server's grammar for events) reads back.
func TestEventRoundTrip(t *testing.T) {
	arg := []byte(`{"payload":{"position":{"line":1,"column":2}}}`)
	f, err := ParseServerFrame(AppendEvent(nil, "cursor-update", arg))
	if err != nil || f.Kind != FrameEvent || f.Name != "cursor-update" || string(f.Arg) != string(arg) {
		t.Fatalf("round trip = %+v, %v", f, err)
	}
}
