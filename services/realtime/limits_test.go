package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestRateLimits: over a per-user limit an event is refused with
// RATE_LIMIT_EXCEEDED, not applied and not broadcast. The clock is frozen,
// so buckets refill only when the test says so.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	clk := &clock{t: time.Now()}
	inst := cl.start(instanceOpts{now: clk.now})
	sid := cl.newSession(protocol.LangPython).ID
	a := connectPlain(t, inst.url, user{sid: sid, id: "a", name: "A"})
	b := connectPlain(t, inst.url, user{sid: sid, id: "b", name: "B"})
	waitUsers(t, a, "a", "b")

	t.Run("cursor 10/s", func(t *testing.T) {
		for i := 0; i < 11; i++ {
			a.send(t, protocol.TypeCursorUpdate, map[string]any{"position": map[string]any{"line": i, "column": 0}})
		}
		e := a.waitError(t)
		if e.Error != protocol.CodeRateLimited || e.Details["type"] != protocol.TypeCursorUpdate {
			t.Fatalf("got %+v", e)
		}
		a.send(t, protocol.TypeSync, nil) // a marker: everything before it was handled
		a.waitFor(t, protocol.TypeSync)
		// Cursors still queued for b collapse to the newest, so b gets
		// from 1 to 10 of them: the tenth (line 9) last, the eleventh never.
		b.await(t, "the tenth cursor", func(e protocol.Envelope) bool {
			return e.Type == protocol.TypeCursorUpdate && decode[protocol.CursorUpdate](t, e.Payload).Position.Line == 9
		})
		time.Sleep(100 * time.Millisecond)
		if n := b.count(protocol.TypeCursorUpdate); n > 10 {
			t.Fatalf("b got %d cursors, want at most 10", n)
		}
		if e, _ := b.last(protocol.TypeCursorUpdate); decode[protocol.CursorUpdate](t, e.Payload).Position.Line != 9 {
			t.Fatalf("b's last cursor is %s, want line 9", e.Payload)
		}
	})

	t.Run("code 50/s", func(t *testing.T) {
		for i := 0; i < 51; i++ {
			a.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": []any{"x"}}, "version": 0, "opId": fmt.Sprintf("c%d", i)})
		}
		e := a.waitError(t)
		if e.Error != protocol.CodeRateLimited || e.Details["opId"] != "c50" || e.Details["type"] != protocol.TypeCodeUpdate {
			t.Fatalf("got %+v", e)
		}
		a.send(t, protocol.TypeSync, nil)
		if s := decode[protocol.Sync](t, a.waitFor(t, protocol.TypeSync).Payload); s.Version != 50 || len(s.Code) != 50 {
			t.Fatalf("sync %+v, want version 50", s)
		}
		if n := a.count(protocol.TypeCodeAck); n != 50 {
			t.Fatalf("%d acks, want 50", n)
		}
		within(t, waitTimeout, "50 updates", func() bool { return b.count(protocol.TypeCodeUpdate) == 50 })
		clk.advance(time.Second) // the bucket refills
		a.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": []any{50, "y"}}, "version": 50, "opId": "after"})
		a.await(t, "ack of the update after the refill", func(e protocol.Envelope) bool {
			return e.Type == protocol.TypeCodeAck && decode[protocol.CodeAck](t, e.Payload).OpID == "after"
		})
		within(t, waitTimeout, "the 51st update", func() bool { return b.count(protocol.TypeCodeUpdate) == 51 })
	})

	t.Run("language 1 per 5s", func(t *testing.T) {
		a.send(t, protocol.TypeLanguageChanged, "typescript")
		a.send(t, protocol.TypeLanguageChanged, "javascript")
		if e := a.waitError(t); e.Error != protocol.CodeRateLimited || e.Details["type"] != protocol.TypeLanguageChanged {
			t.Fatalf("got %+v", e)
		}
		if l := decode[protocol.Language](t, b.waitFor(t, protocol.TypeLanguageChanged).Payload); l != protocol.LangTypeScript {
			t.Fatalf("language %q", l)
		}
		clk.advance(5 * time.Second)
		a.send(t, protocol.TypeLanguageChanged, "javascript")
		if l := decode[protocol.Language](t, b.waitFor(t, protocol.TypeLanguageChanged).Payload); l != protocol.LangJavaScript {
			t.Fatalf("language %q", l)
		}
	})
}

