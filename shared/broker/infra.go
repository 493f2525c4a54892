package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Layout is the JetStream layout's tunables: replicas are 1 on a single
// server and 3 on the cluster, a setting and not a code change.
type Layout struct {
	Replicas         int
	PresenceTTL      time.Duration // the instances' heartbeat TTL (PRESENCE_TIMEOUT); heartbeats are re-put well inside it
	OpsMaxAge        time.Duration
	OpsMaxPerSession int64
	OpsMaxBytes      int64 // the SESSION_OPS stream's MaxBytes; full, it refuses appends
}

// DefaultOpsMaxBytes is the SESSION_OPS stream's MaxBytes when the layout
// names none.
const DefaultOpsMaxBytes = 4 << 30

// Infra holds the JetStream handles every service works with.
type Infra struct {
	NC        *nats.Conn
	JS        jetstream.JetStream
	Sessions  jetstream.KeyValue
	Documents jetstream.KeyValue
	Presence  jetstream.KeyValue
	// PresenceInstances holds one heartbeat per realtime instance (key
	// <b64 instance>), expired after PresenceTTL.
	PresenceInstances jetstream.KeyValue
	// PresenceTTL is the layout's PresenceTTL: how long a heartbeat, or an
	// entry of an older instance that writes none, vouches for presence.
	PresenceTTL time.Duration
	Limits      jetstream.KeyValue
	// Participants is the per-session user registry (key <sessionId>).
	Participants jetstream.KeyValue
	Ops          jetstream.Stream
}

// PresenceEntryTTL is the presence bucket's TTL. An entry is written when
// its connection joins and removed when it leaves; whether it counts is its
// instance's heartbeat's business (PresenceInstances), so the TTL only
// bounds what nobody removed (an instance that died with no other left to
// purge its entries) and how long a leave's delete marker stays. Instances
// re-put their entries every PresenceEntryTTL/3, spread over the period.
const PresenceEntryTTL = time.Hour

// RateLimitWindowMax is the longest rate-limit period the ratelimits bucket keeps counts for.
const RateLimitWindowMax = time.Hour

