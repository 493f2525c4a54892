package broker

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/natstest"
)

// kvStream is the stream nats.go makes for the same bucket config, apart
// from direct gets, as the server stores both: were nats.go to change its
// layout, this says so before a bucket provisioned here drifts from one
// nats.go (and the nats CLI) expects.
func TestKVStreamMatchesNATS(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for i, cfg := range []jetstream.KeyValueConfig{
		{History: 1, Storage: jetstream.FileStorage, Replicas: 1, Description: "plain"},
		{History: 1, Storage: jetstream.FileStorage, MaxValueSize: 4 << 20, Description: "value size"},
		{History: 1, Storage: jetstream.FileStorage, TTL: time.Hour, Description: "ttl past the duplicate window"},
		{History: 3, Storage: jetstream.MemoryStorage, TTL: 30 * time.Second, Description: "short ttl, history"},
	} {
		t.Run(cfg.Description, func(t *testing.T) {
			theirs, ours := cfg, cfg
			// Names of their own, and nothing deleted until the server goes:
			// a file stream created while the account's last one is being
			// deleted can find the account's directory removed under it
			// (10049, "error creating store for stream"; the server logs
			// "mkdir .../jetstream/$G/streams: no such file or directory").
			theirs.Bucket, ours.Bucket = fmt.Sprintf("theirs%d", i), fmt.Sprintf("ours%d", i)
			kv, err := js.CreateKeyValue(ctx, theirs)
			if err != nil {
				t.Fatal(err)
			}
			st, err := js.CreateStream(ctx, kvStream(ours, true))
			if err != nil {
				t.Fatal(err)
			}
			status, err := kv.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := status.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
			got := st.CachedInfo().Config
			got.Name, got.Subjects = want.Name, want.Subjects
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("stream config\n got %+v\nwant %+v", got, want)
			}
			if _, err := js.KeyValue(ctx, ours.Bucket); err != nil {
				t.Fatalf("nats.go does not take the stream for a bucket: %v", err)
			}
		})
	}
}

// BenchmarkKVGet compares a key read answered by any replica (direct get)
// with one answered by the stream leader through the JetStream API, the
// price consistentBucket pays for reading every acknowledged write.
func BenchmarkKVGet(b *testing.B) {
	nc := natstest.Connect(b, natstest.Start(b))
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		direct bool
	}{{"direct", true}, {"leader", false}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := jetstream.KeyValueConfig{Bucket: bc.name, History: 1, Storage: jetstream.FileStorage}
			if _, err := js.CreateOrUpdateStream(ctx, kvStream(cfg, bc.direct)); err != nil {
				b.Fatal(err)
			}
			kv, err := js.KeyValue(ctx, cfg.Bucket)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := kv.Put(ctx, "k", make([]byte, 300)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := kv.Get(ctx, "k"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A lost compare-and-swap is retried at once the first time, then after a
// window that doubles up to its bound; a context that ends stops the wait.
func TestConflictBackoff(t *testing.T) {
	for _, c := range []struct {
		attempt int
		want    time.Duration
	}{
		{-1, 0}, {0, 0}, {1, time.Millisecond}, {2, 2 * time.Millisecond}, {3, 4 * time.Millisecond},
		{6, 32 * time.Millisecond}, {7, conflictBackoffMax}, {20, conflictBackoffMax}, {1000, conflictBackoffMax},
	} {
		if got := conflictWindow(c.attempt); got != c.want {
			t.Errorf("conflictWindow(%d) = %v, want %v", c.attempt, got, c.want)
		}
	}
	if err := ConflictBackoff(context.Background(), 0); err != nil {
		t.Errorf("first retry: %v", err)
	}
	if err := ConflictBackoff(context.Background(), 3); err != nil {
		t.Errorf("fourth retry: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, attempt := range []int{0, 5} {
		if err := ConflictBackoff(ctx, attempt); err != context.Canceled {
			t.Errorf("attempt %d with the context ended: %v, want context.Canceled", attempt, err)
		}
	}
}
