package loadgen

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
)

// TestRefusedUpdateThatWasStored: the op-log append of a typist's update
// is stored, but NATS's answers stall past the append's deadline, so the
// server refuses the update with SERVICE_UNAVAILABLE; once NATS answers
// again the stored update reaches everyone, its sender as a code-ack. The
// protocol says such an update may have been applied and is resent with
// its opId: a generator that gave it up and took a sync instead was left
// one version behind by that late code-ack, and failed to apply the next
// update (client:OT, the heavy interview's unexplained resyncs).
func TestRefusedUpdateThatWasStored(t *testing.T) {
	ns := natstest.Start(t)
	px := natstest.StartProxy(t, ns.Addr().String())
	s := newAllInOne(t)
	s.natsURL = px.URL()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	base := s.base()
	ws := "ws" + strings.TrimPrefix(base, "http")
	for _, delta := range []string{"ops", "fullCode"} {
		t.Run(delta, func(t *testing.T) {
			f := newFleet("refusal", Options{APIURL: base, WSURLs: []string{ws}, TokenSecret: testSecret,
				DeltaFormat: delta, Sources: 1, Concurrency: 2, NoReconnect: true})
			t.Cleanup(f.close)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			p := f.prepare(ctx, 1, 2)
			if len(p.sessions) != 1 {
				t.Fatalf("prepare: %+v", p.errors)
			}
			if c := f.connect(ctx, p.sessions); c.ok != 2 {
				t.Fatalf("connect: %+v", c.errors)
			}
			a, b := p.sessions[0].users[0], p.sessions[0].users[1]
			settle := func() {
				t.Helper()
				if !f.settle(time.Minute) {
					t.Fatal("the users did not settle")
				}
			}
			a.typeKey()
			settle()

			px.Hold()
			a.typeKey()
			// The append is stored; its acknowledgement is held past the
			// deadline, and the refusal comes over the WebSocket.
			waitUser(t, a, func() bool { return a.st.errors["SERVICE_UNAVAILABLE"] > 0 && !a.resyncing })
			px.Release()
			settle()
			b.typeKey()
			settle()
			a.typeKey()
			settle()

			for _, u := range []*user{a, b} {
				u.mu.Lock()
				t.Logf("%s: %v", u.id, u.st.errors)
				for k, n := range u.st.errors {
					if strings.HasPrefix(k, "client:") {
						t.Errorf("%s: %s = %d (errors %v)", u.id, k, n, u.st.errors)
					}
				}
				u.mu.Unlock()
			}
			if c := f.convergence(ctx, 30*time.Second); !c.Converged {
				t.Errorf("convergence = %+v", c)
			}
		})
	}
}

// waitUser waits, bounded only against a hang, until cond holds under the
// user's lock.
func waitUser(t *testing.T, u *user, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		u.mu.Lock()
		ok := cond()
		u.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			u.mu.Lock()
			defer u.mu.Unlock()
			t.Fatalf("%s: still waiting (errors %v)", u.id, u.st.errors)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
