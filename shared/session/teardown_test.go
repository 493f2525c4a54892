package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// A watcher that starts after End, as one that is behind would read it,
// finds only the purge marker (the purge rolled up the mark), and the
// marker carries the reason; a read of the key finds nothing.
func TestEndLeavesTheReasonInThePurgeMarker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in := infra(t)
	st := session.NewStore(in.Sessions)
	for _, reason := range []string{protocol.EndedExpired, protocol.EndedDeleted, protocol.EndedByHost} {
		r, err := st.Create(ctx, protocol.LangPython, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, rev, err := st.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := session.End(ctx, in, r, rev, reason); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.GetAny(ctx, r.ID); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("%s: read after End: %v, want not found", reason, err)
		}
		w, err := in.Sessions.Watch(ctx, r.ID, jetstream.IncludeHistory())
		if err != nil {
			t.Fatal(err)
		}
		var entries []jetstream.KeyValueEntry
		for e := range w.Updates() {
			if e == nil {
				break // caught up
			}
			entries = append(entries, e)
		}
		_ = w.Stop()
		if len(entries) != 1 || entries[0].Operation() != jetstream.KeyValuePurge {
			t.Fatalf("%s: %d entries after End, want one purge marker", reason, len(entries))
		}
		var got session.Record
		if err := json.Unmarshal(entries[0].Value(), &got); err != nil || got.PurgeReason != reason || got.ID != r.ID {
			t.Errorf("%s: marker carries %+v (%v)", reason, got, err)
		}
	}
}
