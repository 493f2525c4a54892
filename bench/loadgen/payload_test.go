package loadgen

import (
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

func TestOpIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		seq  uint64
		sent int64
	}{{1, 0}, {42, 123456789}, {1 << 40, 1<<62 + 5}} {
		id := OpID(tc.seq, tc.sent)
		if len(id) > protocol.MaxOpIDLen {
			t.Errorf("OpID(%d, %d) = %q is longer than %d", tc.seq, tc.sent, id, protocol.MaxOpIDLen)
		}
		seq, sent, ok := ParseOpID(id)
		if !ok || seq != tc.seq || sent != tc.sent {
			t.Errorf("ParseOpID(%q) = %d, %d, %v", id, seq, sent, ok)
		}
	}
}

func TestParseOpIDRejectsForeignIDs(t *testing.T) {
	for _, id := range []string{"", "lg", "lg1", "lg1.", "lgx.1", "lg1.-5", "op-1.2", strings.Repeat("9", 30)} {
		if _, _, ok := ParseOpID(id); ok {
			t.Errorf("ParseOpID(%q) accepted a foreign id", id)
		}
	}
}

func TestCursorPositionRoundTrip(t *testing.T) {
	for _, seq := range []uint64{0, 1, 999, 1000, 123456} {
		p := CursorPosition(seq)
		if p.Column >= 1000 || p.Line < 0 {
			t.Errorf("CursorPosition(%d) = %+v", seq, p)
		}
		if got, ok := CursorSeq(p); !ok || got != seq {
			t.Errorf("CursorSeq(%+v) = %d, %v; want %d", p, got, ok, seq)
		}
	}
	if _, ok := CursorSeq(protocol.Position{Line: 1, Column: 1000}); ok {
		t.Error("CursorSeq accepted a column it never writes")
	}
}

func TestSendRing(t *testing.T) {
	var r sendRing
	if _, ok := r.get(0); ok {
		t.Fatal("an empty ring answered")
	}
	r.put(5, 500)
	if sent, ok := r.get(5); !ok || sent != 500 {
		t.Fatalf("get(5) = %d, %v", sent, ok)
	}
	r.put(5+ringSize, 900) // overwrites the slot
	if _, ok := r.get(5); ok {
		t.Error("an overwritten entry still answered")
	}
	if sent, ok := r.get(5 + ringSize); !ok || sent != 900 {
		t.Errorf("get(5+ringSize) = %d, %v", sent, ok)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name, event, data  string
		wantType, wantUser string
		wantPayload        string
		wantErr            bool
	}{
		{"plain frame", "", `{"type":"cursor-update","userId":"u1","payload":{"position":{"line":0,"column":1}}}`,
			"cursor-update", "u1", `{"position":{"line":0,"column":1}}`, false},
		{"plain frame without a type", "", `{"payload":{}}`, "", "", "", true},
		{"plain frame that is not JSON", "", `nope`, "", "", "", true},
		{"socket.io envelope", "code-ack", `{"type":"code-ack","userId":"u2","payload":{"version":3}}`,
			"code-ack", "u2", `{"version":3}`, false},
		{"socket.io bare payload", "language-changed", `"python"`, "language-changed", "", `"python"`, false},
		{"socket.io bare object payload", "sync", `{"code":"x","version":1}`, "sync", "", `{"code":"x","version":1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := decodeEnvelope(tc.event, []byte(tc.data))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("decodeEnvelope(%q) = %+v; want an error", tc.data, env)
				}
				return
			}
			if err != nil || env.Type != tc.wantType || env.UserID != tc.wantUser || string(env.Payload) != tc.wantPayload {
				t.Errorf("decodeEnvelope = %+v (payload %s), %v", env, env.Payload, err)
			}
		})
	}
}
