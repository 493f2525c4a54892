package document

import (
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// budget counts the transform work of one update against
// Options.TransformBudget: each step over a stored version costs the
// components of the update as it stands plus those of that version's op,
// which is what ot.Transform walks. Without a bound a client could send
// updates of ot.MaxComponents based 10,000 versions back and cost seconds
// of CPU each.
type budget struct {
	limit int
	spent int
}

// estimate refuses at once an update that cannot fit: each of the behind
// versions costs at least its components plus one.
func (b *budget) estimate(op ot.Op, behind int64) error {
	if behind > 0 && behind*int64(len(op)+1) > int64(b.limit-b.spent) {
		return b.refusal(op, behind)
	}
	return nil
}

// step charges one transform of op over other; behind is how many
// versions are left, for the refusal.
func (b *budget) step(op, other ot.Op, behind int64) error {
	b.spent += len(op) + len(other)
	if b.spent > b.limit {
		return b.refusal(op, behind)
	}
	return nil
}

// refusal tells the client to take the sync that follows (the caller
// sends it: details.sync) and resend the update against that version.
func (b *budget) refusal(op ot.Op, behind int64) error {
	return protocol.Errorf(protocol.CodeInvalidPayload,
		"The update (%d components, %d versions behind) would cost more transform work than the %d allowed: take the sync that follows and resend it against that version",
		len(op), behind, b.limit).
		WithDetails(map[string]any{"reason": "transform-budget", "budget": b.limit, "components": len(op), "behind": behind, "sync": true})
}
