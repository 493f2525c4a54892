package loadgen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// otServer is the protocol's document engine in miniature: it transforms an
// update over what was applied since its version, and answers each client
// in version order through a FIFO queue, so editors can be checked for
// convergence without a network.
type otServer struct {
	texts []string // texts[v] is the document at version v
	ops   []ot.Op  // ops[v-1] turned texts[v-1] into texts[v]
}

// syncRequest marks a client's request for a sync in the simulation's
// inbound queue.
const syncRequest = "sync?"

type simMsg struct {
	ack    *protocol.CodeAck
	update *protocol.CodeUpdate
	sync   *protocol.Sync // a catch-up: the server's state instead of queued updates
}

func (s *otServer) apply(t *testing.T, upd protocol.CodeUpdate) ot.Op {
	t.Helper()
	base := s.texts[upd.Version]
	var op ot.Op
	if upd.Delta.FullCode != nil {
		op = ot.Diff(base, *upd.Delta.FullCode)
	} else {
		var err error
		if op, err = ot.Decode(upd.Delta.Ops); err != nil {
			t.Fatalf("server: decode ops: %v", err)
		}
	}
	for _, applied := range s.ops[upd.Version:] {
		var err error
		if _, op, err = ot.Transform(applied, op); err != nil {
			t.Fatalf("server: transform: %v", err)
		}
	}
	text, err := ot.Apply(s.texts[len(s.texts)-1], op)
	if err != nil {
		t.Fatalf("server: apply: %v", err)
	}
	s.texts = append(s.texts, text)
	s.ops = append(s.ops, op)
	return op
}

func TestEditorConverges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ops     bool
		clients int
		seed    uint64
		queue   int // > 0: a client's queue past this is caught up with a sync, as the server does
	}{
		{"ops, 2 clients", true, 2, 1, 0},
		{"ops, 5 clients", true, 5, 2, 0},
		{"fullCode, 2 clients", false, 2, 3, 0},
		{"fullCode, 5 clients", false, 5, 4, 0},
		{"fullCode, 8 clients", false, 8, 5, 0},
		{"ops, 5 clients, catch-ups", true, 5, 6, 6},
		{"fullCode, 8 clients, catch-ups", false, 8, 7, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 99))
			srv := &otServer{texts: []string{""}}
			eds := make([]*editor, tc.clients)
			inbound := make([][]protocol.CodeUpdate, tc.clients) // client → server, FIFO
			outbound := make([][]simMsg, tc.clients)             // server → client, FIFO
			for i := range eds {
				eds[i] = newEditor(fmt.Sprintf("u%d", i), tc.ops, false)
				eds[i].reset("", 0)
			}
			resyncing := make([]bool, tc.clients) // asked for a sync, ignoring the rest until it comes
			seq := 0
			send := func(i int) {
				if resyncing[i] {
					return
				}
				seq++
				upd, ok, err := eds[i].take(fmt.Sprintf("op%d", seq))
				if err != nil {
					t.Fatalf("take: %v", err)
				}
				if ok {
					inbound[i] = append(inbound[i], upd)
				}
			}
			deliver := func(i int) {
				m := outbound[i][0]
				outbound[i] = outbound[i][1:]
				var err error
				switch {
				case m.sync != nil && resyncing[i]:
					eds[i].reset(m.sync.Code, m.sync.Version)
					resyncing[i] = false
					send(i)
				case resyncing[i]: // the answer brings these
				case m.ack != nil:
					err = eds[i].ack(*m.ack)
					if errors.Is(err, errStaleAck) {
						// A catch-up sync taken as the answer to a
						// resync, before the ack of the update the
						// resync waited for: user.onAck ignores it too.
						err = nil
					}
					if err == nil {
						send(i)
					}
				case m.sync != nil:
					var resync bool
					if resync, err = eds[i].catchUp(m.sync.Code, m.sync.Version); resync {
						// Ask; the answer comes after the outstanding update.
						resyncing[i] = true
						inbound[i] = append(inbound[i], protocol.CodeUpdate{OpID: syncRequest})
					}
				default:
					err = eds[i].remote(*m.update)
				}
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
			}
			// catchUp replaces the updates queued for client i after its
			// last ack by one sync of the latest state, as the server does
			// for a reader whose send queue is full.
			catchUps := 0
			catchUp := func(i int) {
				from := 0
				for k := len(outbound[i]) - 1; k >= 0; k-- {
					if outbound[i][k].ack != nil {
						from = k + 1
						break
					}
				}
				if from == len(outbound[i]) {
					return
				}
				v := int64(len(srv.texts) - 1)
				outbound[i] = append(outbound[i][:from], simMsg{sync: &protocol.Sync{Code: srv.texts[v], Version: v}})
				catchUps++
			}
			process := func(i int) {
				upd := inbound[i][0]
				inbound[i] = inbound[i][1:]
				if upd.OpID == syncRequest {
					v := int64(len(srv.texts) - 1)
					outbound[i] = append(outbound[i], simMsg{sync: &protocol.Sync{Code: srv.texts[v], Version: v}})
					return
				}
				op := srv.apply(t, upd)
				v := int64(len(srv.texts) - 1)
				for j := range eds {
					if j == i {
						outbound[j] = append(outbound[j], simMsg{ack: &protocol.CodeAck{Version: v, OpID: upd.OpID}})
						continue
					}
					out := protocol.CodeUpdate{Version: v, OpID: upd.OpID}
					if tc.ops {
						raw, err := op.MarshalJSON()
						if err != nil {
							t.Fatal(err)
						}
						out.Delta.Ops = raw
					} else {
						text := srv.texts[v]
						out.Delta.FullCode = &text
					}
					outbound[j] = append(outbound[j], simMsg{update: &out})
					if tc.queue > 0 && len(outbound[j]) > tc.queue {
						catchUp(j)
					}
				}
			}
			for step := 0; step < 3000; step++ {
				i := rng.IntN(tc.clients)
				switch r := rng.IntN(3); {
				case r == 0 && step < 2400:
					if err := eds[i].edit(); err != nil {
						t.Fatalf("edit: %v", err)
					}
					send(i)
				case r == 1 && len(inbound[i]) > 0:
					process(i)
				case len(outbound[i]) > 0:
					deliver(i)
				}
			}
			for busy := true; busy; {
				busy = false
				for i := range eds {
					for len(inbound[i]) > 0 {
						process(i)
						busy = true
					}
					for len(outbound[i]) > 0 {
						deliver(i)
						busy = true
					}
				}
			}
			if tc.queue > 0 && catchUps == 0 {
				t.Fatal("no client was caught up: the simulation did not exercise the sync")
			}
			final := srv.texts[len(srv.texts)-1]
			if len(srv.texts) < 100 {
				t.Fatalf("only %d versions: the simulation did not exercise concurrency", len(srv.texts))
			}
			for i, e := range eds {
				if e.text != final || e.rev != int64(len(srv.texts)-1) || e.pending() {
					t.Fatalf("client %d at v%d (pending %v) holds %q, server at v%d holds %q",
						i, e.rev, e.pending(), e.text, len(srv.texts)-1, final)
				}
				if !strings.Contains(final, e.tag) {
					t.Errorf("client %d's line %q is missing from %q", i, e.tag, final)
				}
			}
		})
	}
}

