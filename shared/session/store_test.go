package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

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
