package document

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestTransformBudgetOverTheLog: an update older than the in-memory
// history is transformed over entries read from the op log, and that work
// counts against TransformBudget too: a small op over heavy versions is
// refused (INVALID_PAYLOAD, reason transform-budget, sync) with the budget
// at 500, and the same update is applied with the default budget.
func TestTransformBudgetOverTheLog(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	in := newInfra(t, srv)
	for _, tc := range []struct {
		budget  int
		refused bool
	}{{500, true}, {0, false}} {
		t.Run(fmt.Sprintf("budget=%d", tc.budget), func(t *testing.T) {
			e := newEngineOpts(t, in, Options{Instance: "a", TransformBudget: tc.budget})
			e.hist = histLimits{versions: 8, bytes: 1 << 20, every: 4}
			d, _ := open(t, e, newSessionID(), -1)
			submit(t, d, "u", "c", fullUpdate(0, "base", "0123456789"))
			for v := int64(1); v <= 30; v++ {
				var op ot.Op
				for range 10 {
					op = append(op, ot.Retain(1), ot.Insert("x"))
				}
				if rest := int(v-1) * 10; rest > 0 {
					op = append(op, ot.Retain(rest))
				}
				submit(t, d, "u", "c", opsUpdate(v, fmt.Sprintf("h%d", v), op))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Two components: the estimate (30 × 3) passes; the work
			// counted over the stored versions (about 30 × 23) does not.
			_, err := d.Submit(ctx, "v", "c2", opsUpdate(1, "stale", ot.Op{ot.Retain(10), ot.Insert("z")}))
			var pe *protocol.Error
			switch {
			case !tc.refused && err != nil:
				t.Fatalf("within the default budget: %v", err)
			case tc.refused && (!errors.As(err, &pe) || pe.Code != protocol.CodeInvalidPayload ||
				pe.Details["reason"] != "transform-budget" || pe.Details["sync"] != true):
				t.Fatalf("over the budget: %v, want INVALID_PAYLOAD transform-budget", err)
			}
		})
	}
}
