package realtime_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// otClient is the usual OT client (synchronized, awaiting ack, awaiting ack
// with a buffer) over a test client in ops format. It only works if the
// server sends code-updates and the client's own code-acks in version order.
type otClient struct {
	c       *wsClient
	name    string
	doc     string
	version int64
	pending ot.Op // sent, not acknowledged
	buffer  ot.Op // edited since, not sent
	sent    int   // code-updates sent
	acked   int   // code-acks received
}

func (o *otClient) edit(t testing.TB, r *rand.Rand) {
	t.Helper()
	n := ot.UTF16Len(o.doc)
	pos := r.IntN(n + 1)
	var op ot.Op
	if n > 0 && r.IntN(4) == 0 {
		del := 1 + r.IntN(min(3, n-pos+1))
		if pos+del > n {
			pos = n - del
		}
		op = ot.Op{ot.Retain(pos), ot.Delete(del), ot.Retain(n - pos - del)}
	} else {
		op = ot.Op{ot.Retain(pos), ot.Insert(fmt.Sprintf("%s%d;", o.name, o.sent)), ot.Retain(n - pos)}
	}
	op = op.Normalize()
	doc, err := ot.Apply(o.doc, op)
	if err != nil {
		t.Fatalf("%s: local edit: %v", o.name, err)
	}
	o.doc = doc
	switch {
	case o.pending == nil:
		o.send(t, op)
	case o.buffer == nil:
		o.buffer = op
	default:
		if o.buffer, err = ot.Compose(o.buffer, op); err != nil {
			t.Fatal(err)
		}
	}
}

func (o *otClient) send(t testing.TB, op ot.Op) {
	t.Helper()
	o.pending = op
	o.sent++
	o.c.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": op}, "version": o.version,
		"opId": fmt.Sprintf("%s-%d", o.name, o.sent)})
}

// receive handles what arrived; it reports whether anything did.
func (o *otClient) receive(t testing.TB) bool {
	t.Helper()
	events := o.c.unread()
	for _, e := range events {
		switch e.Type {
		case protocol.TypeCodeAck:
			a := decode[protocol.CodeAck](t, e.Payload)
			if a.Version != o.version+1 {
				t.Fatalf("%s: ack of version %d at version %d", o.name, a.Version, o.version)
			}
			o.version, o.pending = a.Version, nil
			o.acked++
			if o.buffer != nil {
				b := o.buffer
				o.buffer = nil
				o.send(t, b)
			}
		case protocol.TypeCodeUpdate:
			u := decode[codeUpdateOut](t, e.Payload)
			if u.Version != o.version+1 {
				t.Fatalf("%s: update %d at version %d", o.name, u.Version, o.version)
			}
			s, err := ot.Decode(u.Delta.Ops)
			if err != nil {
				t.Fatal(err)
			}
			if o.pending != nil {
				if s, o.pending, err = ot.Transform(s, o.pending); err != nil {
					t.Fatal(err)
				}
			}
			if o.buffer != nil {
				if s, o.buffer, err = ot.Transform(s, o.buffer); err != nil {
					t.Fatal(err)
				}
			}
			if o.doc, err = ot.Apply(o.doc, s); err != nil {
				t.Fatalf("%s: apply version %d: %v", o.name, u.Version, err)
			}
			o.version = u.Version
		case protocol.TypeError:
			t.Fatalf("%s: error %s", o.name, e.Payload)
		}
	}
	return len(events) > 0
}

// TestConvergence: clients on two instances edit concurrently with an OT
// client each; everyone ends on the server's text.
func TestConvergence(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	one, two := cl.start(), cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	q := map[string][]string{"deltaFormat": {"ops"}}
	var clients []*otClient
	for i, inst := range []*instance{one, two, one} {
		name := string(rune('a' + i))
		c := connectPlain(t, inst.url, user{sid: sid, id: name, name: name, query: q})
		c.waitFor(t, protocol.TypeConnected)
		clients = append(clients, &otClient{c: c, name: name})
	}
	r := rand.New(rand.NewPCG(1, 2))
	const edits = 25
	for round := 0; round < edits; round++ {
		for _, o := range clients {
			o.receive(t)
			o.edit(t, r)
		}
		time.Sleep(time.Duration(r.IntN(15)) * time.Millisecond)
	}
	// Drain: every edit acknowledged, then everyone at the same version.
	within(t, waitTimeout, "every edit to be acknowledged", func() bool {
		busy := false
		for _, o := range clients {
			o.receive(t)
			busy = busy || o.pending != nil || o.buffer != nil
		}
		return !busy
	})
	observer := connectPlain(t, two.url, user{sid: sid, id: "a", name: "a"}) // another tab: the session is full
	final := decode[protocol.Connected](t, observer.waitFor(t, protocol.TypeConnected).Payload)
	within(t, waitTimeout, "every client at the final version", func() bool {
		for _, o := range clients {
			o.receive(t)
			if o.version != final.Version {
				return false
			}
		}
		return true
	})
	for _, o := range clients {
		if o.doc != final.Code {
			t.Fatalf("%s diverged:\n got %q\nwant %q", o.name, o.doc, final.Code)
		}
	}
	// How many local edits a client composes into one code-update depends
	// on how fast acks come back; what does not is that every code-update
	// sent is acknowledged with exactly one version.
	sent := 0
	for _, o := range clients {
		if o.acked != o.sent {
			t.Fatalf("%s: %d code-updates sent, %d acknowledged", o.name, o.sent, o.acked)
		}
		sent += o.sent
	}
	if final.Version != int64(sent) {
		t.Fatalf("final version %d after %d acknowledged code-updates", final.Version, sent)
	}
}
