package realtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
)

// FuzzPeerMsg holds the peer messages' hand-written encoding and its
// one-pass decoding to encoding/json: what appendPeer writes,
// encoding/json decodes to what json.Marshal of the same message decodes
// to (peers of other versions read it so), and whatever bytes the fast
// path accepts, encoding/json decodes to the same message.
func FuzzPeerMsg(f *testing.F) {
	env := newEvent(protocol.TypeCursorUpdate, fuzzSID, "u1", protocol.CursorUpdate{Position: protocol.Position{Line: 3, Column: 4}}, fuzzNow).Body
	f.Add(peerCursor, "u1", "", []byte(env), int64(1733363000000))
	f.Add(peerLanguage, "<u&2>\xff", "python", []byte(nil), int64(-1))
	f.Add("", "", "", []byte(`null`), int64(0))
	f.Add("k\u2028", "é", "go", []byte(`[1,"a\"b\\",{"c":null}]`), int64(9007199254740993))
	f.Add("cursor", "u1", "", []byte(`{"a":1} `), int64(5))
	f.Fuzz(func(t *testing.T, kind, user, lang string, envelope []byte, sent int64) {
		m := peerMsg{Kind: kind, UserID: user, Language: protocol.Language(lang), Envelope: envelope, Sent: sent}
		if json.Valid(envelope) && bytes.Equal(bytes.TrimSpace(envelope), envelope) {
			var want peerMsg
			raw, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			var got peerMsg
			b := appendPeer(nil, m)
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("appendPeer(%+v) = %s: %v", m, b, err)
			}
			// json.Marshal compacts the envelope and escapes HTML in it:
			// the same JSON value, which receivers pass on as it came.
			want.Envelope, got.Envelope = canonical(t, want.Envelope), canonical(t, got.Envelope)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("appendPeer(%+v) = %s decodes to %+v, json.Marshal's to %+v", m, b, got, want)
			}
		}
		for _, data := range [][]byte{appendPeer(nil, m), envelope} {
			fast, ok := fastPeer(data)
			if !ok {
				continue
			}
			var want peerMsg
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatalf("fastPeer took %s, encoding/json refuses it: %v", data, err)
			}
			if !reflect.DeepEqual(fast, want) {
				t.Fatalf("fastPeer(%s) = %+v, encoding/json %+v", data, fast, want)
			}
		}
	})
}

