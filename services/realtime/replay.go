package realtime

import (
	"context"
	"fmt"

	"github.com/pairpad/pairpad/services/realtime/document"
)

// History bounds: a reconnecting client usually missed a few updates, and
// the engine serves older replays (fetchReplay), so a short tail is enough.
const (
	histMaxEntries = 512
	histMaxBytes   = 4 << 20
)

// history is the tail of updates a hub session delivered, contiguous by
// version, so a connection that joins later with since can be replayed
// exactly the versions between since and what the hub delivered.
type history struct {
	entries []document.Applied
	bytes   int
}

func appliedSize(a document.Applied) int { return len(a.Code) + 8*len(a.Ops) + 64 }

// seed starts the history from a replay.
func (h *history) seed(replay []document.Applied) {
	h.entries, h.bytes = nil, 0
	for _, a := range replay {
		h.push(a, false)
	}
}

// push appends the next update; after a gap the history restarts. The
// oldest entries go once the bounds are passed; the slice is compacted only
// when half of it is dead, so a push is amortised O(1).
func (h *history) push(a document.Applied, gap bool) {
	if gap || (len(h.entries) > 0 && h.entries[len(h.entries)-1].Version+1 != a.Version) {
		h.entries, h.bytes = nil, 0
	}
	h.entries = append(h.entries, a)
	h.bytes += appliedSize(a)
	drop := 0
	for len(h.entries)-drop > 1 && (len(h.entries)-drop > histMaxEntries || h.bytes > histMaxBytes) {
		h.bytes -= appliedSize(h.entries[drop])
		h.entries[drop] = document.Applied{} // let the text go
		drop++
	}
	h.entries = h.entries[drop:]
	if cap(h.entries) > 2*histMaxEntries && len(h.entries) < cap(h.entries)/2 {
		h.entries = append(make([]document.Applied, 0, 2*len(h.entries)), h.entries...)
	}
}

// covers reports whether the history alone replays since+1..upto.
func (h *history) covers(since, upto int64) bool {
	if since >= upto {
		return true
	}
	return len(h.entries) > 0 && h.entries[0].Version <= since+1 && h.entries[len(h.entries)-1].Version >= upto
}

// replayLocked returns the updates since+1..hs.version from extra (a replay
// fetched from the engine) and the history, or false when they do not
// reach back: the client then gets a sync.
func (hs *hubSession) replayLocked(since int64, extra []document.Applied) ([]document.Applied, bool) {
	if since == hs.version {
		return nil, true
	}
	if since > hs.version {
		return nil, false // the client claims a version this document never had
	}
	out := make([]document.Applied, 0, min(hs.version-since, histMaxEntries))
	next := since + 1
	for _, src := range [][]document.Applied{extra, hs.hist.entries} {
		for _, a := range src {
			if a.Version == next && next <= hs.version {
				out = append(out, a)
				next++
			}
		}
	}
	return out, next == hs.version+1
}

// hashAt returns the document hash at version v when the hub still knows
// it (the current version or one in its history), for a duplicate's ack.
func (hs *hubSession) hashAt(v int64) string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if v == hs.version {
		return hs.hash
	}
	for _, a := range hs.hist.entries {
		if a.Version == v {
			return a.Hash
		}
	}
	return ""
}

// canReplay reports whether the history alone can replay since.
func (hs *hubSession) canReplay(since int64) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return since > hs.version || hs.hist.covers(since, hs.version)
}

// replayListener takes the replay of a short-lived second attachment.
type replayListener struct {
	replay []document.Applied
	ok     bool
}

func (l *replayListener) Opened(_ document.State, replay []document.Applied, ok bool) {
	l.replay, l.ok = replay, ok
}
func (l *replayListener) Applied(document.Applied) {}

// fetchReplay asks the engine for the updates after since: a second
// attachment, opened and closed at once, on a document this instance has
// already loaded, so it costs no NATS round trip.
func (hs *hubSession) fetchReplay(ctx context.Context, since int64) ([]document.Applied, error) {
	l := &replayListener{}
	d, err := hs.s.engine.Open(ctx, hs.id, since, l)
	if err != nil {
		return nil, fmt.Errorf("replay %s since %d: %w", hs.id, since, err)
	}
	d.Close()
	if !l.ok {
		return nil, nil
	}
	return l.replay, nil
}
