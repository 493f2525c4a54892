package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
)

// A deployment whose SESSION_OPS stream was provisioned with DiscardOld (the
// layout before a full stream refused appends) and JetStream's 2-minute
// Duplicates window is switched to DiscardNew and OpsDuplicates by the
// provisioning every process runs at start, keeping what it holds; per
// subject, the oldest entries are still dropped past MaxMsgsPerSubject.
func TestProvisionSwitchesOpsToDiscardNew(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := broker.Layout{OpsMaxPerSession: 3, OpsMaxBytes: 1 << 20}
	in, err := broker.Provision(ctx, nc, l)
	if err != nil {
		t.Fatal(err)
	}
	info, err := in.Ops.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := info.Config
	old.Discard = jetstream.DiscardOld
	old.Duplicates = 2 * time.Minute // JetStream's default, before OpsDuplicates
	if _, err := in.JS.UpdateStream(ctx, old); err != nil {
		t.Fatalf("set up the old layout: %v", err)
	}
	subj := broker.OpsSubject("s1")
	for i := range 2 {
		if _, err := in.JS.Publish(ctx, subj, []byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	if in, err = broker.Provision(ctx, nc, l); err != nil {
		t.Fatalf("provision over the old layout: %v", err)
	}
	if info, err = in.Ops.Info(ctx); err != nil || info.Config.Discard != jetstream.DiscardNew ||
		info.Config.DiscardNewPerSubject || info.Config.Duplicates != broker.OpsDuplicates || info.State.Msgs != 2 {
		t.Fatalf("after provisioning: %+v, %d messages, %v; want DiscardNew (not per subject), the OpsDuplicates window and both messages",
			info.Config, info.State.Msgs, err)
	}
	for i := 2; i < 5; i++ {
		if _, err := in.JS.Publish(ctx, subj, []byte{byte('a' + i)}); err != nil {
			t.Fatalf("publish %d past MaxMsgsPerSubject: %v", i+1, err)
		}
	}
	m, err := in.Ops.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
	if err != nil || string(m.Data) != "c" {
		t.Fatalf("oldest entry %v, %v; want c (a and b trimmed per subject)", m, err)
	}
}

// A deployment whose buckets were provisioned with direct gets (nats.go's
// layout, which lets a lagging replica answer a read) has them turned off
// by the provisioning every process runs at start, keeping what they hold;
// presence, never read by key, keeps them.
func TestProvisionTurnsOffDirectGets(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, nc, broker.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	consistent := map[string]jetstream.KeyValue{broker.BucketSessions: in.Sessions, broker.BucketDocuments: in.Documents,
		broker.BucketParticipants: in.Participants, broker.BucketRateLimits: in.Limits}
	for name, kv := range consistent {
		st, err := in.JS.Stream(ctx, "KV_"+name)
		if err != nil {
			t.Fatal(err)
		}
		old := st.CachedInfo().Config
		old.AllowDirect = true
		if _, err := in.JS.UpdateStream(ctx, old); err != nil {
			t.Fatalf("set up the old layout of %s: %v", name, err)
		}
		if _, err := kv.Put(ctx, "k", []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	if in, err = broker.Provision(ctx, nc, broker.Layout{}); err != nil {
		t.Fatalf("provision over the old layout: %v", err)
	}
	consistent = map[string]jetstream.KeyValue{broker.BucketSessions: in.Sessions, broker.BucketDocuments: in.Documents,
		broker.BucketParticipants: in.Participants, broker.BucketRateLimits: in.Limits}
	for name, kv := range consistent {
		status, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cfg := status.(*jetstream.KeyValueBucketStatus).StreamInfo().Config; cfg.AllowDirect {
			t.Errorf("bucket %s still allows direct gets", name)
		}
		if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != name {
			t.Errorf("bucket %s lost its key: %v", name, err)
		}
	}
	status, err := in.Presence.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !status.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.AllowDirect {
		t.Error("presence lost direct gets")
	}
}

// A deployment provisioned before heartbeats (the presence bucket's TTL
// PRESENCE_TIMEOUT, entries re-put inside it) gets the entries' long TTL,
// keeping its entries, and the heartbeats' bucket with the short one; both
// with limit markers, so watchers see an expiry.
func TestProvisionPresenceLayout(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := broker.Layout{PresenceTTL: 3 * time.Second}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	old, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: broker.BucketPresence, History: 2,
		TTL: l.PresenceTTL, LimitMarkerTTL: l.PresenceTTL})
	if err != nil {
		t.Fatalf("set up the old layout: %v", err)
	}
	if _, err := old.Put(ctx, "s.u.c", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	in, err := broker.Provision(ctx, nc, l)
	if err != nil {
		t.Fatalf("provision over the old layout: %v", err)
	}
	if in.PresenceTTL != l.PresenceTTL {
		t.Errorf("Infra.PresenceTTL %v, want %v", in.PresenceTTL, l.PresenceTTL)
	}
	for _, tc := range []struct {
		kv        jetstream.KeyValue
		ttl       time.Duration
		keys      uint64
		bucket    string
		markerTTL time.Duration
	}{
		{in.Presence, broker.PresenceEntryTTL, 1, broker.BucketPresence, l.PresenceTTL},
		{in.PresenceInstances, l.PresenceTTL, 0, broker.BucketPresenceInstances, l.PresenceTTL},
	} {
		st, err := tc.kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
		if st.Bucket() != tc.bucket || st.TTL() != tc.ttl || cfg.SubjectDeleteMarkerTTL != tc.markerTTL || st.Values() != tc.keys {
			t.Errorf("%s: TTL %v, marker TTL %v, %d values; want %v, %v, %d",
				st.Bucket(), st.TTL(), cfg.SubjectDeleteMarkerTTL, st.Values(), tc.ttl, tc.markerTTL, tc.keys)
		}
	}
}
