package loadgen

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// generalEvent is what the general path makes of a Socket.IO frame: the
// frame, then the envelope of an event.
func generalEvent(data []byte) (envelope, bool) {
	f, err := ParseServerFrame(data)
	if err != nil || f.Kind != FrameEvent {
		return envelope{}, false
	}
	env, err := decodeEnvelope(f.Name, f.Arg)
	return env, err == nil
}

// quickEventFrames are frames quickEvent must read (true) or leave to the
// general path (false).
var quickEventFrames = []struct {
	frame string
	quick bool
}{
	{`42["cursor-update",{"type":"cursor-update","sessionId":"s1","userId":"lg7","payload":{"position":{"line":0,"column":12}},"timestamp":1}]`, true},
	{`42["code-update",{"type":"code-update","userId":"u","payload":{"delta":{"ops":[1,"a"]},"version":2,"opId":"lg1.5"}}]`, true},
	{`42["error",{"type":"error","payload":{"error":"RATE_LIMIT_EXCEEDED","message":"slow down"}}]`, true},
	{`42["presence-update",{"type":"presence-update","payload":{"users":[]}}  ]`, true},
	{`42["code-ack",{"type":"code-ack","sessionId":"s","payload":{"version":3,"opId":"lg2.9"},"timestamp":1764921600123}]`, true},
	{`42["user-left",{"type":"user-left","sessionId":"s","userId":"u","timestamp":0}]`, true},
	{`42["cursor-update",{"type":"cursor-update","payload":null,"timestamp":1}]`, true},            // json.Unmarshal's
	{`42["cursor-update",{"type":"cursor-update","userId":"é","payload":{},"timestamp":1}]`, true}, // json.Unmarshal's
	{`42["cursor-update",{"type":"cursor-update","payload":{"a":1},"timestamp":1,"timestamp":2}]`, true},
	{`42["cursor-update",{"type":"cursor-update","payload":{"timestamp":1},"timestamp":01}]`, false},
	{`42["cursor-update",{"userId":"u","type":"cursor-update","payload":{},"timestamp":1}]`, true},
	{`42["sync",{"code":"x","version":1}]`, false}, // a bare object payload
	{`42["language-changed","python"]`, false},     // a bare string payload
	{`42["sync"]`, false}, // no argument
	{`421["cursor-update",{"type":"cursor-update","payload":{}}]`, false},              // an ack id
	{`42[ "cursor-update",{"type":"cursor-update","payload":{}}]`, false},              // whitespace
	{`42["curs\u006fr-update",{"type":"cursor-update","payload":{}}]`, false},          // an escaped name
	{`42["cursör",{"type":"cursor-update","payload":{}}]`, false},                      // a non-ASCII name
	{`42["cursor-update",{"type":"cursor-update","payload":{}},{"more":1}]`, false},    // a second argument
	{`42["cursor-update",{"type":"cursor-update","payload":{]`, false},                 // not JSON
	{`42["cursor-update",{"type":"cursor-update","payload":{}}`, false},                // unterminated
	{`42/admin,["cursor-update",{"type":"cursor-update","payload":{}}]`, false},        // another namespace
	{"42[\"cursor-update\x01\",{\"type\":\"cursor-update\",\"payload\":{}}]", false},   // a control character
	{`42["cursor-update",{"type":"cursor-update","payload":{"position":nul}}]`, false}, // a bad literal
}

// TestQuickEvent: quickEvent reads the frames the servers send in one pass,
// declines the others, and whatever it reads equals what the general path
// reads.
func TestQuickEvent(t *testing.T) {
	for _, tc := range quickEventFrames {
		t.Run(tc.frame, func(t *testing.T) {
			got, ok := quickEvent([]byte(tc.frame))
			if ok != tc.quick {
				t.Fatalf("quickEvent ok = %v, want %v", ok, tc.quick)
			}
			if !ok {
				return
			}
			want, wantOK := generalEvent([]byte(tc.frame))
			if !wantOK || !reflect.DeepEqual(got, want) {
				t.Errorf("quickEvent = %+v (payload %s); the general path: %+v (payload %s), %v", got, got.Payload, want, want.Payload, wantOK)
			}
		})
	}
}

