package realtime_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// interleave returns n copies of [1, s] followed by a retain of rest (when
// rest > 0): an op with about 2n components on a text of n+rest units.
func interleave(n int, s string, rest int) []any {
	out := make([]any, 0, 2*n+1)
	for range n {
		out = append(out, 1, s)
	}
	if rest > 0 {
		out = append(out, rest)
	}
	return out
}

// TestTransformBudget: an update whose transform work (its components and
// those of the versions it is behind) passes DOC_TRANSFORM_BUDGET is
// refused with INVALID_PAYLOAD naming the reason and answered with a sync,
// whether the estimate refuses it at once (many components) or the work
// counted while transforming does (a small op over heavy versions); an
// update within the budget is transformed and applied.
func TestTransformBudget(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start(instanceOpts{env: map[string]string{"DOC_TRANSFORM_BUDGET": "500"}})
	sid := cl.newSession(protocol.LangPython).ID
	a := connectPlain(t, inst.url, user{sid: sid, id: "a", name: "A"})
	a.waitFor(t, protocol.TypeConnected)
	a.send(t, protocol.TypeCodeUpdate, fullCode("0123456789", 0, "base"))
	a.waitFor(t, protocol.TypeCodeAck)
	// 30 versions of 21 components each.
	for v := int64(1); v <= 30; v++ {
		a.send(t, protocol.TypeCodeUpdate, opsUpdate(v, fmt.Sprintf("h%d", v), interleave(10, "x", int(v-1)*10)...))
		if ack := decode[protocol.CodeAck](t, a.waitFor(t, protocol.TypeCodeAck).Payload); ack.Version != v+1 {
			t.Fatalf("ack %+v", ack)
		}
	}
	refused := func(what, opID string) {
		t.Helper()
		e := a.waitError(t)
		if e.Error != protocol.CodeInvalidPayload || e.Details["reason"] != "transform-budget" || e.Details["opId"] != opID ||
			e.Details["sync"] != true {
			t.Fatalf("%s: %+v", what, e)
		}
		if s := decode[protocol.Sync](t, a.waitFor(t, protocol.TypeSync).Payload); s.Version != 31 {
			t.Fatalf("%s: the sync after the refusal is at version %d, want 31", what, s.Version)
		}
	}
	// 20 components, 30 versions behind: at least 30 × 21 > 500.
	a.send(t, protocol.TypeCodeUpdate, opsUpdate(1, "wide", interleave(10, "y", 0)...))
	refused("many components", "wide")
	// 2 components, but over 30 versions of 21: about 30 × 23 counted.
	a.send(t, protocol.TypeCodeUpdate, opsUpdate(1, "deep", 10, "z"))
	refused("heavy versions", "deep")
	// One version behind is cheap.
	a.send(t, protocol.TypeCodeUpdate, opsUpdate(30, "near", 300, "w"))
	if ack := decode[protocol.CodeAck](t, a.waitFor(t, protocol.TypeCodeAck).Payload); ack.Version != 32 || ack.OpID != "near" {
		t.Fatalf("ack %+v", ack)
	}
	a.send(t, protocol.TypeSync, nil)
	if s := decode[protocol.Sync](t, a.waitFor(t, protocol.TypeSync).Payload); s.Version != 32 || strings.ContainsAny(s.Code, "yz") {
		t.Fatalf("sync %+v: a refused update was applied", s)
	}
}

// TestClosedConnectionDropsQueuedWork: a client sends a burst of stale,
// expensive updates and closes at once. What was still queued when it went
// is dropped, never applied nor acknowledged (counted in
// pairpad_realtime_dropped_events_total); what had started completes.
func TestClosedConnectionDropsQueuedWork(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	// A long keepalive: a answers pings (its reader's pong), but on a busy
	// machine under -race the heavy transforms and a's big code-updates
	// ahead of a ping can hold its pong past the usual 2 s window.
	inst := cl.start(instanceOpts{env: map[string]string{"PRESENCE_TIMEOUT": "30s"}})
	sid := cl.newSession(protocol.LangPython).ID
	a := connectPlain(t, inst.url, user{sid: sid, id: "a", name: "A"})
	a.waitFor(t, protocol.TypeConnected)
	a.send(t, protocol.TypeCodeUpdate, fullCode(strings.Repeat("a", 4000), 0, "base"))
	a.waitFor(t, protocol.TypeCodeAck)
	// 10 versions of about 8,000 components each.
	n := 4000
	for v := int64(1); v <= 10; v++ {
		a.send(t, protocol.TypeCodeUpdate, opsUpdate(v, fmt.Sprintf("h%d", v), interleave(4000, "y", n-4000)...))
		a.waitFor(t, protocol.TypeCodeAck)
		n += 4000
	}
	// Each stale update costs some 10 × 16,000 component steps.
	const burst = 30
	b := connectPlain(t, inst.url, user{sid: sid, id: "b", name: "B"})
	b.waitFor(t, protocol.TypeConnected)
	for i := range burst {
		b.send(t, protocol.TypeCodeUpdate, opsUpdate(1, fmt.Sprintf("s%d", i), interleave(4000, "z", 0)...))
	}
	b.leave(websocket.CloseNormalClosure)

	// Every update is either handled (a sees it) or dropped (counted); how
	// many of each depends on how far the submitter got before the close,
	// and the drops may be counted one by one, so wait for the sum.
	dropped := func() int { return int(counter(t, inst.reg, "pairpad_realtime_dropped_events_total")) }
	// Each handled update is expensive on purpose: on a busy machine they take long.
	within(t, 6*waitTimeout, "every queued update handled or dropped", func() bool {
		return a.count(protocol.TypeCodeUpdate)+dropped() >= burst
	})
	ran, d := a.count(protocol.TypeCodeUpdate), dropped()
	if ran < 1 || d < 1 || ran+d != burst {
		t.Fatalf("%d dropped, %d handled, of %d", d, ran, burst)
	}
	time.Sleep(200 * time.Millisecond) // a dropped update would arrive by now
	if got := a.count(protocol.TypeCodeUpdate); got != ran {
		t.Fatalf("%d updates of the closed connection applied, want the %d handled (%d dropped)", got, ran, d)
	}
	t.Logf("%d of %d queued updates dropped when the connection closed", d, burst)
}