// Provision creates or updates every bucket and stream; it is idempotent, so
// every process runs it at start.
func Provision(ctx context.Context, nc *nats.Conn, l Layout) (*Infra, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if l.Replicas < 1 {
		l.Replicas = 1
	}
	if l.PresenceTTL < time.Second {
		l.PresenceTTL = 30 * time.Second
	}
	if l.OpsMaxAge <= 0 {
		l.OpsMaxAge = 7 * 24 * time.Hour
	}
	if l.OpsMaxPerSession <= 0 {
		l.OpsMaxPerSession = 100000
	}
	if l.OpsMaxBytes <= 0 {
		l.OpsMaxBytes = DefaultOpsMaxBytes
	}
	in := &Infra{NC: nc, JS: js, PresenceTTL: l.PresenceTTL}
	// Every bucket a process reads a key from and writes on the strength of
	// that read (create then join, compare-and-swap loops, snapshots) reads
	// at the stream leader: see consistentBucket.
	kvs := []struct {
		dst *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&in.Sessions, jetstream.KeyValueConfig{Bucket: BucketSessions, History: 1, Storage: jetstream.FileStorage, Replicas: l.Replicas,
			Description: "session metadata, key <sessionId>"}},
		{&in.Documents, jetstream.KeyValueConfig{Bucket: BucketDocuments, History: 1, Storage: jetstream.FileStorage, Replicas: l.Replicas,
			MaxValueSize: 4 << 20, Description: "document snapshots, key <sessionId>"}},
		{&in.Limits, jetstream.KeyValueConfig{Bucket: BucketRateLimits, History: 1, Storage: jetstream.FileStorage, Replicas: l.Replicas,
			TTL: RateLimitWindowMax, Description: "REST rate-limit counters shared by every api replica"}},
		{&in.Participants, jetstream.KeyValueConfig{Bucket: BucketParticipants, History: 1, Storage: jetstream.FileStorage, Replicas: l.Replicas,
			MaxValueSize: 1 << 20, Description: "who joined a session with which role and colour, key <sessionId>"}},
	}
	for _, kv := range kvs {
		b, err := consistentBucket(ctx, js, kv.cfg)
		if err != nil {
			return nil, fmt.Errorf("provision bucket %s: %w", kv.cfg.Bucket, err)
		}
		*kv.dst = b
	}
	// Presence is only watched and put, never read by key, so it keeps
	// nats.go's layout, direct gets included. It expires by bucket TTL,
	// never per-key TTL: Update would drop a key's TTL. History 2 keeps a
	// manual leave's marker beside the delete that follows it, so a watcher
	// that is behind still reads the reason (with 1 the delete replaces the
	// marker before it is delivered). Entries live PresenceEntryTTL; the
	// instances' heartbeats PresenceTTL, with markers so every watcher sees
	// an instance die.
	in.Presence, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketPresence, History: 2,
		Storage: jetstream.FileStorage, Replicas: l.Replicas, TTL: PresenceEntryTTL, LimitMarkerTTL: l.PresenceTTL,
		Description: "who is connected, key <sessionId>.<userId b64>.<connId>"})
	if err != nil {
		return nil, fmt.Errorf("provision bucket %s: %w", BucketPresence, err)
	}
	in.PresenceInstances, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketPresenceInstances, History: 1,
		Storage: jetstream.FileStorage, Replicas: l.Replicas, TTL: l.PresenceTTL, LimitMarkerTTL: l.PresenceTTL,
		Description: "realtime instances' heartbeats, key <instance b64>"})
	if err != nil {
		return nil, fmt.Errorf("provision bucket %s: %w", BucketPresenceInstances, err)
	}
	// A full stream (MaxBytes) refuses new entries (DiscardNew) instead of
	// dropping the oldest of any session, which could be entries after a
	// session's newest snapshot that its load needs: acknowledged edits
	// would be gone. The writer gets the refusal (oplog.ErrFull).
	// MaxMsgsPerSubject still drops a subject's oldest entry under
	// DiscardNew (only DiscardNewPerSubject would refuse), and realtime
	// snapshots before that trim could reach what a load needs. The update
	// switches an existing stream from DiscardOld too.
	in.Ops, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              StreamOps,
		Description:       "the op log: one subject per session, one message per applied edit",
		Subjects:          []string{OpsSubjectAll},
		Storage:           jetstream.FileStorage,
		Replicas:          l.Replicas,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardNew,
		MaxAge:            l.OpsMaxAge,
		MaxMsgsPerSubject: l.OpsMaxPerSession,
		MaxBytes:          l.OpsMaxBytes,
		MaxMsgSize:        2 << 20,
		Duplicates:        OpsDuplicates,
		AllowDirect:       true,
		RePublish:         &jetstream.RePublish{Source: OpsSubjectAll, Destination: AppliedSubjectTemplate},
	})
	if err != nil {
		return nil, fmt.Errorf("provision stream %s: %w", StreamOps, err)
	}
	return in, nil
}

// OpsDuplicates is SESSION_OPS's Duplicates window: how long the stream
// remembers an entry's Nats-Msg-Id (oplog.MsgID) and answers a copy of it
// with the stored entry's sequence instead of storing it again. An append
// whose acknowledgement is late is sent again within its deadline (5 s in
// the document engine), so the window covers that with room to spare;
// each id held costs the NATS server about a hundred bytes, so at a few
// thousand appends a second a 2-minute window (JetStream's default) would
// hold tens of megabytes for nothing. A copy that comes after the window is
// still stored once: it expects the sequence before its own entry, and
// oplog.Publish reads that entry back.
const OpsDuplicates = 10 * time.Second

// ProvisionRetry runs Provision until it succeeds or ctx ends, so a process
// started before NATS waits for it instead of exiting.
func ProvisionRetry(ctx context.Context, nc *nats.Conn, l Layout, onErr func(error)) (*Infra, error) {
	wait := 250 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		in, err := Provision(attempt, nc, l)
		cancel()
		if err == nil {
			return in, nil
		}
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), err)
		}
		if onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		if wait < 5*time.Second {
			wait *= 2
		}
	}
}

// Ready reports whether NATS and JetStream answer.
func (in *Infra) Ready(ctx context.Context) error {
	if !in.NC.IsConnected() {
		return errors.New("nats is not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := in.Sessions.Status(ctx); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}
