package document

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// provisionLayout starts a server with the layout l.
func provisionLayout(t *testing.T, l broker.Layout) *broker.Infra {
	t.Helper()
	nc := natstest.Connect(t, natstest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, nc, l)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// logBytes reads the whole op log of sid and returns its entries' bytes
// and the oldest version it holds.
func logBytes(t *testing.T, in *broker.Infra, sid string) (size int, oldest int64) {
	t.Helper()
	for after, more := uint64(0), true; more; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		entries, m, err := oplog.ReadAfter(ctx, in, sid, after, oplog.Limits{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if oldest == 0 {
				oldest = e.Version
			}
			size += e.Size
			after = e.Seq
		}
		more = m
	}
	return size, oldest
}

// An instance writing far more updates than the stream keeps per subject,
// with debounced snapshots that never come (an hour), snapshots on its own
// before the stream could drop an entry after the last one: a second
// instance loads every acknowledged update while the first one, as if
// killed, never flushed.
func TestLogNeverTrimsPastTheSnapshot(t *testing.T) {
	const perSession, updates = 100, 400
	in := provisionLayout(t, broker.Layout{OpsMaxPerSession: perSession})
	slow := Options{Instance: "a", SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour, LogMaxEntries: perSession}
	sid := newSessionID()
	d, _ := open(t, newEngineOpts(t, in, slow), sid, -1)
	for v := range int64(updates) {
		op := ot.Op{ot.Insert("x")}
		if v > 0 {
			op = ot.Op{ot.Retain(int(v)), ot.Insert("x")}
		}
		if res := submit(t, d, "u", "c", opsUpdate(v, fmt.Sprintf("op-%d", v), op)); res.Version != v+1 {
			t.Fatalf("update %d acknowledged as version %d", v, res.Version)
		}
	}
	if snap := readSnapshot(t, in, sid); snap.Version < updates-perSession/2 {
		t.Errorf("newest snapshot at version %d of %d: the log may have dropped what came after it", snap.Version, updates)
	}
	b := newEngineOpts(t, in, Options{Instance: "b", LogMaxEntries: perSession})
	_, rb := open(t, b, sid, -1)
	if rb.state.Version != updates || rb.state.Code != strings.Repeat("x", updates) {
		t.Fatalf("loaded version %d (%d characters), want %d", rb.state.Version, len(rb.state.Code), updates)
	}
}

// The byte budget holds: a writer alternating two 128 KiB texts puts 10 MiB
// through a document whose op log may hold 4 MiB. Every update is
// acknowledged, the log never holds more than the budget (snapshots let the
// older entries go), and a second instance loads the last text.
func TestLogByteBudgetHolds(t *testing.T) {
	const budget, updates, size = 4 << 20, 80, 128 << 10
	in := provisionLayout(t, broker.Layout{})
	slow := Options{Instance: "a", SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour, LogMaxBytes: budget}
	sid := newSessionID()
	d, _ := open(t, newEngineOpts(t, in, slow), sid, -1)
	texts := []string{strings.Repeat("a", size), strings.Repeat("b", size)}
	for v := range int64(updates) {
		if res := submit(t, d, "u", "c", fullUpdate(v, fmt.Sprintf("op-%d", v), texts[v%2])); res.Version != v+1 {
			t.Fatalf("update %d acknowledged as version %d", v, res.Version)
		}
		if v%20 == 19 {
			if size, oldest := logBytes(t, in, sid); size > budget {
				t.Fatalf("after %d updates the log holds %d bytes from version %d, more than the %d budget", v+1, size, oldest, budget)
			}
		}
	}
	held, oldest := logBytes(t, in, sid)
	if oldest <= 1 {
		t.Errorf("the log still starts at version %d after %d bytes of updates", oldest, updates*size)
	}
	t.Logf("%d updates of 128 KiB: the log holds %d bytes from version %d", updates, held, oldest)
	_, rb := open(t, newEngineOpts(t, in, Options{Instance: "b", LogMaxBytes: budget}), sid, -1)
	if rb.state.Version != updates || rb.state.Code != texts[(updates-1)%2] {
		t.Fatalf("loaded version %d, want %d with the last text", rb.state.Version, updates)
	}
}

// An update the op log cannot hold even right after a snapshot (a budget
// smaller than the update, which config.Load refuses for the service) is
// refused with SERVICE_UNAVAILABLE naming the limit, and nothing changes.
func TestLogWithoutRoomRefuses(t *testing.T) {
	in := provisionLayout(t, broker.Layout{})
	e := newEngineOpts(t, in, Options{Instance: "a", SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour, LogMaxBytes: 2000})
	sid := newSessionID()
	d, r := open(t, e, sid, -1)
	submit(t, d, "u", "c", fullUpdate(0, "small", "fits"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := d.Submit(ctx, "u", "c", fullUpdate(1, "big", strings.Repeat("y", 3000)))
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeServiceUnavailable || perr.Details["limit"] != "OPS_MAX_BYTES_PER_SESSION" {
		t.Fatalf("got %v, want SERVICE_UNAVAILABLE naming OPS_MAX_BYTES_PER_SESSION", err)
	}
	if text := waitVersion(t, r, 1); text != "fits" {
		t.Fatalf("document %q after the refusal", text)
	}
	if last, ok, err := oplog.Last(ctx, in, sid); err != nil || !ok || last.Version != 1 {
		t.Fatalf("op log: last %+v, %t, %v; want version 1", last, ok, err)
	}
}

// A full SESSION_OPS stream (OPS_MAX_BYTES, DiscardNew) refuses the next
// update with SERVICE_UNAVAILABLE naming OPS_MAX_BYTES, code and notes
// alike, and drops nothing: another instance loads every acknowledged
// update of the writer (snapshots never came), and another session's log
// is whole.
func TestFullStreamRefusesAndLosesNothing(t *testing.T) {
	const maxBytes = 96 << 10
	in := provisionLayout(t, broker.Layout{OpsMaxBytes: maxBytes})
	slow := Options{Instance: "a", SnapshotDebounce: time.Hour, SnapshotMaxDelay: time.Hour}
	e := newEngineOpts(t, in, slow)
	other := newSessionID()
	od, _ := open(t, e, other, -1)
	for v := range int64(5) {
		submit(t, od, "o", "co", fullUpdate(v, fmt.Sprintf("o-%d", v), fmt.Sprintf("other %d", v)))
	}
	for name, sid := range map[string]string{"code": newSessionID(), "notes": broker.NotesDocID(newSessionID())} {
		t.Run(name, func(t *testing.T) {
			d, r := open(t, e, sid, -1)
			text := ""
			var refusal error
			for v := int64(0); refusal == nil; v++ {
				if v > maxBytes/1000 {
					t.Fatalf("%d updates of 1 KB acknowledged by a stream of %d bytes", v, maxBytes)
				}
				next := text + strings.Repeat(string(rune('a'+v%26)), 1000)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := d.Submit(ctx, "u", "c", fullUpdate(v, fmt.Sprintf("op-%d", v), next))
				cancel()
				switch {
				case err != nil:
					refusal = err
				case res.Version != v+1:
					t.Fatalf("update %d acknowledged as version %d", v, res.Version)
				default:
					text = next
				}
			}
			var perr *protocol.Error
			if !errors.As(refusal, &perr) || perr.Code != protocol.CodeServiceUnavailable ||
				perr.Details["limit"] != "OPS_MAX_BYTES" || perr.Details["retryAfterMs"] != oplog.FullRetryAfter.Milliseconds() {
				t.Fatalf("got %v (%+v), want SERVICE_UNAVAILABLE naming OPS_MAX_BYTES", refusal, perr)
			}
			acked := int64(len(text) / 1000)
			if got := waitVersion(t, r, acked); got != text {
				t.Fatalf("document changed by the refusal")
			}
			_, rb := open(t, newEngineOpts(t, in, Options{Instance: "b"}), sid, -1)
			if rb.state.Version != acked || rb.state.Code != text {
				t.Fatalf("another instance loads version %d (%d bytes), want every acknowledged update: %d (%d bytes)",
					rb.state.Version, len(rb.state.Code), acked, len(text))
			}
			// Room for the next test: this document's log goes, as when the
			// janitor expires its session.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := in.Ops.Purge(ctx, jetstream.WithPurgeSubject(broker.OpsSubject(sid))); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, ro := open(t, newEngineOpts(t, in, Options{Instance: "c"}), other, -1); ro.state.Version != 5 || ro.state.Code != "other 4" {
		t.Fatalf("the other session loads version %d %q, want 5 \"other 4\"", ro.state.Version, ro.state.Code)
	}
}
