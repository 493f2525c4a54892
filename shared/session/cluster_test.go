package session_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// readYourWritesRounds is how many write-then-read rounds the cluster test
// makes per bucket: a follower lags the leader by well under a millisecond
// on loopback, so it takes hundreds of rounds for the old setting (direct
// gets answered by any replica) to show a stale read.
const readYourWritesRounds = 600

// A write acknowledged through one node is what every later read sees,
// whichever node the reader is connected to: a session created through
// one api process is found by a join through another (or the same process
// on another connection), and a snapshot put is read back as put. With
// direct gets on the buckets a follower that has not applied the write yet
// answers the read: a 404 for a session created a moment before.
func TestReadYourWritesOnACluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ins []*broker.Infra
	for _, nc := range natstest.StartCluster(t, 3).ConnectEach(t) {
		in, err := broker.ProvisionRetry(ctx, nc, broker.Layout{Replicas: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in)
	}
	t.Run("sessions", func(t *testing.T) {
		for i := range readYourWritesRounds {
			w, r := ins[i%3], ins[(i+1)%3]
			rec, err := session.NewStore(w.Sessions).Create(ctx, protocol.LangGo, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			got, rev, err := session.NewStore(r.Sessions).Get(ctx, rec.ID)
			if err != nil {
				t.Fatalf("round %d: get %s through another node right after its create: %v", i, rec.ID, err)
			}
			if got.ID != rec.ID || rev == 0 {
				t.Fatalf("round %d: got %+v at revision %d", i, got, rev)
			}
			// A compare-and-swap through the reader's node, then a read
			// through the writer's: the new title, not the old record.
			if _, err := session.NewStore(r.Sessions).Update(ctx, rec.ID, func(x *session.Record) error {
				x.Title = fmt.Sprint("round ", i)
				return nil
			}); err != nil {
				t.Fatalf("round %d: update: %v", i, err)
			}
			back, _, err := session.NewStore(w.Sessions).Get(ctx, rec.ID)
			if err != nil || back.Title != fmt.Sprint("round ", i) {
				t.Fatalf("round %d: after the update through another node got %+v, %v", i, back, err)
			}
		}
	})
	t.Run("concurrent updates", func(t *testing.T) {
		// Two writers on two nodes update one record: each lost
		// compare-and-swap is retried (a cluster reports it as 10164, not
		// the 10071 of a single server), so every increment lands. The
		// leader refuses a write while the other writer's is still being
		// replicated, and a read meanwhile returns the revision before it:
		// retried at once, a writer lost every one of Update's attempts
		// within a millisecond (2 runs in 30 on a busy machine), so
		// Update waits a little after the first loss (ConflictBackoff).
		const perWriter = 15
		rec, err := session.NewStore(ins[0].Sessions).Create(ctx, protocol.LangGo, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		var wg sync.WaitGroup
		for w := range 2 {
			st := session.NewStore(ins[w+1].Sessions)
			wg.Go(func() {
				for range perWriter {
					if _, err := st.Update(ctx, rec.ID, func(r *session.Record) error {
						n, _ := strconv.Atoi(r.Title)
						r.Title = strconv.Itoa(n + 1)
						return nil
					}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, _, err := session.NewStore(ins[0].Sessions).Get(ctx, rec.ID)
		if err != nil || got.Title != strconv.Itoa(2*perWriter) {
			t.Fatalf("after %d increments the count is %q (%v)", 2*perWriter, got.Title, err)
		}
	})
	t.Run("documents", func(t *testing.T) {
		key := "doc-" + fmt.Sprint(time.Now().UnixNano())
		for i := range readYourWritesRounds {
			w, r := ins[i%3], ins[(i+1)%3]
			want := fmt.Sprintf(`{"code":"v%d","version":%d}`, i, i)
			rev, err := w.Documents.Put(ctx, key, []byte(want))
			if err != nil {
				t.Fatal(err)
			}
			e, err := r.Documents.Get(ctx, key)
			if err != nil {
				t.Fatalf("round %d: get through another node right after the put: %v", i, err)
			}
			if string(e.Value()) != want || e.Revision() != rev {
				t.Fatalf("round %d: read %s at revision %d, want %s at %d (a stale replica answered)",
					i, e.Value(), e.Revision(), want, rev)
			}
		}
	})
}
