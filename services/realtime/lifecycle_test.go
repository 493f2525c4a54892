package realtime_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestShutdown: clients are told to reconnect (1012), their presence goes
// at once, new upgrades get 503, and every goroutine of the service ends.
// It is not parallel, so the goroutine count is this test's alone.
func TestShutdown(t *testing.T) {
	cl := newCluster(t)
	stays, goes := cl.start(), cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	watcher := connectPlain(t, stays.url, user{sid: sid, id: "w", name: "W"})
	plain := connectPlain(t, goes.url, user{sid: sid, id: "p", name: "P"})
	sio, refused := connectSIO(t, goes.url, user{sid: sid, id: "s", name: "S"}, nil)
	if refused != nil {
		t.Fatal(refused)
	}
	waitUsers(t, watcher, "w", "p", "s")
	plain.send(t, protocol.TypeCodeUpdate, fullCode("kept", 0, "k"))
	plain.waitFor(t, protocol.TypeCodeAck)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- goes.svc.Shutdown(ctx) }()

	if code := closeCode(plain.waitClosed(t)); code != websocket.CloseServiceRestart {
		t.Fatalf("plain closed with %d, want 1012", code)
	}
	if code := closeCode(sio.waitClosed(t)); code != websocket.CloseServiceRestart {
		t.Fatalf("socket.io closed with %d, want 1012", code)
	}
	for _, f := range sio.frames {
		if f == "41" {
			t.Fatal("socket.io got DISCONNECT: it would not reconnect")
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	_, resp, err := tryPlain(t, goes.url, user{sid: sid, id: "late", name: "Late"})
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("upgrade after shutdown: %v %s", err, body(resp))
	}
	// Their presence went with them, not by expiry: the other instance saw deletes.
	left := map[string]string{}
	for len(left) < 2 {
		e := watcher.waitFor(t, protocol.TypeUserLeft)
		left[e.UserID] = decode[protocol.UserLeft](t, e.Payload).Reason
	}
	if left["p"] != protocol.LeftDisconnect || left["s"] != protocol.LeftDisconnect {
		t.Fatalf("left %v", left)
	}
	entries, err := presence.Entries(ctx, cl.in.Presence, sid)
	if err != nil || len(entries) != 1 || entries[0].UserID != "w" {
		t.Fatalf("presence after shutdown: %+v %v", entries, err)
	}
	// The engine flushed: the document survives on the other instance.
	again := connectPlain(t, stays.url, user{sid: sid, id: "p", name: "P"})
	if c := decode[protocol.Connected](t, again.waitFor(t, protocol.TypeConnected).Payload); c.Code != "kept" || c.Version != 1 {
		t.Fatalf("connected %+v", c)
	}

	// Nothing of the stopped service runs any more.
	goes.stop(t)
	stays.stop(t)
	deadline := time.Now().Add(waitTimeout)
	for left := serviceGoroutines(); len(left) > 0; left = serviceGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines outlived Shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serviceGoroutines returns the stacks of running goroutines executing
// code of the realtime service, its connections (the epoll reader's waiter
// and workers among them) or its document engine.
func serviceGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "pairpad/services/realtime.") || strings.Contains(g, "pairpad/services/realtime/document.") ||
			strings.Contains(g, "pairpad/services/realtime/internal/wsconn.") {
			out = append(out, g)
		}
	}
	return out
}
