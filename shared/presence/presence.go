// Package presence owns the presence buckets: one key per open connection,
// written when it joins and removed when it leaves, and one heartbeat per
// realtime instance, re-put by the instance and expired by its bucket's TTL
// (PRESENCE_TIMEOUT) when the instance dies or is cut off. An entry counts
// only while its instance's heartbeat lives (Counts). It builds and parses
// the keys, writes entries and heartbeats, removes
// them in the way that says why (Leave, Expire, Purge) and reads watcher
// updates back as the same reasons (Decode), so the realtime instances,
// the janitor and session.Purge all speak the same events.
package presence

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/jsonwire"
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
	// Vouched: the entry's instance keeps a heartbeat, and the entry counts
	// only while it lives. Entries of older instances (no heartbeat, the
	// entry re-put every PRESENCE_TIMEOUT/3 instead) count for
	// PRESENCE_TIMEOUT after they were last written.
	Vouched bool `json:"vouched,omitempty"`
}

// Prefix is the key prefix of one session's presence entries.
func Prefix(sessionID string) string { return sessionID + "." }

// Key is the presence key of one connection: <sessionId>.<b64 userId>.<connId>.
// User ids may hold any character, so they are base64url-encoded into a
// valid key token.
func Key(sessionID, userID, connID string) string {
	return Prefix(sessionID) + broker.EncodeToken(userID) + "." + connID
}

// Key is the entry's key in the presence bucket.
func (e Entry) Key() string { return Key(e.SessionID, e.UserID, e.ConnID) }

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

// marker is the last value of a connection that leaves on purpose: a
// delete cannot say why, so Leave puts the entry once more with the reason
// before deleting it, and every watcher sees both, in order.
type marker struct {
	Entry
	Left string `json:"left,omitempty"`
}

// decodeMarker decodes an entry's value: in one pass when it has the shape
// Put and Leave write (every instance's watcher decodes every entry of the
// bucket, each refreshed every PRESENCE_TIMEOUT/3), else with
// encoding/json, which decides (FuzzDecodeMarker holds the two to each
// other).
func decodeMarker(b []byte, m *marker) error {
	if fastMarker(b, m) {
		return nil
	}
	*m = marker{}
	return json.Unmarshal(b, m)
}

// fastMarker is decodeMarker's fast path: an object of marker's keys,
// each at most once, spelled as encoding/json writes them, with strings
// and integers only; false for anything else.
func fastMarker(b []byte, m *marker) bool {
	r := jsonwire.NewReader(b)
	*m = marker{}
	var seen jsonwire.Seen
	str := func(dst *string, bit jsonwire.Seen) bool {
		v, ok := r.String()
		*dst = v
		return ok && seen.First(bit)
	}
	num := func(dst *int64, bit jsonwire.Seen) bool {
		v, ok := r.Int()
		*dst = v
		return ok && seen.First(bit)
	}
	ok := r.Object(func(key []byte) bool {
		switch string(key) {
		case "sessionId":
			return str(&m.SessionID, 1<<0)
		case "userId":
			return str(&m.UserID, 1<<1)
		case "name":
			return str(&m.Name, 1<<2)
		case "color":
			return str(&m.Color, 1<<3)
		case "role":
			return str(&m.Role, 1<<4)
		case "connId":
			return str(&m.ConnID, 1<<5)
		case "instance":
			return str(&m.Instance, 1<<6)
		case "connectedAt":
			return num(&m.ConnectedAt, 1<<7)
		case "lastSeen":
			return num(&m.LastSeen, 1<<8)
		case "left":
			return str(&m.Left, 1<<9)
		case "vouched":
			v, ok := r.Bool()
			m.Vouched = v
			return ok && seen.First(1<<10)
		}
		return false
	})
	return ok && r.End()
}

// Put writes (or renews) a connection's entry.
func Put(ctx context.Context, kv jetstream.KeyValue, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode presence of %s: %w", e.Key(), err)
	}
	if _, err := kv.Put(ctx, e.Key(), b); err != nil {
		return fmt.Errorf("put presence %s: %w", e.Key(), err)
	}
	return nil
}

// Leave removes a connection's entry for good, in the way that tells every
// watcher (Decode) why: a timeout is a purge, a manual leave puts the
// reason first and then deletes, anything else is a plain delete (a
// disconnect). An entry already gone is not an error.
func Leave(ctx context.Context, kv jetstream.KeyValue, e Entry, reason string) error {
	var err error
	switch reason {
	case protocol.LeftTimeout:
		return Expire(ctx, kv, e.Key())
	case protocol.LeftManual:
		b, _ := json.Marshal(marker{Entry: e, Left: reason})
		if _, err = kv.Put(ctx, e.Key(), b); err == nil {
			err = kv.Delete(ctx, e.Key())
		}
	default:
		err = kv.Delete(ctx, e.Key())
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("remove presence %s: %w", e.Key(), err)
	}
	return nil
}