// FuzzQuickEvent: on any frame, quickEvent either declines or agrees with
// the general path. The seeds are the table above and the recorded frames.
func FuzzQuickEvent(f *testing.F) {
	for _, tc := range quickEventFrames {
		f.Add([]byte(tc.frame))
	}
	raw, err := os.ReadFile("testdata/socketio_frames.json")
	if err != nil {
		f.Fatal(err)
	}
	var golden []struct {
		Frame string `json:"frame"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		f.Fatal(err)
	}
	for _, g := range golden {
		f.Add([]byte(g.Frame))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := quickEvent(data)
		if !ok {
			return
		}
		want, wantOK := generalEvent(data)
		if !wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("quickEvent(%q) = %+v; the general path: %+v, %v", data, got, want, wantOK)
		}
	})
}

// TestAppendCursorFrame: the one-pass cursor-update frame is byte for byte
// the general encoding, in both framings, and a session id JSON escapes
// takes the general path.
func TestAppendCursorFrame(t *testing.T) {
	now := time.UnixMilli(1764921600123)
	for _, tc := range []struct {
		session string
		seq     uint64
		quick   bool
	}{
		{"6f1c2a9e-3b7d-4e2a-9c1f-0a8b7c6d5e4f", 1, true},
		{"s", 123456789, true},
		{"", 0, true},
		{"a<b", 5, false},
		{`a"b`, 5, false},
		{"é", 5, false},
	} {
		for _, socketIO := range []bool{false, true} {
			pos := CursorPosition(tc.seq)
			got, ok := appendCursorFrame(nil, socketIO, tc.session, pos, now.UnixMilli())
			if ok != tc.quick {
				t.Fatalf("appendCursorFrame(%q) ok = %v, want %v", tc.session, ok, tc.quick)
			}
			if !ok {
				continue
			}
			want, err := encodeEnvelope(protocol.TypeCursorUpdate, tc.session, protocol.CursorUpdate{Position: pos}, now)
			if err != nil {
				t.Fatal(err)
			}
			if socketIO {
				want = AppendEvent(nil, protocol.TypeCursorUpdate, want)
			}
			if string(got) != string(want) {
				t.Errorf("appendCursorFrame(%q, %d, socketIO %v) =\n%s\nwant\n%s", tc.session, tc.seq, socketIO, got, want)
			}
		}
	}
}

// quickCursorPayloads are payloads quickCursor must read (true) or leave
// to json.Unmarshal (false).
var quickCursorPayloads = []struct {
	payload string
	quick   bool
}{
	{`{"position":{"line":0,"column":0}}`, true},
	{`{"position":{"line":123456,"column":999}}`, true},
	{`{"position":{"line":999999999,"column":7}}`, true},
	{`{"position":{"line":1000000000,"column":7}}`, false}, // ten digits
	{`{"position":{"line":01,"column":7}}`, false},         // not JSON
	{`{"position":{"line":-1,"column":7}}`, false},
	{`{"position":{"line":1.5,"column":7}}`, false},
	{`{"position":{"line":1,"column":7},"selection":{"start":{"line":0,"column":0},"end":{"line":0,"column":1}}}`, false},
	{`{"position":{"column":7,"line":1}}`, false},
	{`{ "position":{"line":1,"column":7}}`, false},
	{`{"position":{"line":1,"column":7}} `, false},
	{`{"position":{"line":,"column":7}}`, false},
	{`{"position":{"line":1,"column":7}`, false},
	{``, false},
}

// TestQuickCursor: quickCursor reads the cursor payloads the generator
// sends, declines the others, and what it reads equals json.Unmarshal's.
func TestQuickCursor(t *testing.T) {
	for _, tc := range quickCursorPayloads {
		t.Run(tc.payload, func(t *testing.T) {
			got, ok := quickCursor([]byte(tc.payload))
			if ok != tc.quick {
				t.Fatalf("quickCursor ok = %v, want %v", ok, tc.quick)
			}
			var want protocol.CursorUpdate
			if ok && (json.Unmarshal([]byte(tc.payload), &want) != nil || !reflect.DeepEqual(got, want)) {
				t.Errorf("quickCursor = %+v, json.Unmarshal: %+v", got, want)
			}
		})
	}
}

