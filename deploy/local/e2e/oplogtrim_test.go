package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
)

// A realtime process killed with SIGKILL while a user types 40 updates a
// second, under OPS_MAX_PER_SESSION=100: the stream keeps 100 entries per
// session, fewer than arrive between two debounced snapshots (up to 10 s
// apart), so realtime must snapshot before the log can drop an entry after
// its last snapshot. A new realtime process loads every acknowledged edit.
func TestKilledRealtimeKeepsEditsUnderSmallOpLog(t *testing.T) {
	srv := natstest.Start(t)
	env := map[string]string{"NATS_URL": srv.ClientURL(), "TOKEN_SECRET": "e2e-secret", "ADMIN_TOKEN": "e2e-admin",
		"OPS_MAX_PER_SESSION": "100"}
	api, rt := startProc(t, "api", env), startProc(t, "realtime", env)
	sess := createSession(t, api.Base())
	docs := bucket(t, srv, broker.BucketDocuments)
	c := dialWS(t, api.Base(), rt.Base(), sess.ID, "alice", url.Values{"deltaFormat": {"ops"}})
	conn := decode[protocol.Connected](t, c.waitFor(protocol.TypeConnected, 10*time.Second, nil))
	text, version := conn.Code, conn.Version

	// Each update inserts a unique token at the front, one in flight, paced
	// at 40 a second, for 18 s: debounced snapshots come at most 10 s apart
	// (about 10 s and 20 s in), so without snapshots of its own realtime
	// would hold some 300 entries after its last one when it is killed.
	const every, typing = 25 * time.Millisecond, 18 * time.Second
	start := time.Now()
	var acked []string
	for i := 0; time.Since(start) < typing; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * every)))
		tok := fmt.Sprintf("[%d]", i)
		ops := []any{tok}
		if len(text) > 0 {
			ops = append(ops, len(text))
		}
		id := fmt.Sprintf("op-%d", i)
		c.send(protocol.TypeCodeUpdate, map[string]any{"delta": map[string]any{"ops": ops}, "version": version, "opId": id})
		env := c.waitMatch("code-ack of "+id, 10*time.Second, func(e protocol.Envelope) bool {
			return e.Type == protocol.TypeError || e.Type == protocol.TypeCodeAck && decode[protocol.CodeAck](t, e).OpID == id
		})
		if env.Type == protocol.TypeError {
			t.Fatalf("update %s refused: %s", id, env.Payload)
		}
		text, version = tok+text, decode[protocol.CodeAck](t, env).Version
		acked = append(acked, tok)
	}
	rate := float64(len(acked)) / time.Since(start).Seconds()
	rt.Kill()
	var snap struct {
		Version int64 `json:"version"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ent, err := docs.Get(ctx, sess.ID); err == nil {
		_ = json.Unmarshal(ent.Value(), &snap)
	}
	t.Logf("%d updates acknowledged at %.0f/s, then SIGKILL with the newest snapshot at version %d of %d",
		len(acked), rate, snap.Version, version)

	rt2 := startProc(t, "realtime", env)
	b := dialWS(t, api.Base(), rt2.Base(), sess.ID, "bob", nil)
	got := decode[protocol.Connected](t, b.waitFor(protocol.TypeConnected, 20*time.Second, nil))
	if got.Version != version || got.Code != text {
		missing := 0
		for _, tok := range acked {
			if !strings.Contains(got.Code, tok) {
				missing++
			}
		}
		t.Fatalf("after the restart: version %d, want %d; %d of %d acknowledged edits missing", got.Version, version, missing, len(acked))
	}
}
