//go:build unix

package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// dialSmallBuffer dials a WebSocket whose socket has a 4 KiB receive
// buffer, so a client that stops reading makes the server's writes block
// after a few megabytes at most.
func dialSmallBuffer(t testing.TB, rawURL string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			if err != nil {
				return err
			}
			return serr
		}}
		return nd.DialContext(ctx, network, addr)
	}}
	ws, _, err := d.Dial(rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// TestLaggingReaderCaughtUp: a reader that reads far slower than another
// user edits a large document fills its send queue (WS_SEND_QUEUE 8) with
// code-updates. It is caught up instead of cut off: the queued updates are
// replaced by one sync of the document, its versions stay consecutive up
// to that sync, and once it reads again it converges on the document;
// another user's cursor-updates queued meanwhile collapse to the newest.
// The reader's socket has a small receive buffer and the updates are
// 250 KB each, so the server's writes block after a few of them.
func TestLaggingReaderCaughtUp(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	// A long write timeout: on a busy machine the reader may wait long
	// for the next frame it reads, and must not be cut off for it.
	inst := cl.start(instanceOpts{env: map[string]string{"WS_SEND_QUEUE": "8", "PRESENCE_TIMEOUT": "90s",
		"WS_WRITE_TIMEOUT": "5m"}})
	sid := cl.newSession(protocol.LangPython).ID
	w := connectPlain(t, inst.url, user{sid: sid, id: "writer", name: "Writer"})
	w.waitFor(t, protocol.TypeConnected)
	c := connectPlain(t, inst.url, user{sid: sid, id: "pointer", name: "Pointer"})
	c.waitFor(t, protocol.TypeConnected)

	lag := dialSmallBuffer(t, inst.url+"/ws?"+user{sid: sid, id: "lagger", name: "Lagger"}.values().Encode())
	read := func() protocol.Envelope {
		t.Helper()
		_ = lag.SetReadDeadline(time.Now().Add(waitTimeout)) // per frame: megabytes take a while on a busy machine
		_, data, err := lag.ReadMessage()
		if err != nil {
			t.Fatalf("the lagging reader's connection: %v", err)
		}
		var env protocol.Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatalf("frame %.100s: %v", data, err)
		}
		return env
	}
	var text string
	var version int64
	for env := read(); ; env = read() {
		if env.Type == protocol.TypeConnected {
			p := decode[protocol.Connected](t, env.Payload)
			text, version = p.Code, p.Version
			break
		}
	}
	w.await(t, "the lagging reader's arrival", func(e protocol.Envelope) bool {
		return e.Type == protocol.TypeUserJoined && e.UserID == "lagger"
	})

	// What the lagging reader reads: consecutive versions up to a sync,
	// syncs it never asked for, and the other user's cursor-updates.
	syncs, cursors := 0, 0
	var last protocol.CursorUpdate
	consume := func(env protocol.Envelope) {
		t.Helper()
		switch env.Type {
		case protocol.TypeCodeUpdate:
			u := decode[codeUpdateOut](t, env.Payload)
			if u.Version != version+1 {
				t.Fatalf("code-update %d at version %d", u.Version, version)
			}
			text, version = *u.Delta.FullCode, u.Version
		case protocol.TypeSync:
			s := decode[protocol.Sync](t, env.Payload)
			if s.Version < version {
				t.Fatalf("sync at version %d after version %d", s.Version, version)
			}
			text, version = s.Code, s.Version
			syncs++
		case protocol.TypeCursorUpdate:
			if env.UserID == "pointer" {
				cursors++
				last = decode[protocol.CursorUpdate](t, env.Payload)
			}
		case protocol.TypeError:
			t.Fatalf("error %s", env.Payload)
		}
	}

	// A 250 KB document, then 40 updates of one character each, sent
	// without waiting (only the writer edits, so update i lands at
	// version i+1); the lagging reader gets each as its fullCode, 250 KB.
	// It reads one frame for every four updates: its queue grows and is
	// caught up.
	big := strings.Repeat("x", 250_000)
	w.send(t, protocol.TypeCodeUpdate, fullCode(big, 0, "big"))
	w.waitFor(t, protocol.TypeCodeAck)
	final := big
	sent := int64(1)
	edit := func() {
		t.Helper()
		op := ot.Op{ot.Retain(ot.UTF16Len(final)), ot.Insert("a")}
		final += "a"
		w.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": op}, "version": sent,
			"opId": fmt.Sprintf("op-%d", sent)})
		sent++
	}
	acked := func() {
		t.Helper()
		a := decode[protocol.CodeAck](t, w.waitFor(t, protocol.TypeCodeAck).Payload)
		if a.Version > sent {
			t.Fatalf("ack at version %d after %d updates", a.Version, sent)
		}
	}
	for range 40 {
		edit()
	}
	for i := range 40 {
		acked()
		if i%4 == 3 {
			consume(read())
		}
	}
	within(t, waitTimeout, "a catch-up", func() bool {
		return counter(t, inst.reg, "pairpad_realtime_catchups_total") > 0
	})
	// Then it stops reading; more updates until the next catch-up, which
	// means its queue is full and its writer blocked.
	before := counter(t, inst.reg, "pairpad_realtime_catchups_total")
	for counter(t, inst.reg, "pairpad_realtime_catchups_total") == before {
		if sent > 200 {
			t.Fatal("no catch-up after 200 updates")
		}
		edit()
		acked()
	}
	edits := sent
	// The queue was full and nothing is read now, so its writer is
	// blocked: these cursor-updates wait in the queue together and
	// collapse.
	const moves = 10
	for i := range moves {
		c.send(t, protocol.TypeCursorUpdate, map[string]any{"position": map[string]any{"line": 0, "column": i}})
	}
	w.await(t, "the last cursor move", func(e protocol.Envelope) bool {
		return e.Type == protocol.TypeCursorUpdate && decode[protocol.CursorUpdate](t, e.Payload).Position.Column == moves-1
	})
	if n := counter(t, inst.reg, "pairpad_realtime_slow_consumers_total"); n != 0 {
		t.Fatalf("%v slow consumers cut off", n)
	}
	// Now it reads everything: the document, and one cursor-update.
	for version < edits || cursors == 0 {
		consume(read())
	}
	if syncs == 0 || text != final {
		t.Fatalf("%d syncs; at version %d the text ends in %q, want %q", syncs, version, text[len(text)-8:], final[len(final)-8:])
	}
	if cursors != 1 || last.Position.Column != moves-1 {
		t.Fatalf("%d cursor-updates, the last at column %d: want 1, the newest (%d)", cursors, last.Position.Column, moves-1)
	}
	// And it is still connected: its cursor reaches the others.
	if err := lag.WriteMessage(websocket.TextMessage, []byte(`{"type":"cursor-update","payload":{"position":{"line":0,"column":3}}}`)); err != nil {
		t.Fatal(err)
	}
	w.await(t, "the lagging reader's cursor", func(e protocol.Envelope) bool {
		return e.Type == protocol.TypeCursorUpdate && e.UserID == "lagger"
	})
	if _, left := w.find(protocol.TypeUserLeft); left {
		t.Fatal("the lagging reader left")
	}
}