// TestSlowConsumer: a client that stops reading altogether is caught up
// while its send queue is full, and cut off (slow_consumers_total) once
// its writer makes no progress for WS_WRITE_TIMEOUT, while the others keep
// receiving every update in order.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	// A long keepalive, so the silent client is cut off by its blocked writer, not by a missed pong.
	inst := cl.start(instanceOpts{env: map[string]string{"WS_SEND_QUEUE": "8", "PRESENCE_TIMEOUT": "90s",
		"WS_WRITE_TIMEOUT": "2s"}})
	sid := cl.newSession(protocol.LangPython).ID
	writer := connectPlain(t, inst.url, user{sid: sid, id: "w", name: "W"})
	reader := connectPlain(t, inst.url, user{sid: sid, id: "r", name: "R", query: map[string][]string{"deltaFormat": {"ops"}}})

	d := websocket.Dialer{HandshakeTimeout: waitTimeout, NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	silent, _, err := d.Dial(inst.url+"/ws?"+user{sid: sid, id: "s", name: "S"}.values().Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitUsers(t, writer, "w", "r", "s")

	// The first update makes the document 192 KiB; each next one appends a
	// character, and the silent client (fullCode) is sent the whole text
	// every time until the kernel buffers and its queue are full. A full
	// queue of code-updates is caught up (replaced by one sync) rather
	// than cut off; what cuts a client that reads nothing at all is its
	// writer, blocked for WS_WRITE_TIMEOUT (2 s here) without progress.
	big := strings.Repeat("0123456789abcdef", 12<<10)
	writer.send(t, protocol.TypeCodeUpdate, fullCode(big, 0, "big"))
	writer.waitFor(t, protocol.TypeCodeAck)
	version := int64(1)
	var e protocol.Envelope
	for gone := false; !gone; version++ {
		if version > 1000 {
			t.Fatal("the silent client was never cut off")
		}
		writer.send(t, protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": []any{len(big) + int(version) - 1, "!"}},
			"version": version, "opId": fmt.Sprintf("u%d", version)})
		writer.waitFor(t, protocol.TypeCodeAck)
		// Stay under 50 updates per second however fast the acks come: 10
		// updates, then a pause, at most 40 per second.
		if version%10 == 0 {
			time.Sleep(250 * time.Millisecond)
		}
		e, gone = writer.find(protocol.TypeUserLeft)
	}
	version--
	t.Logf("the silent client was cut off after %d updates, %v catch-ups", version,
		counter(t, inst.reg, "pairpad_realtime_catchups_total"))
	if l := decode[protocol.UserLeft](t, e.Payload); e.UserID != "s" || l.Reason != protocol.LeftDisconnect {
		t.Fatalf("user-left %s %+v", e.UserID, l)
	}
	// The others got every update, in order.
	for v := int64(1); v <= version; v++ {
		if u := decode[codeUpdateOut](t, reader.waitFor(t, protocol.TypeCodeUpdate).Payload); u.Version != v {
			t.Fatalf("reader got version %d, want %d", u.Version, v)
		}
	}
	if n := counter(t, inst.reg, "pairpad_realtime_slow_consumers_total"); n != 1 {
		t.Fatalf("slow consumers metric %v", n)
	}
	within(t, waitTimeout, "the connection gauge to drop", func() bool {
		return counter(t, inst.reg, "pairpad_realtime_connections") == 2
	})
}

// TestOversizedFrame: a frame over WS_MAX_FRAME_BYTES closes the connection (1009).
func TestOversizedFrame(t *testing.T) {
	t.Parallel()
	forReaders(t, func(t *testing.T, reader string) {
		cl := newCluster(t)
		inst := cl.start(instanceOpts{env: map[string]string{"WS_MAX_FRAME_BYTES": "4096", "WS_READER": reader}})
		sid := cl.newSession(protocol.LangPython).ID
		huge := strings.Repeat("x", 5000)

		p := connectPlain(t, inst.url, user{sid: sid, id: "p", name: "P"})
		p.waitFor(t, protocol.TypeConnected)
		p.send(t, protocol.TypeCodeUpdate, fullCode(huge, 0, "huge"))
		if code := closeCode(p.waitClosed(t)); code != websocket.CloseMessageTooBig {
			t.Fatalf("plain closed with %d, want 1009", code)
		}

		s, refused := connectSIO(t, inst.url, user{sid: sid, id: "s", name: "S"}, nil)
		if refused != nil {
			t.Fatal(refused)
		}
		s.waitFor(t, protocol.TypeConnected)
		s.send(t, protocol.TypeCodeUpdate, fullCode(huge, 0, "huge"))
		s.waitClosed(t)
	})
}

