package oplog

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// FuzzDecodeBody holds decodeBody (readBody first) to decodeBodyJSON, the
// encoding/json path, on any bytes: the same entry or the same error.
func FuzzDecodeBody(f *testing.F) {
	m, err := Encode("s", Entry{Version: 7, UserID: "u2", UserName: "Ada <L>", Role: protocol.RoleCandidate, OpID: "u2-17",
		ConnID: "c-1", Timestamp: 1705315800000, Ops: ot.Op{ot.Retain(1480), ot.Insert("x < y"), ot.Delete(1)}, Offset: 4096})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m.Data)
	for _, s := range []string{`{"v":1,"u":"","t":0,"ops":[]}`, `{"v":0,"u":"","t":0,"ops":[]}`, `{"v":1,"u":"","t":0}`,
		`{"v":1,"u":"","t":0,"ops":null}`, `{"v":1,"V":2,"u":"","t":0,"ops":[1]}`, `{"v":1,"u":"\ud800","t":0,"ops":[1]}`,
		`{"v":1,"u":null,"t":0,"ops":[1],"x":{"y":[true]}}`, `{"v":1,"v":2,"ops":[1]}`, `{"v":1.5,"ops":[1]}`, `{"v":1,"ops":[0]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeBody(data)
		want, wantErr := decodeBodyJSON(data)
		if !reflect.DeepEqual(got, want) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("decodeBody(%q) = %+v, %v; encoding/json: %+v, %v", data, got, err, want, wantErr)
		}
	})
}

// TestReadBodyTaken holds what Encode writes to the fast path.
func TestReadBodyTaken(t *testing.T) {
	m, err := Encode("s", Entry{Version: 1, UserID: "u", Ops: ot.Op{ot.Insert("<a>")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := readBody(m.Data); !ok {
		t.Errorf("readBody leaves %s to encoding/json", m.Data)
	}
}

// BenchmarkDecodeBody is one replica's read of one applied update: an
// entry as Encode writes it (a fullCode update's op: retain, insert,
// retain).
func BenchmarkDecodeBody(b *testing.B) {
	m, err := Encode("s", Entry{Version: 42, UserID: "u2", UserName: "Ada", Role: protocol.RoleCandidate, OpID: "u2-1705315800000-17",
		ConnID: "c-1", Timestamp: 1705315800000, Ops: ot.Op{ot.Retain(1480), ot.Insert("x < y"), ot.Retain(567)}, Offset: 90112})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeBody(m.Data); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzEncodeBody holds body.append to json.Marshal, byte for byte.
func FuzzEncodeBody(f *testing.F) {
	f.Add(int64(7), "u2", "Ada <L> & \u2028", "candidate", "u2-17", "c-1", int64(1705315800000), "x < y\xff", 1480, int64(4096))
	f.Add(int64(1), "", "", "", "", "", int64(0), "", 0, int64(0))
	f.Fuzz(func(t *testing.T, v int64, u, n, r, o, c string, ts int64, ins string, retain int, off int64) {
		b := body{Version: v, UserID: u, UserName: n, Role: r, OpID: o, ConnID: c, Timestamp: ts, Offset: off}
		if retain != 0 {
			b.Ops = append(b.Ops, ot.Component{N: retain})
		}
		if ins != "" {
			b.Ops = append(b.Ops, ot.Insert(ins))
		}
		want, wantErr := json.Marshal(b)
		got, ok := b.append(nil)
		if ok != (wantErr == nil) || (ok && !bytes.Equal(got, want)) {
			t.Fatalf("append(%+v) = %s, %v; json.Marshal: %s, %v", b, got, ok, want, wantErr)
		}
		if !ok || v < 1 {
			return
		}
		// Encode writes the body after the subject to digest both in
		// place: the same body, and the id MsgID gives it.
		m, err := Encode("s-"+u, b.entry(0))
		if err != nil || !bytes.Equal(m.Data, want) || m.Header.Get("Nats-Msg-Id") != MsgID(m.Subject, want) {
			t.Fatalf("Encode(%+v) = %s, id %q, %v; want %s, id %q", b, m.Data, m.Header.Get("Nats-Msg-Id"), err, want, MsgID(m.Subject, want))
		}
	})
}

// BenchmarkEncode is the append of one applied update (the op of a
// fullCode update: retain, insert, retain).
func BenchmarkEncode(b *testing.B) {
	e := Entry{Version: 42, UserID: "u2", UserName: "Ada", Role: protocol.RoleCandidate, OpID: "u2-1705315800000-17",
		ConnID: "c-1", Timestamp: 1705315800000, Ops: ot.Op{ot.Retain(1480), ot.Insert("x < y"), ot.Retain(567)}, Offset: 90112}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode("0b6f5c2e-8d4b-4e7f-9a51-1f3c2d4e5f60", e); err != nil {
			b.Fatal(err)
		}
	}
}