// Expire purges one presence key: watchers see its connection leave with
// reason timeout, as when the bucket TTL expires it. The janitor's orphan
// clean-up and Purge both remove entries this way, and the instances
// remove a dead instance's entries so (with the revision they saw: an
// entry its instance wrote again since, back from an outage, stays). A
// key already gone is not an error.
func Expire(ctx context.Context, kv jetstream.KeyValue, key string, opts ...jetstream.KVDeleteOpt) error {
	if err := kv.Purge(ctx, key, opts...); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("purge presence %s: %w", key, err)
	}
	return nil
}

// Change is what one update of a presence watcher means.
type Change struct {
	Key   string
	Entry Entry  // a put's entry (or a leave marker's); for a delete or purge only the fields of the key
	Left  string // "" while the connection is present, else why it left (protocol.Left*)
}

// Decode reads one update of a presence watcher; ok is false for what is
// not a presence entry (a malformed key or value, or a value naming
// another session than its key). A put is a connection present (a new
// entry or a renewal), a leave marker a manual leave, a delete a
// disconnect, and a purge a timeout: its instance missed the keepalive,
// another instance purged the entries of one whose heartbeat expired, the
// bucket TTL expired an entry nobody removed, or the janitor removed it.
func Decode(e jetstream.KeyValueEntry) (c Change, ok bool) {
	sid, uid, cid, err := ParseKey(e.Key())
	if err != nil {
		return Change{}, false
	}
	c.Key = e.Key()
	switch e.Operation() {
	case jetstream.KeyValuePut:
		var m marker
		if decodeMarker(e.Value(), &m) != nil || m.SessionID != sid {
			return Change{}, false
		}
		c.Entry, c.Left = m.Entry, m.Left
	case jetstream.KeyValuePurge:
		c.Entry, c.Left = Entry{SessionID: sid, UserID: uid, ConnID: cid}, protocol.LeftTimeout
	default:
		c.Entry, c.Left = Entry{SessionID: sid, UserID: uid, ConnID: cid}, protocol.LeftDisconnect
	}
	return c, true
}

// Entries returns every connection's entry in a session, counted or not.
func Entries(ctx context.Context, kv jetstream.KeyValue, sessionID string) ([]Entry, error) {
	var out []Entry
	err := readEntries(ctx, kv, sessionID, func(e Entry, _ jetstream.KeyValueEntry) { out = append(out, e) })
	return out, err
}

// readEntries hands each present connection's entry of a session (a leave
// marker is a connection gone) to each, with its update.
func readEntries(ctx context.Context, kv jetstream.KeyValue, sessionID string, each func(Entry, jetstream.KeyValueEntry)) error {
	w, err := kv.Watch(ctx, Prefix(sessionID)+">", jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("watch presence of %s: %w", sessionID, err)
	}
	return readAll(ctx, w, "presence of "+sessionID, func(e jetstream.KeyValueEntry) {
		var m marker
		if decodeMarker(e.Value(), &m) == nil && m.Left == "" {
			each(m.Entry, e)
		}
	})
}

// readAll hands what w holds to each, until its initial values end, and
// stops it.
func readAll(ctx context.Context, w jetstream.KeyWatcher, what string, each func(jetstream.KeyValueEntry)) error {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("read %s: %w", what, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("read %s: the watcher closed", what)
			}
			if e == nil {
				return nil
			}
			each(e)
		}
	}
}

// Users folds connection entries into one user each (two tabs are one
// presence entry), ordered by who came first (then by id); a user's
// lastSeen is the latest of its entries'. It runs for every periodic
// presence-update of every room, so the fold is a slice searched in place
// (a map only past foldIndexed entries) and the users are built once.
func Users(entries []Entry) []protocol.User {
	type folded struct {
		e           *Entry // the user's first entry: its name, color and role
		first, seen int64
	}
	fs := make([]folded, 0, len(entries))
	var index map[string]int
	if len(entries) > foldIndexed {
		index = make(map[string]int, len(entries))
	}
	for k := range entries {
		e := &entries[k]
		i := -1
		if index != nil {
			if j, ok := index[e.UserID]; ok {
				i = j
			}
		} else {
			for j := range fs {
				if fs[j].e.UserID == e.UserID {
					i = j
					break
				}
			}
		}
		if i < 0 {
			if index != nil {
				index[e.UserID] = len(fs)
			}
			fs = append(fs, folded{e: e, first: e.ConnectedAt, seen: max(0, e.LastSeen)})
			continue
		}
		fs[i].seen = max(fs[i].seen, e.LastSeen)
		fs[i].first = min(fs[i].first, e.ConnectedAt)
	}
	slices.SortFunc(fs, func(a, b folded) int {
		if c := cmp.Compare(a.first, b.first); c != 0 {
			return c
		}
		return strings.Compare(a.e.UserID, b.e.UserID)
	})
	out := make([]protocol.User, len(fs))
	for i, f := range fs {
		out[i] = protocol.User{ID: f.e.UserID, Name: f.e.Name, Color: f.e.Color, Role: protocol.Role(f.e.Role).OrDefault(),
			LastSeen: ISOTime(f.seen)}
	}
	return out
}