// TestConnectionLimits: per IP and per instance, refused before the upgrade.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	sid := cl.newSession(protocol.LangPython).ID
	tests := []struct {
		env    map[string]string
		status int
		code   protocol.Code
	}{
		{map[string]string{"WS_MAX_CONNECTIONS_PER_IP": "2"}, 429, protocol.CodeTooManyConnections},
		{map[string]string{"WS_MAX_CONNECTIONS": "2"}, 503, protocol.CodeServiceUnavailable},
	}
	for _, tc := range tests {
		inst := cl.start(instanceOpts{env: tc.env})
		connectPlain(t, inst.url, user{sid: sid, id: "a", name: "A"}).waitFor(t, protocol.TypeConnected)
		connectPlain(t, inst.url, user{sid: sid, id: "a", name: "A"}).waitFor(t, protocol.TypeConnected)
		_, resp, err := tryPlain(t, inst.url, user{sid: sid, id: "a", name: "A"})
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			t.Fatalf("%v: third connection: %v %s", tc.env, err, body(resp))
		}
		if b := decode[protocol.ErrorBody](t, readAll(t, resp)); b.Error != tc.code {
			t.Fatalf("%v: body %+v", tc.env, b)
		}
	}
}

// TestMicroAndMetrics: the micro service reports the instance's
// connections and sessions; the metrics count events and refusals.
func TestMicroAndMetrics(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	a := connectPlain(t, inst.url, user{sid: sid, id: "a", name: "A"})
	a.waitFor(t, protocol.TypeConnected)
	a.send(t, protocol.TypeSync, nil)
	a.waitFor(t, protocol.TypeSync)
	a.send(t, protocol.TypeCodeUpdate, fullCode("print(1)", 0, "m1"))
	a.waitFor(t, protocol.TypeCodeAck)
	tryPlain(t, inst.url, user{sid: sid, id: "x", noToken: true})

	msg, err := cl.in.NC.Request("pairpad.realtime.stats", nil, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Instance    string `json:"instance"`
		Connections int    `json:"connections"`
		Sessions    int    `json:"sessions"`
	}
	if err := json.Unmarshal(msg.Data, &st); err != nil || st.Connections != 1 || st.Sessions != 1 || st.Instance != inst.svc.Instance() {
		t.Fatalf("stats %s (%v)", msg.Data, err)
	}
	msg, err = cl.in.NC.Request("pairpad.realtime.sessions", nil, waitTimeout)
	if err != nil || !strings.Contains(string(msg.Data), sid) {
		t.Fatalf("sessions %s (%v)", msg.Data, err)
	}
	for name, min := range map[string]float64{
		"pairpad_realtime_connections":      1,
		"pairpad_realtime_sessions":         1,
		"pairpad_realtime_events_in_total":  1,
		"pairpad_realtime_events_out_total": 2,
		"pairpad_realtime_refusals_total":   1,
		// The edit's window: the text before it and the update.
		"pairpad_realtime_doc_window_bytes": 1,
		// The same, the text and the opId index.
		"pairpad_realtime_doc_memory_bytes": 1,
	} {
		if got := counter(t, inst.reg, name); got < min {
			t.Errorf("%s = %v, want at least %v", name, got, min)
		}
	}
}