// canonical re-encodes a JSON value, so two spellings of one value compare
// equal.
func canonical(t *testing.T, b []byte) []byte {
	if b == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDecodePeer: what the fast path leaves to encoding/json, it decodes
// or refuses as before.
func TestDecodePeer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  string
		want  peerMsg
		fast  bool
		fails bool
	}{
		{"appendPeer's shape", `{"kind":"cursor","userId":"u1","envelope":{"type":"cursor-update"},"sent":7}`,
			peerMsg{Kind: "cursor", UserID: "u1", Envelope: json.RawMessage(`{"type":"cursor-update"}`), Sent: 7}, true, false},
		{"json.Marshal's HTML escapes", `{"kind":"cursor","userId":"\u003cu\u003e","sent":7}`,
			peerMsg{Kind: "cursor", UserID: "<u>", Sent: 7}, true, false},
		{"another order and spacing", ` { "sent" : 7 , "kind" : "language", "language":"go" } `,
			peerMsg{Kind: "language", Language: "go", Sent: 7}, true, false},
		{"a key in another case", `{"Kind":"cursor","sent":7}`, peerMsg{Kind: "cursor", Sent: 7}, false, false},
		{"an unknown key", `{"kind":"cursor","extra":[1],"sent":7}`, peerMsg{Kind: "cursor", Sent: 7}, false, false},
		{"a null envelope", `{"kind":"cursor","envelope":null}`, peerMsg{Kind: "cursor", Envelope: json.RawMessage(`null`)}, false, false},
		{"a repeated key", `{"kind":"a","kind":"cursor"}`, peerMsg{Kind: "cursor"}, false, false},
		{"an invalid envelope", `{"kind":"cursor","envelope":{"a":}}`, peerMsg{}, false, true},
		{"not an object", `[1]`, peerMsg{}, false, true},
		{"truncated", `{"kind":"cursor"`, peerMsg{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, fast, err := decodePeer([]byte(tc.data))
			if (err != nil) != tc.fails || fast != tc.fast {
				t.Fatalf("decodePeer = %+v, fast %v, %v", got, fast, err)
			}
			if !tc.fails && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decodePeer = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// BenchmarkPeerCursor is one cursor move between instances as the
// publisher encodes it and the receiver decodes and checks it: by hand
// (appendPeer, decodePeer) and, for comparison, with encoding/json as
// before.
func BenchmarkPeerCursor(b *testing.B) {
	env := newEvent(protocol.TypeCursorUpdate, fuzzSID, "user-1a2b3c", protocol.CursorUpdate{Position: protocol.Position{Line: 120, Column: 17}}, fuzzNow).Body
	m := peerMsg{Kind: peerCursor, UserID: "user-1a2b3c", Envelope: env, Sent: 1733363000000}
	b.Run("jsonwire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, checked, err := decodePeer(appendPeer(nil, m))
			if err != nil || !checked || len(got.Envelope) != len(env) {
				b.Fatal(got, err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, err := json.Marshal(m)
			if err != nil {
				b.Fatal(err)
			}
			var got peerMsg
			if err := json.Unmarshal(data, &got); err != nil || !json.Valid(got.Envelope) {
				b.Fatal(got, err)
			}
		}
	})
}

// BenchmarkPeerHop is one cursor move's hop between two instances through
// a real NATS server: published on one connection, received through a
// channel subscription (as the hub's dispatcher does) and decoded on
// another; with the instance header a shared connection needs, and
// without it, as a NoEcho connection publishes.
func BenchmarkPeerHop(b *testing.B) {
	srv := natstest.Start(b)
	pub, sub := natstest.Connect(b, srv), natstest.Connect(b, srv)
	env := newEvent(protocol.TypeCursorUpdate, fuzzSID, "user-1a2b3c", protocol.CursorUpdate{Position: protocol.Position{Line: 120, Column: 17}}, fuzzNow).Body
	m := peerMsg{Kind: peerCursor, UserID: "user-1a2b3c", Envelope: env, Sent: 1733363000000}
	subject := broker.EventsSubject(fuzzSID)
	ch := make(chan *nats.Msg, 64)
	if _, err := sub.ChanSubscribe(subject, ch); err != nil {
		b.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	header := nats.Header{broker.HeaderInstance: []string{"instance-1"}}
	for _, tc := range []struct {
		name   string
		header nats.Header
	}{{"no-header", nil}, {"instance-header", header}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := pub.PublishMsg(&nats.Msg{Subject: subject, Data: appendPeer(nil, m), Header: tc.header}); err != nil {
					b.Fatal(err)
				}
				msg := <-ch
				if msg.Header.Get(broker.HeaderInstance) == "instance-2" {
					b.Fatal("own message")
				}
				if got, _, err := decodePeer(msg.Data); err != nil || len(got.Envelope) != len(env) {
					b.Fatal(got, err)
				}
			}
		})
	}
}

// TestPresenceSlot: sessions fall into every part of the refresh period,
// evenly enough that no part carries a burst.
func TestPresenceSlot(t *testing.T) {
	const n = 10000
	var count [presenceSlots]int
	for i := range n {
		s := presenceSlot(fmt.Sprintf("s%08x", i*2654435761))
		if s < 0 || s >= presenceSlots {
			t.Fatalf("presenceSlot = %d, want 0..%d", s, presenceSlots-1)
		}
		count[s]++
	}
	for s, c := range count {
		if c < n/presenceSlots/2 || c > 2*n/presenceSlots {
			t.Errorf("slot %d holds %d of %d sessions: %v", s, c, n, count)
		}
	}
}
