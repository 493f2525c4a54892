package document

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Updates older than the in-memory window: ops are transformed over the
// log, fullCode and replays ask for a sync.
func TestBeyondWindow(t *testing.T) {
	in := newInfra(t, natstest.Start(t))
	e := newEngine(t, in, "a")
	e.hist = histLimits{versions: 1000, bytes: 64 << 10, every: 16}
	sid := newSessionID()
	d, r := open(t, e, sid, -1)
	submit(t, d, "u1", "c1", opsUpdate(0, "", ot.Op{ot.Insert("start")}))
	// Big inserts, each deleted again, push the window past its byte bound.
	big := strings.Repeat("x", 4_000)
	for v := int64(1); v < 90; v += 2 {
		submit(t, d, "u1", "c1", opsUpdate(v, "", ot.Op{ot.Retain(5), ot.Insert(big)}))
		submit(t, d, "u1", "c1", opsUpdate(v+1, "", ot.Op{ot.Retain(5), ot.Delete(len(big))}))
	}
	waitVersion(t, r, 91)
	e.mu.Lock()
	s, _ := e.sessions.Get(sid)
	e.mu.Unlock()
	s.mu.Lock()
	base := s.hist.baseVersion
	s.mu.Unlock()
	if base < 10 {
		t.Fatalf("window still starts at %d", base)
	}

	if got := submitErr(t, d, "u1", fullUpdate(9, "", "start!")); got != protocol.CodeInvalidPayload {
		t.Fatalf("fullCode before the window: %q", got)
	}
	if got := submitErr(t, d, "u1", opsUpdate(9, "", ot.Op{ot.Retain(4)})); got != protocol.CodeInvalidPayload {
		t.Fatalf("wrong length before the window: %q", got)
	}
	// Version 9 was "start": an insert at its front lands at the front now.
	res := submit(t, d, "u1", "c1", opsUpdate(9, "old", ot.Op{ot.Insert("!"), ot.Retain(5)}))
	if got := waitVersion(t, r, res.Version); got != "!start" {
		t.Fatalf("got %q", got)
	}
	_, rr := open(t, e, sid, 9)
	if rr.replayOK {
		t.Fatal("replay from before the window succeeded")
	}
	_, rr = open(t, e, sid, res.Version-1)
	if !rr.replayOK || len(rr.replay) != 1 || rr.replay[0].Code != "!start" {
		t.Fatalf("replay of the last update: %v %+v", rr.replayOK, rr.replay)
	}
}

// An acknowledged update survives a restart of the NATS server; updates
// refused while it is down are answered with an error and land exactly once
// when resent with their opId.
func TestNATSRestart(t *testing.T) {
	opts := natstest.Options{StoreDir: t.TempDir(), Port: natstest.FreePort(t)}
	srv := natstest.Start(t, opts)
	url := srv.ClientURL()
	connect := func(name string) *broker.Infra {
		t.Helper()
		nc, err := broker.Connect(url, broker.ConnOptions{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		in, err := broker.ProvisionRetry(ctx, nc, broker.Layout{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	inA, inB := connect("a"), connect("b")
	ea, eb := newEngine(t, inA, "a"), newEngine(t, inB, "b")
	sid := newSessionID()
	da, ra := open(t, ea, sid, -1)
	db, rb := open(t, eb, sid, -1)

	var markers []string
	edit := func(d *Doc, r *recorder, user, opID string) protocol.CodeUpdate {
		v, text := r.recent(func(int) int { return 0 }, 1)
		m := "<" + opID + ">"
		markers = append(markers, m)
		return opsUpdate(v, opID, buildOp(l16(text), m, 0, 0))
	}
	for i := range 3 {
		submit(t, da, "u1", "c1", edit(da, ra, "u1", fmt.Sprint("a", i)))
		submit(t, db, "u2", "c2", edit(db, rb, "u2", fmt.Sprint("b", i)))
	}
	waitVersion(t, ra, 6)

	srv.Shutdown()
	srv.WaitForShutdown()
	for inA.NC.IsConnected() { // until the client noticed
		time.Sleep(5 * time.Millisecond)
	}
	pending := edit(da, ra, "u1", "down")
	if got := submitErr(t, da, "u1", pending); got != protocol.CodeInternal {
		t.Fatalf("submit while NATS is down: %q, want INTERNAL_SERVER_ERROR", got)
	}

	natstest.Start(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, in := range []*broker.Infra{inA, inB} {
		if err := broker.WaitConnected(ctx, in.NC); err != nil {
			t.Fatal(err)
		}
	}
	// The client resends its pending update until it is acknowledged.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := da.Submit(ctx, "u1", "c1", pending)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resend after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range 3 {
		submit(t, db, "u2", "c2", edit(db, rb, "u2", fmt.Sprint("c", i)))
	}
	n := int64(len(markers))
	want := waitVersion(t, rb, n)
	if got := waitVersion(t, ra, n); got != want {
		t.Fatalf("a has %q, b has %q", got, want)
	}
	for _, m := range markers {
		if strings.Count(want, m) != 1 {
			t.Fatalf("marker %s appears %d times in %q", m, strings.Count(want, m), want)
		}
	}
	// Stop the first two while the server is up (cleanups would stop the
	// server first), then a new instance on a new connection loads all of
	// it from disk.
	ea.Close()
	eb.Close()
	in := connect("c")
	_, rc := open(t, newEngine(t, in, "c"), sid, n)
	if rc.state.Code != want || rc.state.Version != n || !rc.replayOK || len(rc.replay) != 0 {
		t.Fatalf("reloaded %d %q (replay %v, %d)", rc.state.Version, rc.state.Code, rc.replayOK, len(rc.replay))
	}
	entries, next, err := oplog.Read(context.Background(), in, sid, 1, oplog.Limits{})
	if err != nil || int64(len(entries)) != n || next != nil {
		t.Fatalf("history: %d entries, %v", len(entries), err)
	}
}
