package session_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

func infra(t *testing.T) *broker.Infra {
	t.Helper()
	nc := natstest.Connect(t, natstest.Start(t))
	in, err := broker.Provision(context.Background(), nc, broker.Layout{Replicas: 1, PresenceTTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestStoreLifecycle(t *testing.T) {
	ctx := context.Background()
	in := infra(t)
	st := session.NewStore(in.Sessions)
	now := time.Now()
	a, err := st.Create(ctx, protocol.LangPython, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := st.Create(ctx, protocol.LangJavaScript, now.Add(time.Second))
	got, rev, err := st.Get(ctx, a.ID)
	if err != nil || got.Language != protocol.LangPython || rev == 0 {
		t.Fatalf("got %+v %d %v", got, rev, err)
	}
	if _, _, err := st.Get(ctx, "not-a-uuid"); protocol.ErrorCode(err) != protocol.CodeSessionNotFound {
		t.Errorf("got %v, want SESSION_NOT_FOUND", err)
	}
	if _, err := st.Update(ctx, a.ID, func(r *session.Record) error { r.Language = protocol.LangTypeScript; return nil }); err != nil {
		t.Fatal(err)
	}
	all, err := st.All(ctx)
	if err != nil || len(all) != 2 || all[0].ID != a.ID || all[1].ID != b.ID || all[0].Language != protocol.LangTypeScript {
		t.Fatalf("All = %+v, %v", all, err)
	}
	// A stale revision loses: activity that landed meanwhile wins.
	if err := session.End(ctx, in, a, rev, protocol.EndedExpired); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Errorf("End with stale revision: got %v, want ErrKeyExists", err)
	}
	cur, rev2, _ := st.Get(ctx, a.ID)
	if _, err := in.Ops.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := in.JS.Publish(ctx, broker.OpsSubject(a.ID), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Documents.Put(ctx, a.ID, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := session.End(ctx, in, cur, rev2, protocol.EndedDeleted); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.GetAny(ctx, a.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("after End: got %v, want not found", err)
	}
	if _, err := in.Documents.Get(ctx, a.ID); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("document still there: %v", err)
	}
	if _, err := in.Ops.GetLastMsgForSubject(ctx, broker.OpsSubject(a.ID)); err == nil {
		t.Error("op log still there")
	}
}

// Many concurrent touches of one session all succeed: a fresh activity
// stamp makes the others skip their write instead of racing it.
func TestTouchConcurrent(t *testing.T) {
	ctx := context.Background()
	in := infra(t)
	st := session.NewStore(in.Sessions)
	r, err := st.Create(ctx, protocol.LangPython, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 100)
	now := time.Now()
	for i := 0; i < 100; i++ {
		go func() { errs <- st.Touch(ctx, r.ID, now) }()
	}
	for i := 0; i < 100; i++ {
		if err := <-errs; err != nil {
			t.Errorf("touch %d: %v", i, err)
		}
	}
	got, _, _ := st.Get(ctx, r.ID)
	if !got.LastActivityAt.Equal(now.UTC()) {
		t.Errorf("LastActivityAt = %v, want %v", got.LastActivityAt, now.UTC())
	}
	_, rev, _ := st.Get(ctx, r.ID)
	if err := st.Touch(ctx, r.ID, now.Add(10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, rev2, _ := st.Get(ctx, r.ID); rev2 != rev {
		t.Errorf("a touch within %s wrote again (revision %d -> %d)", session.TouchGranularity, rev, rev2)
	}
}

// TestEndInterview: the interview's end is a status on a live record, not a
// removal; a second end keeps the first end's time; the host key is kept
// only as a hash and matches only itself.
func TestEndInterview(t *testing.T) {
	ctx := context.Background()
	in := infra(t)
	st := session.NewStore(in.Sessions)
	key := session.NewHostKey()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r, err := st.CreateRecord(ctx, session.Record{Language: protocol.LangGo, Title: "Screen", HostKeyHash: session.HashHostKey(key)}, t0)
	if err != nil || r.StatusOrActive() != protocol.StatusActive || r.Ended() {
		t.Fatalf("create: %+v, %v", r, err)
	}
	got, _, err := st.Get(ctx, r.ID)
	if err != nil || !got.HostKeyMatches(key) || got.HostKeyMatches(key+"x") || got.HostKeyMatches("") || got.Title != "Screen" {
		t.Fatalf("stored %+v, %v", got, err)
	}
	if other := session.NewHostKey(); len(other) < 22 || other == key || got.HostKeyMatches(other) {
		t.Fatalf("host keys %q, %q", key, other)
	}
	if (session.Record{}).HostKeyMatches("") {
		t.Fatal("a record without a host key matched the empty key")
	}
	for i, at := range []time.Time{t0.Add(time.Minute), t0.Add(time.Hour)} {
		ended, err := st.EndInterview(ctx, r.ID, at)
		if err != nil || !ended.Ended() || ended.EndedAt == nil || !ended.EndedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("end %d: %+v, %v", i, ended, err)
		}
	}
	got, _, err = st.Get(ctx, r.ID)
	if err != nil || !got.Live() || got.StatusOrActive() != protocol.StatusEnded || got.PurgeReason != "" {
		t.Fatalf("after end: %+v, %v (an ended interview stays readable)", got, err)
	}
	if _, err := st.EndInterview(ctx, "0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11", t0); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("end of an unknown session: %v", err)
	}
}

// TestTouchFrom: a touch that starts from the record its caller holds reads
// nothing while that revision is the key's latest; after a conflict it
// reads and keeps what the other writer wrote; against the janitor's
// compare-and-swaps at the same revision exactly one of the two lands.
func TestTouchFrom(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	in, err := broker.Provision(ctx, nc, broker.Layout{Replicas: 1, PresenceTTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st := session.NewStore(in.Sessions)
	// reads counts the key reads (JetStream API get requests) that fn makes.
	observer := natstest.Connect(t, srv)
	seen := make(chan *nats.Msg, 64)
	for _, subj := range []string{"$JS.API.>", "touchfrom.sentinel"} {
		if _, err := observer.ChanSubscribe(subj, seen); err != nil {
			t.Fatal(err)
		}
	}
	if err := observer.Flush(); err != nil {
		t.Fatal(err)
	}
	// sync returns the number of key reads the observer saw since the last
	// sync: the sentinel leaves the store's connection after every request
	// made before it, so the observer has them all once it has the sentinel.
	sync := func() int {
		t.Helper()
		if err := nc.Publish("touchfrom.sentinel", nil); err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range seen {
			switch {
			case m.Subject == "touchfrom.sentinel":
				return n
			case strings.HasPrefix(m.Subject, "$JS.API.DIRECT.GET."), strings.HasPrefix(m.Subject, "$JS.API.STREAM.MSG.GET."):
				n++
			}
		}
		return n
	}
	reads := func(fn func()) int {
		t.Helper()
		sync()
		fn()
		return sync()
	}
	create := func() session.Entry {
		t.Helper()
		r, err := st.Create(ctx, protocol.LangPython, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got, rev, err := st.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return session.Entry{Record: got, Revision: rev}
	}
	current := func(id string) session.Entry {
		t.Helper()
		r, rev, err := st.GetAny(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return session.Entry{Record: r, Revision: rev}
	}

	t.Run("current revision: a write, no read", func(t *testing.T) {
		known := create()
		now := time.Now()
		var got session.Entry
		if n := reads(func() { got, err = st.TouchFrom(ctx, known.ID, known, now) }); err != nil || n != 0 {
			t.Fatalf("TouchFrom: %v after %d reads, want no error and no read", err, n)
		}
		cur := current(known.ID)
		if got.Revision != cur.Revision || got.Revision <= known.Revision || !cur.LastActivityAt.Equal(now.UTC()) || !got.LastActivityAt.Equal(now.UTC()) {
			t.Fatalf("returned %+v, key holds %+v, want the touch at %v", got, cur, now.UTC())
		}
		// Within the granularity of what it holds: neither a read nor a write.
		var again session.Entry
		if n := reads(func() { again, err = st.TouchFrom(ctx, known.ID, got, now.Add(10*time.Millisecond)) }); err != nil || n != 0 {
			t.Fatalf("fresh TouchFrom: %v after %d reads", err, n)
		}
		if again.Revision != got.Revision || current(known.ID).Revision != got.Revision {
			t.Fatalf("a touch within %s wrote (revision %d -> %d)", session.TouchGranularity, got.Revision, again.Revision)
		}
	})

	t.Run("conflict: read again, keep the other write", func(t *testing.T) {
		known := create()
		if _, err := st.Update(ctx, known.ID, func(r *session.Record) error { r.Language = protocol.LangGo; return nil }); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		var got session.Entry
		if n := reads(func() { got, err = st.TouchFrom(ctx, known.ID, known, now) }); err != nil || n != 1 {
			t.Fatalf("TouchFrom: %v after %d reads, want one read", err, n)
		}
		if got != (session.Entry{}) {
			t.Errorf("returned %+v after a conflict, want nothing (the read may pass revisions the caller has not seen)", got)
		}
		cur := current(known.ID)
		if cur.Language != protocol.LangGo || !cur.LastActivityAt.Equal(now.UTC()) {
			t.Fatalf("key holds %+v, want the language change kept and the touch at %v", cur.Record, now.UTC())
		}
	})

	t.Run("janitor marks empty first: the touch clears it", func(t *testing.T) {
		known := create()
		if err := st.MarkEmpty(ctx, known.Record, known.Revision, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := st.TouchFrom(ctx, known.ID, known, time.Now()); err != nil {
			t.Fatal(err)
		}
		if cur := current(known.ID); cur.EmptySince != nil {
			t.Fatalf("emptySince %v survived the touch", cur.EmptySince)
		}
	})

	t.Run("touch first: the janitor's mark loses", func(t *testing.T) {
		known := create()
		if _, err := st.TouchFrom(ctx, known.ID, known, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkEmpty(ctx, known.Record, known.Revision, time.Now()); !broker.Conflict(err) {
			t.Fatalf("MarkEmpty at the touched revision: %v, want a conflict", err)
		}
		if err := st.MarkPurging(ctx, known.Record, known.Revision, protocol.EndedExpired); !broker.Conflict(err) {
			t.Fatalf("MarkPurging at the touched revision: %v, want a conflict", err)
		}
		if cur := current(known.ID); !cur.Live() || cur.EmptySince != nil {
			t.Fatalf("key holds %+v, want it live and not empty", cur.Record)
		}
	})

	t.Run("janitor expires first: the touch finds it gone", func(t *testing.T) {
		known := create()
		if err := st.MarkPurging(ctx, known.Record, known.Revision, protocol.EndedExpired); err != nil {
			t.Fatal(err)
		}
		if _, err := st.TouchFrom(ctx, known.ID, known, time.Now()); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("TouchFrom after the expiry: %v, want not found", err)
		}
		if cur := current(known.ID); cur.PurgeReason != protocol.EndedExpired || !cur.LastActivityAt.Equal(known.LastActivityAt) {
			t.Fatalf("key holds %+v, want the expiry as the janitor wrote it", cur.Record)
		}
	})

	t.Run("a fresh record the janitor marked empty is still written", func(t *testing.T) {
		known := create()
		now := time.Now()
		if err := st.MarkEmpty(ctx, known.Record, known.Revision, now); err != nil {
			t.Fatal(err)
		}
		marked := current(known.ID)
		marked.LastActivityAt = now // as if the activity were fresh: the emptiness still has to go
		if _, err := st.TouchFrom(ctx, known.ID, marked, now); err != nil {
			t.Fatal(err)
		}
		if cur := current(known.ID); cur.EmptySince != nil || cur.Revision == marked.Revision {
			t.Fatalf("key holds %+v at %d, want emptySince cleared by a write", cur.Record, cur.Revision)
		}
	})
}

// BenchmarkTouch is one activity write of a session record (client and
// embedded server in one process): Touch reads the key first, TouchFrom
// starts from the record the caller holds.
func BenchmarkTouch(b *testing.B) {
	ctx := context.Background()
	nc := natstest.Connect(b, natstest.Start(b))
	in, err := broker.Provision(ctx, nc, broker.Layout{Replicas: 1, PresenceTTL: 3 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	st := session.NewStore(in.Sessions)
	start := time.Now()
	r, err := st.Create(ctx, protocol.LangPython, start)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Touch", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			start = start.Add(2 * session.TouchGranularity)
			if err := st.Touch(ctx, r.ID, start); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("TouchFrom", func(b *testing.B) {
		got, rev, err := st.Get(ctx, r.ID)
		if err != nil {
			b.Fatal(err)
		}
		known := session.Entry{Record: got, Revision: rev}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			start = start.Add(2 * session.TouchGranularity)
			if known, err = st.TouchFrom(ctx, r.ID, known, start); err != nil || known.Revision == 0 {
				b.Fatal(known, err)
			}
		}
	})
}