// counter sums every series of a metric family.
func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// TestFullOpLog: with the SESSION_OPS stream at its MaxBytes (OPS_MAX_BYTES,
// DiscardNew), a code-update and a notes-update are answered with error
// SERVICE_UNAVAILABLE naming OPS_MAX_BYTES; the connection stays, a client
// on another instance loads every acknowledged edit and another session's
// code is whole; once room is freed (as the janitor does by expiring a
// session) the refused update is resent and acknowledged.
func TestFullOpLog(t *testing.T) {
	cl := newCluster(t)
	a := cl.start()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// The layout's own options (config.Load floors OPS_MAX_BYTES at 64 MiB),
	// after the instance provisioned its own.
	if _, err := broker.Provision(ctx, cl.in.NC, broker.Layout{Replicas: 1, PresenceTTL: 3 * time.Second, OpsMaxBytes: 128 << 10}); err != nil {
		t.Fatal(err)
	}
	other := cl.newSession(protocol.LangGo).ID
	oc := connectPlain(t, a.url, user{sid: other, id: "o", name: "O"})
	oc.waitFor(t, protocol.TypeConnected)
	oc.send(t, protocol.TypeCodeUpdate, fullCode("package other", 0, "o-1"))
	oc.waitFor(t, protocol.TypeCodeAck)
	// Someone else's log takes room that frees up later.
	filler := cl.newSession(protocol.LangGo).ID
	var last uint64
	for v := int64(1); v <= 30; v++ {
		e := oplog.Entry{Version: v, UserID: "f", Ops: ot.Op{ot.Retain(int(v-1) * 1000), ot.Insert(strings.Repeat("f", 1000))}}
		if v == 1 {
			e.Ops = ot.Op{ot.Insert(strings.Repeat("f", 1000))}
		}
		var err error
		if last, err = oplog.Append(ctx, cl.in.JS, filler, e, last); err != nil {
			t.Fatal(err)
		}
	}

	sid := cl.newSession(protocol.LangGo).ID
	iv := connectPlain(t, a.url, user{sid: sid, id: "iv", name: "Ivy", role: protocol.RoleInterviewer})
	iv.waitFor(t, protocol.TypeConnected)
	code := ""
	var refused protocol.ErrorPayload
	var next string
	for v := int64(0); ; v++ {
		if v > 128 {
			t.Fatalf("%d updates of 1 KB acknowledged by a stream of 128 KiB", v)
		}
		time.Sleep(30 * time.Millisecond) // under code-update's 50/s
		next = code + strings.Repeat(string(rune('a'+v%26)), 1000)
		iv.send(t, protocol.TypeCodeUpdate, fullCode(next, v, fmt.Sprintf("c-%d", v)))
		ev := iv.nextOf(t, protocol.TypeCodeAck, protocol.TypeError)
		if ev.Type == protocol.TypeError {
			refused = decode[protocol.ErrorPayload](t, ev.Payload)
			break
		}
		if ack := decode[protocol.CodeAck](t, ev.Payload); ack.Version != v+1 {
			t.Fatalf("update %d acknowledged as version %d", v, ack.Version)
		}
		code = next
	}
	acked := int64(len(code) / 1000)
	if refused.Error != protocol.CodeServiceUnavailable || refused.Details["limit"] != "OPS_MAX_BYTES" ||
		refused.Details["type"] != protocol.TypeCodeUpdate || refused.Details["opId"] != fmt.Sprintf("c-%d", acked) ||
		refused.Details["retryAfterMs"] != float64(oplog.FullRetryAfter.Milliseconds()) {
		t.Fatalf("after %d updates: %+v, want SERVICE_UNAVAILABLE naming OPS_MAX_BYTES for the code-update", acked, refused)
	}
	notes := "strong hire " + strings.Repeat("n", 2000) // more than the refused code-update: no room either
	iv.send(t, protocol.TypeNotesUpdate, fullCode(notes, 0, "n-1"))
	ev := iv.nextOf(t, protocol.TypeNotesAck, protocol.TypeError)
	if p := decode[protocol.ErrorPayload](t, ev.Payload); ev.Type != protocol.TypeError || p.Error != protocol.CodeServiceUnavailable ||
		p.Details["limit"] != "OPS_MAX_BYTES" || p.Details["type"] != protocol.TypeNotesUpdate {
		t.Fatalf("notes-update: %s %s, want error SERVICE_UNAVAILABLE naming OPS_MAX_BYTES", ev.Type, ev.Payload)
	}

	b := cl.start()
	if c := decode[protocol.Connected](t, connectPlain(t, b.url, user{sid: sid, id: "late", name: "L"}).waitFor(t, protocol.TypeConnected).Payload); c.Version != acked || c.Code != code {
		t.Fatalf("another instance loads version %d (%d bytes), want every acknowledged update: %d (%d bytes)", c.Version, len(c.Code), acked, len(code))
	}
	if c := decode[protocol.Connected](t, connectPlain(t, b.url, user{sid: other, id: "o2", name: "O2"}).waitFor(t, protocol.TypeConnected).Payload); c.Code != "package other" {
		t.Fatalf("the other session's code is %q", c.Code)
	}

	// Its own deadline: ctx bounded the setup, which takes long on a busy machine.
	pctx, pcancel := context.WithTimeout(context.Background(), waitTimeout)
	defer pcancel()
	if err := cl.in.Ops.Purge(pctx, jetstream.WithPurgeSubject(broker.OpsSubject(filler))); err != nil {
		t.Fatal(err)
	}
	iv.send(t, protocol.TypeCodeUpdate, fullCode(next, acked, fmt.Sprintf("c-%d", acked)))
	if ev := iv.nextOf(t, protocol.TypeCodeAck, protocol.TypeError); ev.Type != protocol.TypeCodeAck || decode[protocol.CodeAck](t, ev.Payload).Version != acked+1 {
		t.Fatalf("the resent update after room was freed: %s %s", ev.Type, ev.Payload)
	}
	iv.send(t, protocol.TypeNotesUpdate, fullCode(notes, 0, "n-1"))
	iv.waitFor(t, protocol.TypeNotesAck)
}

