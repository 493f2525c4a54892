//go:build unix

package realtime_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestFloodWithoutReading: a client that floods beyond its budget and does
// not read its refusals fills its send queue with them. It is cut off as a
// flooder (last error with details.disconnect, close 1008,
// flood_disconnects_total), not as a slow consumer (TCP reset, 1006). The
// client's socket has a small receive buffer and asks for large syncs first
// (7.5 MB, more than a socket's send buffer takes: 4 MB at most), so the
// server's writes block; the clock is frozen, so the refusals alone can never
// exhaust the flood tolerance (30 × 20) in this test: only the full queue
// can end it. Whatever the machine's speed, the answers within the budget
// fit the queue (48 frames), however many of them the writer has taken
// when it blocks, and the blocked write never times out (WS_WRITE_TIMEOUT):
// either would make the client a slow consumer.
func TestFloodWithoutReading(t *testing.T) {
	t.Parallel()
	const budget = 30
	cl := newCluster(t)
	clk := &clock{t: time.Now()}
	inst := cl.start(instanceOpts{now: clk.now, env: map[string]string{
		"WS_EVENTS_PER_SECOND": strconv.Itoa(budget), "WS_SEND_QUEUE": "48", "WS_WRITE_TIMEOUT": "1h",
		"PRESENCE_TIMEOUT": "30s"}})
	sid := cl.newSession(protocol.LangPython).ID
	w := connectPlain(t, inst.url, user{sid: sid, id: "writer", name: "Writer"})
	w.waitFor(t, protocol.TypeConnected)
	w.send(t, protocol.TypeCodeUpdate, fullCode(strings.Repeat("x", 250_000), 0, "big"))
	w.waitFor(t, protocol.TypeCodeAck)

	ws := dialSmallBuffer(t, inst.url+"/ws?"+user{sid: sid, id: "flooder", name: "Flooder"}.values().Encode())
	// 30 syncs of 250 KB (the whole budget), then 130 frames beyond it:
	// refused, under the 600 strikes of the flood tolerance. Nothing is read.
	for i := 0; i < budget+130; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"sync"}`)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// The bound only ends a hung test: the reader has megabytes of syncs
	// to build first, which takes long on a busy machine.
	within(t, 6*waitTimeout, "the flooder to be cut off", func() bool {
		return counter(t, inst.reg, "pairpad_realtime_flood_disconnects_total")+
			counter(t, inst.reg, "pairpad_realtime_slow_consumers_total") > 0
	})
	if n := counter(t, inst.reg, "pairpad_realtime_slow_consumers_total"); n != 0 {
		t.Fatalf("the flooder was cut off as a slow consumer (%v), not for flooding", n)
	}
	// Now read what was sent: syncs, refusals, the last error, 1008. The
	// deadline is per frame: megabytes take long to read on a busy machine.
	var last protocol.ErrorPayload
	for {
		_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
		_, data, err := ws.ReadMessage()
		if err != nil {
			if code := closeCode(err); code != websocket.ClosePolicyViolation {
				t.Fatalf("closed with %d (%v), want 1008", code, err)
			}
			break
		}
		var env protocol.Envelope
		if json.Unmarshal(data, &env) == nil && env.Type == protocol.TypeError {
			last = decode[protocol.ErrorPayload](t, env.Payload)
		}
	}
	if last.Error != protocol.CodeRateLimited || last.Details["disconnect"] != true {
		t.Fatalf("last error %+v, want RATE_LIMIT_EXCEEDED with details.disconnect", last)
	}
	e := w.waitFor(t, protocol.TypeUserLeft)
	if l := decode[protocol.UserLeft](t, e.Payload); e.UserID != "flooder" || l.Reason != protocol.LeftDisconnect {
		t.Fatalf("user-left %s %+v", e.UserID, l)
	}
}
