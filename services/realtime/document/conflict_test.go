package document

import (
	"context"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
)

// TestLostAppendCatchesUpFromTheSubscription: an instance that loses an
// append race to another instance's entry transforms its update over that
// entry and appends again. When the applied subscription already brought
// the winner, it catches up from it, without reading the op log (two
// round trips under the session's submit lock); when it has not, it reads
// the log. Either way both instances end with the same text.
func TestLostAppendCatchesUpFromTheSubscription(t *testing.T) {
	tests := []struct {
		name      string
		lagging   bool // the subscription has not delivered the winner yet
		wantReads int64
	}{
		{"winner delivered", false, 0},
		{"winner not delivered yet", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := natstest.Start(t)
			ea, eb := newEngine(t, newInfra(t, srv), "a"), newEngine(t, newInfra(t, srv), "b")
			sid := newSessionID()
			da, ra := open(t, ea, sid, -1)
			db, rb := open(t, eb, sid, -1)
			s := da.s

			// Held, A's replica goroutine does not fold what its
			// subscription queues: A's next append expects sequence 0.
			s.deliverMu.Lock()
			held := true
			defer func() {
				if held {
					s.deliverMu.Unlock()
				}
			}()
			submit(t, db, "ub", "cb", opsUpdate(0, "b-1", ot.Op{ot.Insert("b")}))
			waitFor(t, "A's subscription to queue B's entry", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return len(s.inbox) == 1
			})
			if tt.lagging {
				s.mu.Lock()
				s.inbox = nil
				s.mu.Unlock()
			}

			type answer struct {
				res Result
				err error
			}
			done := make(chan answer, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				res, err := da.Submit(ctx, "ua", "ca", opsUpdate(0, "a-1", ot.Op{ot.Insert("a")}))
				done <- answer{res, err}
			}()
			// The submit hands its update to the listeners under deliverMu:
			// it is stored once A holds version 2.
			waitFor(t, "A's update to be stored", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return s.version == 2
			})
			lost, read := ea.AppendConflicts()
			s.deliverMu.Unlock()
			held = false
			a := <-done
			if a.err != nil || a.res.Version != 2 {
				t.Fatalf("A's submit: %+v, %v", a.res, a.err)
			}
			if lost != 1 || read != tt.wantReads {
				t.Fatalf("A lost %d appends and read the log after %d, want 1 and %d", lost, read, tt.wantReads)
			}
			// B's insert won the tie at offset 0: A's is transformed after it.
			if ta, tb := waitVersion(t, ra, 2), waitVersion(t, rb, 2); ta != "ba" || tb != "ba" {
				t.Fatalf("texts: A %q, B %q, want \"ba\"", ta, tb)
			}
		})
	}
}
