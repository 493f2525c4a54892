package document

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// newInfra starts (or reuses) a server and provisions the layout.
func newInfra(t testing.TB, srv *server.Server) *broker.Infra {
	t.Helper()
	nc := natstest.Connect(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, nc, broker.Layout{})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return in
}

// newEngine returns an engine with fast snapshots, closed when the test ends.
func newEngine(t testing.TB, in *broker.Infra, name string) *Engine {
	t.Helper()
	return newEngineOpts(t, in, Options{Instance: name, SnapshotDebounce: 100 * time.Millisecond,
		SnapshotMaxDelay: 300 * time.Millisecond})
}

// newEngineOpts returns an engine closed when the test ends.
func newEngineOpts(t testing.TB, in *broker.Infra, o Options) *Engine {
	t.Helper()
	e := NewEngine(in, o, nil, nil)
	t.Cleanup(e.Close)
	return e
}

// submitErr submits and returns the error's protocol code ("" on success).
func submitErr(t testing.TB, d *Doc, user string, u protocol.CodeUpdate) protocol.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := d.Submit(ctx, user, "conn-"+user, u)
	if err == nil {
		return ""
	}
	return protocol.ErrorCode(err)
}

func newSessionID() string { return uuid.NewString() }

// recorder is a Listener that rebuilds the text from what it is given and
// checks the versions come dense and in order.
type recorder struct {
	mu       sync.Mutex
	opened   bool
	state    State
	replay   []Applied
	replayOK bool
	text     string
	version  int64
	applied  []Applied
	texts    map[int64]string // every version seen, to submit from stale bases
	err      error
}

func (r *recorder) Opened(s State, replay []Applied, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opened {
		r.fail("Opened twice")
	}
	r.opened, r.state, r.replay, r.replayOK = true, s, replay, ok
	r.text, r.version = s.Code, s.Version
	r.texts = map[int64]string{s.Version: s.Code}
}

func (r *recorder) Applied(a Applied) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.opened {
		r.fail("Applied before Opened")
	}
	if a.Version != r.version+1 {
		r.fail(fmt.Sprintf("got version %d after %d", a.Version, r.version))
		return
	}
	text, err := ot.Apply(r.text, a.Ops)
	if err != nil {
		r.fail(fmt.Sprintf("apply version %d: %v", a.Version, err))
		return
	}
	if text != a.Code {
		r.fail(fmt.Sprintf("version %d: ops give %q, Code is %q", a.Version, text, a.Code))
	}
	r.text, r.version = text, a.Version
	r.applied = append(r.applied, a)
	r.texts[a.Version] = text
}

// recent returns one of the last k versions r has seen and its text.
func (r *recorder) recent(pick func(n int) int, k int) (int64, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.version - int64(pick(k))
	text, ok := r.texts[v]
	if !ok {
		return r.version, r.text
	}
	return v, text
}

func (r *recorder) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s", msg)
	}
}

func (r *recorder) snapshot() (string, int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.text, r.version, r.err
}

// waitVersion polls until r reached version v.
func waitVersion(t testing.TB, r *recorder, v int64) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		text, got, err := r.snapshot()
		if err != nil {
			t.Fatalf("listener: %v", err)
		}
		if got >= v {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener at version %d, want %d", got, v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// open opens sid on e with a fresh recorder, closed when the test ends.
func open(t testing.TB, e *Engine, sid string, since int64) (*Doc, *recorder) {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := e.Open(ctx, sid, since, r)
	if err != nil {
		t.Fatalf("open %s: %v", sid, err)
	}
	t.Cleanup(d.Close)
	return d, r
}

func opsUpdate(version int64, opID string, op ot.Op) protocol.CodeUpdate {
	raw, err := json.Marshal(op)
	if err != nil {
		panic(err)
	}
	return protocol.CodeUpdate{Delta: protocol.Delta{Ops: raw}, Version: version, OpID: opID}
}

func fullUpdate(version int64, opID, code string) protocol.CodeUpdate {
	return protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &code}, Version: version, OpID: opID}
}

// submit submits and fails the test on error.
func submit(t testing.TB, d *Doc, user, conn string, u protocol.CodeUpdate) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := d.Submit(ctx, user, conn, u)
	if err != nil {
		t.Fatalf("submit %+v: %v", u, err)
	}
	return res
}

// readSnapshot reads the stored snapshot of sid.
func readSnapshot(t testing.TB, in *broker.Infra, sid string) snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ent, err := in.Documents.Get(ctx, sid)
	if err != nil {
		t.Fatalf("get snapshot: %v", err)
	}
	var s snapshot
	if err := json.Unmarshal(ent.Value(), &s); err != nil {
		t.Fatalf("decode snapshot: %v", err)
	}
	return s
}
