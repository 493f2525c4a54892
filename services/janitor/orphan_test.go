package janitor

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

func TestOrphansAreRemovedAfterTwoSightings(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	reg := prometheus.NewRegistry()
	j := newJanitor(t, e, jopts{now: clk.Now, reg: reg, ready: true})
	ctx := context.Background()

	live := seed(t, e.in, clk.Now(), true)
	docOnly, opsOnly, presOnly, all := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	if _, err := e.in.Documents.Put(ctx, docOnly, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.in.JS.Publish(ctx, broker.OpsSubject(opsOnly), []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	putPresence(t, e.in, presOnly, "u1", "c1")
	putData(t, e.in, all)
	putPresence(t, e.in, all, "u1", "c1")
	putPresence(t, e.in, all, "u2", "c2")

	// First sighting: suspected, not removed.
	rep, err := j.Sweep(ctx)
	if err != nil {
		t.Fatalf("sweep 1: %v", err)
	}
	if rep.Orphans != (Orphans{}) {
		t.Errorf("sweep 1 removed %+v, want nothing yet", rep.Orphans)
	}
	if got := holdingsOf(t, e.in, all); got != (holdings{document: true, opLog: true, presence: 2}) {
		t.Errorf("after sweep 1: %+v, want everything still there", got)
	}
	// Seen again, but less than an interval later: still kept.
	clk.Advance(30 * time.Minute)
	if rep, err = j.Sweep(ctx); err != nil || rep.Orphans != (Orphans{}) {
		t.Errorf("sweep 2 within the interval: removed %+v, %v; want nothing", rep.Orphans, err)
	}
	clk.Advance(30 * time.Minute)
	rep, err = j.Sweep(ctx)
	if err != nil {
		t.Fatalf("sweep 3: %v", err)
	}
	if want := (Orphans{Documents: 2, OpLogs: 2, Presence: 3}); rep.Orphans != want {
		t.Errorf("sweep 3 removed %+v, want %+v", rep.Orphans, want)
	}
	for _, id := range []string{docOnly, opsOnly, presOnly, all} {
		if got := holdingsOf(t, e.in, id); got != (holdings{}) {
			t.Errorf("orphan %s left behind: %+v", id, got)
		}
	}
	if got, want := holdingsOf(t, e.in, live.ID), (holdings{record: true, document: true, opLog: true, presence: 1}); got != want {
		t.Errorf("live session: got %+v, want %+v", got, want)
	}
	for kind, want := range map[string]float64{kindDocument: 2, kindOpLog: 2, kindPresence: 3} {
		if got := metricValue(t, reg, "pairpad_janitor_orphans_removed_total", map[string]string{"kind": kind}); got != want {
			t.Errorf("orphans_removed_total{kind=%q}: got %v, want %v", kind, got, want)
		}
	}
}

// TestOrphanWhoseRecordAppearsIsKept plays a session created while a sweep
// runs: its data was listed before its record was visible.
func TestOrphanWhoseRecordAppearsIsKept(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	j := newJanitor(t, e, jopts{now: clk.Now, ready: true})
	ctx := context.Background()

	id := uuid.NewString()
	putData(t, e.in, id)
	j.sweepMu.Lock()
	defer j.sweepMu.Unlock()
	if got, err := j.removeOrphans(ctx, clk.Now(), map[string]bool{}); err != nil || got != (Orphans{}) {
		t.Fatalf("first sighting: removed %+v, %v; want nothing", got, err)
	}
	// The record lands after the listing the next sweep judges by.
	rec := session.Record{ID: id, CreatedAt: clk.Now(), Language: protocol.LangPython, LastActivityAt: clk.Now()}
	b, _ := json.Marshal(rec)
	if _, err := e.in.Sessions.Create(ctx, id, b); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	if got, err := j.removeOrphans(ctx, clk.Now(), map[string]bool{}); err != nil || got != (Orphans{}) {
		t.Fatalf("with the record re-read: removed %+v, %v; want nothing", got, err)
	}
	if got, want := holdingsOf(t, e.in, id), (holdings{record: true, document: true, opLog: true}); got != want {
		t.Errorf("holdings: got %+v, want %+v", got, want)
	}
	if len(j.suspects) != 0 {
		t.Errorf("suspects: got %v, want none once the record is found", j.suspects)
	}
}

func TestTombstonesArePurged(t *testing.T) {
	cases := []struct {
		name       string
		age        time.Duration
		wantValues uint64 // messages left in sessions and documents, each
	}{
		{"markers older than the age go", -1, 0},
		{"recent markers stay", defaultTombstoneAge, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			clk := newClock()
			j := newJanitor(t, e, jopts{now: clk.Now, ready: true})
			j.sweepMu.Lock()
			j.tombstoneAge = c.age
			j.sweepMu.Unlock()

			seed(t, e.in, clk.Now(), false)
			clk.Advance(31 * time.Minute) // idle, and past tombstoneEvery
			rep, err := j.Sweep(context.Background())
			if err != nil || len(rep.Expired) != 1 {
				t.Fatalf("sweep: %+v, %v", rep, err)
			}
			for _, kv := range []jetstream.KeyValue{e.in.Sessions, e.in.Documents} {
				st, err := kv.Status(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Values(); got != c.wantValues {
					t.Errorf("%s holds %d messages, want %d", kv.Bucket(), got, c.wantValues)
				}
			}
		})
	}
}