// FuzzQuickCursor: on any payload, quickCursor either declines or agrees
// with json.Unmarshal.
func FuzzQuickCursor(f *testing.F) {
	for _, tc := range quickCursorPayloads {
		f.Add([]byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, ok := quickCursor(payload)
		if !ok {
			return
		}
		var want protocol.CursorUpdate
		if err := json.Unmarshal(payload, &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("quickCursor(%q) = %+v; json.Unmarshal: %+v, %v", payload, got, want, err)
		}
	})
}

const benchCursorFrame = `42["cursor-update",{"type":"cursor-update","sessionId":"6f1c2a9e-3b7d-4e2a-9c1f-0a8b7c6d5e4f","userId":"lg12345","payload":{"position":{"line":3,"column":217}},"timestamp":1764921600123}]`

// BenchmarkReceiveCursor is the decoding of one received cursor-update,
// through quickEvent and quickCursor and through the general path.
func BenchmarkReceiveCursor(b *testing.B) {
	data := []byte(benchCursorFrame)
	b.Run("quick", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env, ok := quickEvent(data)
			if !ok {
				b.Fatal("declined")
			}
			if _, ok := quickCursor(env.Payload); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env, ok := generalEvent(data)
			var c protocol.CursorUpdate
			if !ok || json.Unmarshal(env.Payload, &c) != nil {
				b.Fatal("not decoded")
			}
		}
	})
}

// BenchmarkSendCursor is the encoding of one cursor-update frame.
func BenchmarkSendCursor(b *testing.B) {
	session := "6f1c2a9e-3b7d-4e2a-9c1f-0a8b7c6d5e4f"
	now := time.Now()
	b.Run("quick", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := appendCursorFrame(make([]byte, 0, 160), true, session, CursorPosition(3217), now.UnixMilli()); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env, err := encodeEnvelope(protocol.TypeCursorUpdate, session, protocol.CursorUpdate{Position: CursorPosition(3217)}, now)
			if err != nil {
				b.Fatal(err)
			}
			_ = AppendEvent(make([]byte, 0, len(env)+24), protocol.TypeCursorUpdate, env)
		}
	})
}

// TestQuickEnvelope: the envelopes the servers write (encoding/json's
// form of protocol.Envelope) are read without json.Unmarshal, as
// json.Unmarshal reads them; FuzzQuickEvent holds it to the general path
// on anything else.
func TestQuickEnvelope(t *testing.T) {
	for _, e := range []protocol.Envelope{
		{Type: "cursor-update", SessionID: "6f1c2a9e-3b7d", UserID: "lg7", Payload: json.RawMessage(`{"position":{"line":0,"column":12}}`), Timestamp: 1764921600123},
		{Type: "code-ack", SessionID: "s", Payload: json.RawMessage(`{"version":3,"opId":"lg2.9"}`), Timestamp: 1},
		{Type: "user-left", UserID: "u", Timestamp: 0},
		{Type: "presence-update", Payload: json.RawMessage(`{"users":[{"userId":"a<b>","userName":"x"}]}`), Timestamp: 9},
	} {
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := quickEnvelope(raw)
		var want envelope
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("quickEnvelope(%s) = %+v, %v; json.Unmarshal: %+v", raw, got, ok, want)
		}
	}
}

// FuzzQuickEnvelope: on any envelope, quickEnvelope either declines or
// agrees with json.Unmarshal (the plain framing's general path).
func FuzzQuickEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{"type":"cursor-update","sessionId":"s","userId":"lg7","payload":{"position":{"line":0,"column":12}},"timestamp":1764921600123}`,
		`{"type":"user-left","sessionId":"","userId":"u","timestamp":0}`,
		`{"type":"code-ack","sessionId":"s","payload":{"version":3,"opId":"lg2.9"},"timestamp":1}`,
		`{"type":"presence-update","sessionId":"s","payload":{"users":[{"userId":"a<b>"}]},"timestamp":9}`,
		`{"type":"x","payload":null,"timestamp":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := quickEnvelope(data)
		if !ok {
			return
		}
		var want envelope
		if err := json.Unmarshal(data, &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("quickEnvelope(%q) = %+v; json.Unmarshal: %+v, %v", data, got, want, err)
		}
	})
}
