// Package presence reads and writes the presence bucket: one key per open
// connection, refreshed by its instance and expired by the bucket TTL when
// the instance dies.
package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Entry is the value of one connection's presence key.
type Entry struct {
	SessionID   string `json:"sessionId"`
	UserID      string `json:"userId"`
	Name        string `json:"name"`
	Color       string `json:"color"`
	Role        string `json:"role,omitempty"` // the user's role; empty in entries of older instances
	ConnID      string `json:"connId"`
	Instance    string `json:"instance"`
	ConnectedAt int64  `json:"connectedAt"`
	LastSeen    int64  `json:"lastSeen"`
}

// Key is the entry's key in the presence bucket.
func (e Entry) Key() string { return broker.PresenceKey(e.SessionID, e.UserID, e.ConnID) }

// ParseKey splits a presence key into its session, user and connection.
func ParseKey(key string) (sessionID, userID, connID string, err error) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("presence key %q: want 3 tokens", key)
	}
	uid, err := broker.DecodeToken(parts[1])
	if err != nil {
		return "", "", "", fmt.Errorf("presence key %q: %w", key, err)
	}
	return parts[0], uid, parts[2], nil
}

// Entries returns every connection's entry in a session.
func Entries(ctx context.Context, kv jetstream.KeyValue, sessionID string) ([]Entry, error) {
	w, err := kv.Watch(ctx, broker.PresencePrefix(sessionID)+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch presence of %s: %w", sessionID, err)
	}
	defer w.Stop()
	var out []Entry
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read presence of %s: %w", sessionID, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("presence watcher closed")
			}
			if e == nil {
				return out, nil
			}
			var en Entry
			if json.Unmarshal(e.Value(), &en) == nil {
				out = append(out, en)
			}
		}
	}
}

// Users folds connection entries into one user each (two tabs are one
// presence entry), ordered by who came first.
func Users(entries []Entry) []protocol.User {
	byID := map[string]*protocol.User{}
	first := map[string]int64{}
	seen := map[string]int64{}
	for _, e := range entries {
		if _, ok := byID[e.UserID]; !ok {
			byID[e.UserID] = &protocol.User{ID: e.UserID, Name: e.Name, Color: e.Color, Role: protocol.Role(e.Role).OrDefault()}
			first[e.UserID] = e.ConnectedAt
		}
		seen[e.UserID] = max(seen[e.UserID], e.LastSeen)
		if e.ConnectedAt < first[e.UserID] {
			first[e.UserID] = e.ConnectedAt
		}
	}
	out := make([]protocol.User, 0, len(byID))
	for _, u := range byID {
		u.LastSeen = ISOTime(seen[u.ID])
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if first[out[i].ID] != first[out[j].ID] {
			return first[out[i].ID] < first[out[j].ID]
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Count returns the number of distinct users connected to a session.
func Count(ctx context.Context, kv jetstream.KeyValue, sessionID string) (int, error) {
	keys, err := kv.ListKeysFiltered(ctx, broker.PresencePrefix(sessionID)+">")
	if err != nil {
		return 0, fmt.Errorf("list presence of %s: %w", sessionID, err)
	}
	users := map[string]bool{}
	for k := range keys.Keys() {
		if _, uid, _, err := ParseKey(k); err == nil {
			users[uid] = true
		}
	}
	return len(users), nil
}

// Purge removes every presence key of a session.
func Purge(ctx context.Context, kv jetstream.KeyValue, sessionID string) error {
	keys, err := kv.ListKeysFiltered(ctx, broker.PresencePrefix(sessionID)+">")
	if err != nil {
		return fmt.Errorf("list presence of %s: %w", sessionID, err)
	}
	var errs []error
	for k := range keys.Keys() {
		if err := kv.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ISOTime formats unix milliseconds as ISO 8601 in UTC with milliseconds,
// the form of presence entries' lastSeen on the wire.
func ISOTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
