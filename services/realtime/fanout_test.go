package realtime_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/protocol"
)

// BenchmarkInterview is one round of interview-light on a real instance
// (embedded JetStream, real WebSockets): alice sends a fullCode
// code-update of a 2.9 KB text, bob and carol each move their cursor, and
// the round ends when all seven frames have arrived (alice's code-ack and
// the two cursor moves, bob's and carol's code-update and the other's
// cursor move). The clients only find each frame's type, so what is timed
// and counted is mostly the server's: the CPU, bytes and objects one
// code-update costs with its share of cursor moves.
func BenchmarkInterview(b *testing.B) {
	cl := newCluster(b)
	clk := &clock{t: time.Now()}
	inst := cl.start(instanceOpts{now: clk.now})
	sid := cl.newSession(protocol.LangPython).ID
	got := make(chan struct{}, 64)
	dial := func(id string) *websocket.Conn {
		ws, resp, err := dialRaw(b, inst.url+"/ws?"+user{sid: sid, id: id, name: id}.values().Encode(), nil)
		if err != nil {
			b.Fatalf("dial %s: %v (%s)", id, err, body(resp))
		}
		b.Cleanup(func() { _ = ws.Close() })
		_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
		for { // joined: in the room's connections
			_, data, err := ws.ReadMessage()
			if err != nil {
				b.Fatalf("%s: no connected event: %v", id, err)
			}
			if bytes.Contains(data, []byte(`"type":"connected"`)) {
				break
			}
		}
		_ = ws.SetReadDeadline(time.Time{})
		return ws
	}
	counted := [][]byte{[]byte(`"type":"code-ack"`), []byte(`"type":"code-update"`), []byte(`"type":"cursor-update"`)}
	read := func(ws *websocket.Conn) {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			head := data[:min(len(data), 32)]
			for _, c := range counted {
				if bytes.Contains(head, c) {
					got <- struct{}{}
				}
			}
		}
	}
	alice, bob, carol := dial("alice"), dial("bob"), dial("carol")
	for _, ws := range []*websocket.Conn{alice, bob, carol} {
		go read(ws)
	}
	send := func(ws *websocket.Conn, s string) {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			b.Fatal(err)
		}
	}
	wait := func(n int) {
		t := time.NewTimer(waitTimeout)
		defer t.Stop()
		for range n {
			select {
			case <-got:
			case <-t.C:
				b.Fatal("a round's frames did not all arrive")
			}
		}
	}
	text := []byte(strings.Repeat("def f(x):\n    return x * 2  # a line of code\n", 66)[:2900])
	cursor := func(line int) string {
		return fmt.Sprintf(`{"type":"cursor-update","payload":{"position":{"line":%d,"column":4}}}`, line)
	}
	version := int64(0)
	round := func() {
		clk.advance(200 * time.Millisecond) // under every event's rate limit
		text[version%int64(len(text))] = 'a' + byte(version%26)
		send(alice, fmt.Sprintf(`{"type":"code-update","payload":{"delta":{"fullCode":%q},"version":%d,"opId":"op-%d"}}`,
			text, version, version))
		send(bob, cursor(int(version%40)))
		send(carol, cursor(int(version%40)+1))
		wait(7)
		version++
	}
	round() // the document is open and every connection has written
	b.ReportAllocs()
	before := cpuTime()
	b.ResetTimer()
	for range b.N {
		round()
	}
	b.StopTimer()
	// The clients are in it too, but they do the same work on either side of a comparison.
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op")
}
