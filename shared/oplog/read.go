package oplog

import (
	"context"
	"fmt"

	"github.com/pairpad/pairpad/shared/broker"
)

// Read returns the session's applied updates from version from (1 when
// from < 1) on, within lim (at least one when there is one), and the version
// to ask for next, or nil when there is nothing after them. When the log
// was trimmed (MaxMsgsPerSubject, MaxAge, MaxBytes) past from, Read starts
// at the oldest version the stream still holds.
func Read(ctx context.Context, in *broker.Infra, sessionID string, from int64, lim Limits) ([]Entry, *int64, error) {
	if from < 1 {
		from = 1
	}
	last, ok, err := Last(ctx, in, sessionID)
	if err != nil || !ok || from > last.Version {
		return nil, nil, err
	}
	seq, err := SeqOf(ctx, in, sessionID, from, last)
	if err != nil {
		return nil, nil, err
	}
	if seq == 0 {
		return nil, nil, nil
	}
	out, _, err := ReadAfter(ctx, in, sessionID, seq-1, lim)
	if err != nil {
		return nil, nil, err
	}
	// Stop at the newest entry we looked up, so next is exact even while
	// the session keeps being edited.
	for i, e := range out {
		if e.Version > last.Version {
			out = out[:i]
			break
		}
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	if v := out[len(out)-1].Version; v < last.Version {
		next := v + 1
		return out, &next, nil
	}
	return out, nil, nil
}

// SeqOf finds the stream sequence of the session's entry with the smallest
// version >= v (last is the session's newest entry, from Last). It returns
// 0 when there is none. Versions are dense and sequences increase with
// them, so a binary search over sequences needs a few direct gets.
func SeqOf(ctx context.Context, in *broker.Infra, sessionID string, v int64, last Entry) (uint64, error) {
	if v > last.Version {
		return 0, nil
	}
	if v == last.Version {
		return last.Seq, nil
	}
	head, ok, err := first(ctx, in, sessionID, 1)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, nil
	}
	if v <= head.Version {
		return head.Seq, nil
	}
	// The entry with version v sits at least v-head.Version sequences after
	// head and at least last.Version-v before last.
	lo, hi := head.Seq+uint64(v-head.Version), last.Seq-uint64(last.Version-v)
	if lo > hi {
		return 0, fmt.Errorf("op log of %s: versions %d..%d do not fit sequences %d..%d", sessionID,
			head.Version, last.Version, head.Seq, last.Seq)
	}
	found := last.Seq
	for lo <= hi {
		mid := lo + (hi-lo)/2
		e, ok, err := first(ctx, in, sessionID, mid)
		if err != nil {
			return 0, err
		}
		if !ok || e.Version >= v {
			if ok && e.Version == v {
				return e.Seq, nil
			}
			found = min(found, e.Seq)
			if mid == 0 {
				break
			}
			hi = mid - 1
		} else {
			lo = e.Seq + 1
		}
	}
	return found, nil
}
