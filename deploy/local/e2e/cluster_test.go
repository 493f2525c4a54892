package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Two api, two realtime and two janitor processes on a 3-node JetStream
// cluster with replicas 3 carry on when one NATS node stops, and lose nothing
// acknowledged.
func TestClusterSurvivesNodeLoss(t *testing.T) {
	cl := natstest.StartCluster(t, 3)
	env := map[string]string{"NATS_URL": cl.URLs(), "JS_REPLICAS": "3", "TOKEN_SECRET": "e2e-secret", "ADMIN_TOKEN": "e2e-admin", "PRESENCE_TIMEOUT": "3s"}
	api1, api2 := startProc(t, "api", env), startProc(t, "api", env)
	rt1, rt2 := startProc(t, "realtime", env), startProc(t, "realtime", env)
	startProc(t, "janitor", env)
	startProc(t, "janitor", env)

	sess := createSession(t, api1.Base())
	ops := url.Values{"deltaFormat": {"ops"}}
	a := &editor{t: t, name: "A", c: dialWS(t, api1.Base(), rt1.Base(), sess.ID, "alice", ops)}
	b := &editor{t: t, name: "B", c: dialWS(t, api2.Base(), rt2.Base(), sess.ID, "bob", ops)}
	a.c.waitFor(protocol.TypeConnected, 10*time.Second, nil)
	b.c.waitFor(protocol.TypeConnected, 10*time.Second, nil)
	round := func() {
		a.sync()
		b.sync()
		a.send()
		b.send()
		a.awaitAck()
		b.awaitAck()
	}
	for i := 0; i < 3; i++ {
		round()
	}

	cl.Stop(0)
	cl.WaitJetStream(30 * time.Second)
	// REST carries on through either api, WebSocket edits through either instance.
	deadline := time.Now().Add(30 * time.Second)
	var s2 protocol.Session
	for rest(t, "POST", api2.Base()+"/api/sessions", "", map[string]string{"language": "javascript"}, &s2) != http.StatusCreated {
		if time.Now().After(deadline) {
			t.Fatal("create failed after a node stopped")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if code := rest(t, "GET", api1.Base()+"/api/sessions/"+s2.ID, "", nil, nil); code != http.StatusOK {
		t.Errorf("GET after node loss: %d", code)
	}
	for i := 0; i < 3; i++ {
		round()
	}
	settle(t, a, b)
	if a.text != b.text || a.version != b.version {
		t.Fatalf("diverged: %q vs %q", a.text, b.text)
	}
	for _, e := range []*editor{a, b} {
		for i := 1; i <= e.n; i++ {
			if tok := "[" + e.name + string(rune('0'+i)) + "]"; strings.Count(a.text, tok) != 1 {
				t.Errorf("%s missing or doubled in %q", tok, a.text)
			}
		}
	}
	c := dialWS(t, api1.Base(), rt2.Base(), sess.ID, "carol", nil)
	if got := decode[protocol.Connected](t, c.waitFor(protocol.TypeConnected, 10*time.Second, nil)); got.Code != a.text {
		t.Errorf("a fresh joiner sees %q, want %q", got.Code, a.text)
	}
}
