package presence

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeMarker holds the one-pass decoding of an entry's value to
// encoding/json: whatever it takes, encoding/json decodes to the same
// marker, and what Put and Leave write (json.Marshal of an entry or a
// marker) it takes.
func FuzzDecodeMarker(f *testing.F) {
	f.Add("s1", "u1", "Ana <&>", "#e06c75", "interviewer", "c1", "i1", int64(1733363000000), int64(1733363010000), true, "", []byte(nil))
	f.Add("s\u2028", "é", "\xff", "", "", "", "", int64(-1), int64(0), false, "manual", []byte(`{"sessionId":"s","lastSeen":1e3}`))
	f.Add("", "", "", "", "", "", "", int64(0), int64(0), false, "", []byte(`{"SessionId":"s","sessionId":"t"}`))
	f.Add("", "", "", "", "", "", "", int64(0), int64(0), false, "", []byte(`{"vouched":true,"vouched":false}`))
	f.Add("", "", "", "", "", "", "", int64(0), int64(0), false, "", []byte(`{"vouched":null,"lastSeen":1}`))
	f.Add("", "", "", "", "", "", "", int64(0), int64(0), false, "", []byte(`{"sessionId":null,"extra":[1]} `))
	f.Fuzz(func(t *testing.T, sid, uid, name, color, role, cid, inst string, at, seen int64, vouched bool, left string, raw []byte) {
		m := marker{Entry: Entry{SessionID: sid, UserID: uid, Name: name, Color: color, Role: role, ConnID: cid,
			Instance: inst, ConnectedAt: at, LastSeen: seen, Vouched: vouched}, Left: left}
		written, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		entryOnly, err := json.Marshal(m.Entry)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{written, entryOnly, raw} {
			var fast, want marker
			if !fastMarker(b, &fast) {
				continue
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("fastMarker took %s, encoding/json refuses it: %v", b, err)
			}
			if fast != want {
				t.Fatalf("fastMarker(%s) = %+v, encoding/json %+v", b, fast, want)
			}
		}
		var got marker
		if err := decodeMarker(written, &got); err != nil {
			t.Fatalf("decodeMarker(%s): %v", written, err)
		}
		var want marker
		_ = json.Unmarshal(written, &want)
		if got != want {
			t.Fatalf("decodeMarker(%s) = %+v, want %+v", written, got, want)
		}
	})
}

// TestDecodeMarkerTakesWhatPutWrites: the fast path is the one taken for
// what this package writes, and what it leaves to encoding/json is
// decoded or refused as before.
func TestDecodeMarkerTakesWhatPutWrites(t *testing.T) {
	e := Entry{SessionID: "s1", UserID: "u1", Name: "Ana", Color: "#e06c75", ConnID: "c1", Instance: "i1", ConnectedAt: 1, LastSeen: 2}
	vouched := e
	vouched.Vouched = true
	for _, tc := range []struct {
		name  string
		value any
		raw   string
		fast  bool
		fails bool
		want  marker
	}{
		{name: "an entry", value: e, fast: true, want: marker{Entry: e}},
		{name: "a leave marker", value: marker{Entry: e, Left: "manual"}, fast: true, want: marker{Entry: e, Left: "manual"}},
		{name: "a vouched entry", value: vouched, fast: true, want: marker{Entry: vouched}},
		{name: "vouched false", raw: `{"sessionId":"s1","vouched":false}`, fast: true, want: marker{Entry: Entry{SessionID: "s1"}}},
		{name: "vouched twice", raw: `{"vouched":true,"vouched":false}`, want: marker{}},
		{name: "vouched not a bool", raw: `{"vouched":1}`, fails: true},
		{name: "a key in another case", raw: `{"SessionID":"s1"}`, want: marker{Entry: Entry{SessionID: "s1"}}},
		{name: "an unknown key", raw: `{"sessionId":"s1","x":{}}`, want: marker{Entry: Entry{SessionID: "s1"}}},
		{name: "a null", raw: `{"sessionId":null,"userId":"u"}`, want: marker{Entry: Entry{UserID: "u"}}},
		{name: "not an object", raw: `"s1"`, fails: true},
		{name: "a string for a number", raw: `{"lastSeen":"2"}`, fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.raw)
			if tc.value != nil {
				var err error
				if b, err = json.Marshal(tc.value); err != nil {
					t.Fatal(err)
				}
			}
			var scratch marker
			if fast := fastMarker(b, &scratch); fast != tc.fast {
				t.Errorf("fastMarker(%s) = %v, want %v", b, fast, tc.fast)
			}
			var got marker
			err := decodeMarker(b, &got)
			if (err != nil) != tc.fails || !tc.fails && got != tc.want {
				t.Errorf("decodeMarker(%s) = %+v, %v; want %+v", b, got, err, tc.want)
			}
		})
	}
}

// BenchmarkDecodeMarker is one entry's value as every watcher decodes it:
// in one pass, and with encoding/json as before.
func BenchmarkDecodeMarker(b *testing.B) {
	raw, err := json.Marshal(Entry{SessionID: "3f6b2a9c1d", UserID: "user-1a2b3c", Name: "Load lg123", Color: "#e06c75",
		Role: "candidate", ConnID: "9c1d3f6b2a4e", Instance: "7a1f9e2b3c", ConnectedAt: 1733363000000, LastSeen: 1733363010000})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("jsonwire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m marker
			if err := decodeMarker(raw, &m); err != nil || m.LastSeen == 0 {
				b.Fatal(m, err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m marker
			if err := json.Unmarshal(raw, &m); err != nil || m.LastSeen == 0 {
				b.Fatal(m, err)
			}
		}
	})
}