func TestEditorKeepsItsLineShort(t *testing.T) {
	e := newEditor("u1", true, false)
	e.reset("", 0)
	for range 500 {
		if err := e.edit(); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.text) > len(e.tag)+maxTyped+3 {
		t.Errorf("after 500 keystrokes the text is %d bytes: %q", len(e.text), e.text)
	}
	if strings.Count(e.text, "\n") != 1 || !strings.HasPrefix(e.text, "// u1: ") {
		t.Errorf("text %q is not one line of u1", e.text)
	}
}

func TestEditorLegacySendsOnlyAfterAnEdit(t *testing.T) {
	e := newEditor("u1", false, true)
	e.reset("x", 3)
	if _, ok, _ := e.take("a"); ok {
		t.Fatal("legacy editor sent without an edit")
	}
	if err := e.edit(); err != nil {
		t.Fatal(err)
	}
	upd, ok, err := e.take("b")
	if err != nil || !ok || upd.Delta.FullCode == nil || upd.Version != 3 {
		t.Fatalf("take after edit = %+v, %v, %v", upd, ok, err)
	}
	if _, ok, _ := e.take("c"); ok {
		t.Fatal("legacy editor sent the same edit twice")
	}
}

// TestEditorRemoteSynchronized: a fullCode update received with nothing
// pending leaves the editor where the diff and apply of the general path
// leave it: at the update's version with its text, the next keystrokes
// built on it.
func TestEditorRemoteSynchronized(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 200 {
		before := randomText(rng)
		after := randomText(rng)
		e := newEditor("lg1", false, false)
		e.reset(before, 4)
		if err := e.remote(protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &after}, Version: 5}); err != nil {
			t.Fatal(err)
		}
		general := newEditor("lg1", false, false)
		general.reset(before, 4)
		if err := general.onTop(ot.Diff(before, after), after, 5); err != nil {
			t.Fatal(err)
		}
		if e.rev != general.rev || e.server != general.server || e.text != general.text || e.text != after {
			t.Fatalf("case %d: remote from %q to %q: v%d %q / %q; the general path: v%d %q / %q",
				i, before, after, e.rev, e.server, e.text, general.rev, general.server, general.text)
		}
		if err := e.edit(); err != nil {
			t.Fatal(err)
		}
		upd, ok, err := e.take("op")
		if err != nil || !ok || upd.Version != 5 {
			t.Fatalf("case %d: the next update: %+v, %v, %v", i, upd, ok, err)
		}
	}
}

// randomText is a short document of a few lines, sometimes empty.
func randomText(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(4) {
		fmt.Fprintf(&b, "// lg%d: %s\n", rng.IntN(5), alphabet[:rng.IntN(len(alphabet))])
	}
	if rng.IntN(3) == 0 {
		b.WriteString("tail without a newline é")
	}
	return b.String()
}
