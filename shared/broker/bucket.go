package broker

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// consistentBucket creates or updates the key-value bucket cfg describes
// with direct gets turned off, and returns it. A direct get is answered by
// any replica of the bucket's stream, the one on the reader's server
// first, including a follower that has not applied a write the leader has
// already acknowledged: a session created through one connection is then
// not found through another a millisecond later (nats-server issues 4710,
// 6557, 7281). Without AllowDirect, nats.go reads a key with
// $JS.API.STREAM.MSG.GET, which only the stream leader answers, so a read
// sees every acknowledged write. nats.go's CreateOrUpdateKeyValue always
// sets AllowDirect, and a process starting beside running ones would turn
// it back on under them, so the stream is provisioned here, with the
// layout nats.go gives a bucket (kvStream); updating it switches a bucket
// an earlier version created with direct gets in place.
func consistentBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if _, err := js.CreateOrUpdateStream(ctx, kvStream(cfg, false)); err != nil {
		return nil, err
	}
	// The handle caches the stream's config, AllowDirect included, and
	// decides by it how to read.
	return js.KeyValue(ctx, cfg.Bucket)
}

// kvStream is the stream nats.go makes for a bucket with cfg (its
// prepareKeyValueConfig; TestKVStreamMatchesNATS holds the two together),
// with direct gets as asked. It covers the settings Provision uses:
// history, TTL, value size, storage, replicas, description.
func kvStream(cfg jetstream.KeyValueConfig, direct bool) jetstream.StreamConfig {
	history := int64(max(cfg.History, 1))
	maxBytes, maxMsgSize := cfg.MaxBytes, cfg.MaxValueSize
	if maxBytes == 0 {
		maxBytes = -1
	}
	if maxMsgSize == 0 {
		maxMsgSize = -1
	}
	// nats.go's duplicate window: 2 minutes, or the TTL when shorter.
	dupes := 2 * time.Minute
	if cfg.TTL > 0 && cfg.TTL < dupes {
		dupes = cfg.TTL
	}
	return jetstream.StreamConfig{
		Name:              "KV_" + cfg.Bucket,
		Description:       cfg.Description,
		Subjects:          []string{KVSubject(cfg.Bucket, ">")},
		MaxMsgsPerSubject: history,
		MaxBytes:          maxBytes,
		MaxAge:            cfg.TTL,
		MaxMsgSize:        maxMsgSize,
		Storage:           cfg.Storage,
		Replicas:          max(cfg.Replicas, 1),
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        dupes,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		AllowDirect:       direct,
		Discard:           jetstream.DiscardNew,
	}
}

// Conflict reports whether a key-value write lost a compare-and-swap: a
// Create of a key that exists, or an Update, Delete or Purge at a revision
// that is no longer the key's latest. A single server reports it as
// nats-server's 10071, which jetstream.ErrKeyExists matches; a replicated
// bucket reports 10164, which it does not: nats.go marks an Update's
// conflict with jetstream.ErrKeyRevisionMismatch instead. A retry loop that
// only knew ErrKeyExists would fail on a cluster where it retries on one
// server.
func Conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// conflictBackoffMax bounds one wait of ConflictBackoff.
const conflictBackoffMax = 50 * time.Millisecond

// conflictWindow is the most ConflictBackoff waits after the attempt-th loss
// in a row; it waits at least half of it.
func conflictWindow(attempt int) time.Duration {
	if attempt <= 0 {
		return 0
	}
	return min(time.Millisecond<<min(attempt-1, 16), conflictBackoffMax)
}

// ConflictBackoff waits before a compare-and-swap loop's next attempt, the
// attempt-th in a row that lost (0 for the first loss): not at all after
// the first, then a random part of a window that doubles from 1ms up to
// conflictBackoffMax. On a single server a loss means the winner's write
// is there to read, and the immediate retry sees it. On a cluster the
// stream's leader refuses a write while another write of the same key is
// still being replicated, and a read meanwhile returns the revision before
// it: retrying at once loses again and again, so that a loop of a few
// attempts could give up within a millisecond against one other writer.
// The random part keeps two losers from retrying in step. It returns
// ctx's error if ctx ends first.
func ConflictBackoff(ctx context.Context, attempt int) error {
	window := conflictWindow(attempt)
	if window == 0 {
		return ctx.Err()
	}
	t := time.NewTimer(window/2 + rand.N(window/2+1))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