// foldIndexed is how many entries Users searches without a map.
const foldIndexed = 16

// Count returns the number of distinct users connected to a session: the
// users of its entries that count (Live).
func Count(ctx context.Context, in *broker.Infra, sessionID string) (int, error) {
	entries, err := Live(ctx, in, sessionID)
	if err != nil {
		return 0, err
	}
	users := map[string]bool{}
	for _, e := range entries {
		users[e.UserID] = true
	}
	return len(users), nil
}

// Live returns the entries of a session that count now: a vouched entry
// while its instance's heartbeat lives, an entry of an older instance for
// in.PresenceTTL after it was last written (by the NATS server's clock).
func Live(ctx context.Context, in *broker.Infra, sessionID string) ([]Entry, error) {
	beats, err := Instances(ctx, in.PresenceInstances)
	if err != nil {
		return nil, err
	}
	var out []Entry
	err = readEntries(ctx, in.Presence, sessionID, func(m Entry, e jetstream.KeyValueEntry) {
		if _, alive := beats[m.Instance]; m.Vouched && alive || !m.Vouched && time.Since(e.Created()) < in.PresenceTTL {
			out = append(out, m)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Beat is the value of a realtime instance's heartbeat.
type Beat struct {
	Instance string `json:"instance"`
	At       int64  `json:"at"` // when it was put: unix milliseconds, the instance's clock
}

// BeatKey is an instance's key in the instances bucket. Instance ids are
// base64url-encoded into a valid key token.
func BeatKey(instance string) string { return broker.EncodeToken(instance) }

// PutBeat writes (or renews) an instance's heartbeat.
func PutBeat(ctx context.Context, kv jetstream.KeyValue, b Beat) error {
	v, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode heartbeat of %s: %w", b.Instance, err)
	}
	if _, err := kv.Put(ctx, BeatKey(b.Instance), v); err != nil {
		return fmt.Errorf("put heartbeat of %s: %w", b.Instance, err)
	}
	return nil
}

// DecodeBeat reads one update of an instances-bucket watcher: the
// instance's heartbeat, and whether it lives (a put) or is gone (expired
// by the bucket TTL, or removed); ok is false for what is not a heartbeat.
func DecodeBeat(e jetstream.KeyValueEntry) (b Beat, alive, ok bool) {
	id, err := broker.DecodeToken(e.Key())
	if err != nil || id == "" {
		return Beat{}, false, false
	}
	if e.Operation() != jetstream.KeyValuePut {
		return Beat{Instance: id}, false, true
	}
	if json.Unmarshal(e.Value(), &b) != nil || b.Instance != id {
		return Beat{}, false, false
	}
	return b, true, true
}

// Instances returns the heartbeat of every instance alive now, by id.
func Instances(ctx context.Context, kv jetstream.KeyValue) (map[string]Beat, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch heartbeats: %w", err)
	}
	out := map[string]Beat{}
	err = readAll(ctx, w, "heartbeats", func(e jetstream.KeyValueEntry) {
		if b, alive, ok := DecodeBeat(e); ok && alive {
			out[b.Instance] = b
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Purge removes every presence key of a session, each as Expire does.
func Purge(ctx context.Context, kv jetstream.KeyValue, sessionID string) error {
	keys, err := kv.ListKeysFiltered(ctx, Prefix(sessionID)+">")
	if err != nil {
		return fmt.Errorf("list presence of %s: %w", sessionID, err)
	}
	var errs []error
	for k := range keys.Keys() {
		errs = append(errs, Expire(ctx, kv, k))
	}
	return errors.Join(errs...)
}

// ISOTime formats unix milliseconds as ISO 8601 in UTC with milliseconds,
// the form of presence entries' lastSeen on the wire.
func ISOTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