// TestNoStorage: when the NATS server's JetStream storage is full (its
// max_file_store; here another bucket took it) though the op log's stream
// has room, a code-update is answered with error SERVICE_UNAVAILABLE
// saying the server cannot store edits (details.limit "max_file_store",
// not an outage's message), the instance warns and counts it, the
// connection stays, and the acknowledged edits are kept; once storage is
// freed the resent update is acknowledged.
func TestNoStorage(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{MaxStore: 8 << 20})
	const opsMax = 4 << 20
	cl := &cluster{t: t, srv: srv, in: provision(t, natstest.Connect(t, srv), 3*time.Second, opsMax), opsMaxBytes: opsMax}
	a := cl.start()
	sid := cl.newSession(protocol.LangGo).ID
	c := connectPlain(t, a.url, user{sid: sid, id: "c", name: "C"})
	c.waitFor(t, protocol.TypeConnected)
	c.send(t, protocol.TypeCodeUpdate, fullCode("kept", 0, "c-0"))
	c.waitFor(t, protocol.TypeCodeAck)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	blob := []byte(strings.Repeat("d", 16<<10))
	for i := 0; ; i++ {
		if _, err := cl.in.Participants.Put(ctx, fmt.Sprintf("filler-%d", i), blob); err != nil {
			break
		}
		if i > 1000 {
			t.Fatal("16 MiB stored on a server with 8 MiB of storage")
		}
	}
	c.send(t, protocol.TypeCodeUpdate, fullCode("kept and more", 1, "c-1"))
	ev := c.nextOf(t, protocol.TypeCodeAck, protocol.TypeError)
	p := decode[protocol.ErrorPayload](t, ev.Payload)
	if ev.Type != protocol.TypeError || p.Error != protocol.CodeServiceUnavailable || p.Details["limit"] != "max_file_store" ||
		p.Details["opId"] != "c-1" || p.Details["retryAfterMs"] != float64(oplog.FullRetryAfter.Milliseconds()) ||
		!strings.Contains(p.Message, "cannot store edits") {
		t.Fatalf("code-update with the server's storage full: %s %s", ev.Type, ev.Payload)
	}
	if !strings.Contains(a.logs.String(), "JetStream storage is full") {
		t.Errorf("no warning in the log:\n%s", a.logs)
	}
	if n := counter(t, a.reg, "pairpad_realtime_append_storage_full_total"); n != 1 {
		t.Errorf("pairpad_realtime_append_storage_full_total %v, want 1", n)
	}

	stream, err := cl.in.JS.Stream(ctx, "KV_"+cl.in.Participants.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	c.send(t, protocol.TypeCodeUpdate, fullCode("kept and more", 1, "c-1"))
	if ev := c.nextOf(t, protocol.TypeCodeAck, protocol.TypeError); ev.Type != protocol.TypeCodeAck || decode[protocol.CodeAck](t, ev.Payload).Version != 2 {
		t.Fatalf("the resent update once storage was freed: %s %s", ev.Type, ev.Payload)
	}
}
