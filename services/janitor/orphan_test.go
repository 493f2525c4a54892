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
	if _, err := e.in.Participants.Put(ctx, all, []byte(`{"users":{}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.in.Participants.Put(ctx, live.ID, []byte(`{"users":{}}`)); err != nil {
		t.Fatal(err)
	}

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
	if want := (Orphans{Documents: 2, OpLogs: 2, Presence: 3, Participants: 1}); rep.Orphans != want {
		t.Errorf("sweep 3 removed %+v, want %+v", rep.Orphans, want)
	}
	for _, id := range []string{docOnly, opsOnly, presOnly, all} {
		if got := holdingsOf(t, e.in, id); got != (holdings{}) || exists(t, e.in.Participants, id) {
			t.Errorf("orphan %s left behind: %+v (participants %v)", id, got, exists(t, e.in.Participants, id))
		}
	}
	if !exists(t, e.in.Participants, live.ID) {
		t.Error("the live session's participants were removed")
	}
	if got, want := holdingsOf(t, e.in, live.ID), (holdings{record: true, document: true, opLog: true, presence: 1}); got != want {
		t.Errorf("live session: got %+v, want %+v", got, want)
	}
	for kind, want := range map[string]float64{kindDocument: 2, kindOpLog: 2, kindPresence: 3, kindParticipants: 1} {
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
		wantValues [2]uint64 // messages left in sessions and documents
	}{
		{"markers older than the age go", -1, [2]uint64{0, 0}},
		// One marker for the record; three for the code's and the notes'
		// snapshots and the run output, which a purge removes together.
		{"recent markers stay", defaultTombstoneAge, [2]uint64{1, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			clk := newClock()
			j := newJanitor(t, e, jopts{now: clk.Now, ready: true})
			j.sweepMu.Lock()
			j.tombstoneAge = c.age
			j.sweepMu.Unlock()

			seenEmpty(t, e.in, seed(t, e.in, clk.Now(), false).ID, clk.Now())
			clk.Advance(31 * time.Minute) // idle and empty, and past tombstoneEvery
			rep, err := j.Sweep(context.Background())
			if err != nil || len(rep.Expired) != 1 {
				t.Fatalf("sweep: %+v, %v", rep, err)
			}
			for i, kv := range []jetstream.KeyValue{e.in.Sessions, e.in.Documents} {
				st, err := kv.Status(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Values(); got != c.wantValues[i] {
					t.Errorf("%s holds %d messages, want %d", kv.Bucket(), got, c.wantValues[i])
				}
			}
		})
	}
}

// TestNotesAndRunBelongToTheirSession: a session's notes document (its op
// log and snapshot) and its latest run output are the session's, never
// orphans while its record exists (an ended interview's too), and orphans
// like the rest once it is gone.
func TestNotesAndRunBelongToTheirSession(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	j := newJanitor(t, e, jopts{now: clk.Now, ready: true})
	ctx := context.Background()

	live := seed(t, e.in, clk.Now(), true)
	ended := seed(t, e.in, clk.Now(), true)
	if _, err := session.NewStore(e.in.Sessions).EndInterview(ctx, ended.ID, clk.Now()); err != nil {
		t.Fatal(err)
	}
	gone := uuid.NewString()
	for _, id := range []string{live.ID, ended.ID, gone} {
		putInterviewData(t, e.in, id)
	}
	for range 3 { // suspected, seen again, then old enough to remove
		if _, err := j.Sweep(ctx); err != nil {
			t.Fatalf("sweep: %v", err)
		}
		clk.Advance(time.Hour)
		putPresence(t, e.in, live.ID, "user-"+live.ID[:8], "conn-1") // still connected: not idle
		putPresence(t, e.in, ended.ID, "user-"+ended.ID[:8], "conn-1")
	}
	for _, c := range []struct {
		id   string
		want bool
	}{{live.ID, true}, {ended.ID, true}, {gone, false}} {
		if got := interviewDataOf(t, e.in, c.id); got != [3]bool{c.want, c.want, c.want} {
			t.Errorf("session %s: notes snapshot, notes log, run output = %v, want all %t", c.id, got, c.want)
		}
	}
}

// TestPurgeRemovesNotesAndRun: a session's purge takes its notes and its
// run output with it.
func TestPurgeRemovesNotesAndRun(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	ctx := context.Background()
	r := seed(t, e.in, clk.Now(), false)
	putInterviewData(t, e.in, r.ID)
	if err := session.Purge(ctx, e.in, r.ID); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if got := interviewDataOf(t, e.in, r.ID); got != [3]bool{} {
		t.Errorf("after the purge: notes snapshot, notes log, run output = %v, want none", got)
	}
	if got := holdingsOf(t, e.in, r.ID); got != (holdings{}) {
		t.Errorf("after the purge: %+v, want nothing", got)
	}
}

// putInterviewData writes a notes snapshot, a notes op and a run output for id.
func putInterviewData(t *testing.T, in *broker.Infra, id string) {
	t.Helper()
	putData(t, in, broker.NotesDocID(id))
	if _, err := in.Documents.Put(context.Background(), broker.RunKey(id), []byte(`{"runId":"r1"}`)); err != nil {
		t.Fatal(err)
	}
}

// interviewDataOf reports whether id's notes snapshot, notes op log and run
// output exist.
func interviewDataOf(t *testing.T, in *broker.Infra, id string) [3]bool {
	t.Helper()
	notes := broker.NotesDocID(id)
	info, err := in.Ops.Info(context.Background(), jetstream.WithSubjectFilter(broker.OpsSubject(notes)))
	if err != nil {
		t.Fatal(err)
	}
	return [3]bool{exists(t, in.Documents, notes), info.State.Subjects[broker.OpsSubject(notes)] > 0,
		exists(t, in.Documents, broker.RunKey(id))}
}
