package oplog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Limits bound one read: at most Entries entries and at most Bytes bytes of
// entry bodies (Entry.Size). A read always returns the first entry it finds,
// even one larger than Bytes, so it makes progress whatever the sizes.
type Limits struct {
	Entries int // DefaultEntries when <= 0
	Bytes   int // DefaultBytes when <= 0
}

// Defaults of Limits.
const (
	DefaultEntries = 1000
	DefaultBytes   = 8 << 20
)

func (l Limits) orDefaults() Limits {
	if l.Entries <= 0 {
		l.Entries = DefaultEntries
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultBytes
	}
	return l
}

// Bounds of one batched direct get. Entries are up to the stream's
// MaxMsgSize (2 MiB, 256 KiB in practice) each, so a batch is capped by
// bytes (the request's max_bytes) as well as by count: nats-server sends a
// batch as fast as it can, and an answer near its 64 MiB pending limit
// (500 entries of 256 KiB) gets the reader's whole connection closed as a
// slow consumer, cutting every session of that service off NATS. The server
// stops after the message that reaches max_bytes, so an answer stays under
// batchBytes plus one message.
const (
	batchSize  = 500
	batchBytes = 4 << 20
)

// Append stores e as the next entry of the session's log, provided the last
// message on the session's subject has sequence lastSeq (0: the subject is
// empty). It returns the stored sequence once JetStream acknowledged it, so
// the entry is durable; ErrConflict means another writer got there first.
// An acknowledgement that does not come within AckWait is asked for again
// (Publish).
func Append(ctx context.Context, js jetstream.JetStream, sessionID string, e Entry, lastSeq uint64) (uint64, error) {
	m, err := Encode(sessionID, e)
	if err != nil {
		return 0, err
	}
	return Publish(ctx, js, sessionID, e.Version, m, lastSeq, Retry{Try: AckWait})
}

// AckWait is how long Append waits for one acknowledgement before it sends
// the entry again.
const AckWait = 2 * time.Second

// Retry says how Publish asks again for an acknowledgement that is late.
type Retry struct {
	// Try bounds the wait for one acknowledgement; past it the same
	// message is sent again, until ctx ends. 0: one send, waited for
	// until ctx ends.
	Try time.Duration
	// Resends, when set, counts the messages sent again for that.
	Resends *atomic.Int64
	// Until, when set, ends the append as a deadline of ctx would, if it
	// comes first: a caller bounding one step of a longer operation passes
	// its bound here rather than deriving a context with a timer, which an
	// append acknowledged in its first try never needs.
	Until time.Time
	// Replies, when set (on js's connection), receives the
	// acknowledgements of the tries on a subscription of one of its reply
	// boxes, which nats.go's read loop hands them to directly, instead of
	// the connection's shared request subscription and its goroutine.
	Replies *Replies
}

// Publish is Append for an entry already encoded (Encode), for a caller
// that needs its size first; version is the entry's, for errors. ErrFull
// means the stream is at OPS_MAX_BYTES: answer it with FullRefusal;
// ErrNoStorage that the server's JetStream storage is full: answer it with
// NoStorageRefusal.
//
// An append whose acknowledgement does not come in time may have been
// stored all the same. Publish sends the same message again (r.Try), with
// the same Nats-Msg-Id (Encode), so it is stored once whatever happened to
// the first: JetStream answers a copy of a stored message, within the
// stream's Duplicates window, with that message's sequence and duplicate
// set (a replicated stream), or a single server with its expected-sequence
// refusal, since our own entry is now the subject's last. Either way
// Publish reads back what the stream holds after lastSeq and returns its
// sequence when it is this message, byte for byte: the caller's own
// append, stored once.
func Publish(ctx context.Context, js jetstream.JetStream, sessionID string, version int64, m *nats.Msg, lastSeq uint64, r Retry) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok && r.Until.IsZero() {
		// Resends go on until ctx ends: bound them as one send would be.
		r.Until = time.Now().Add(defaultAckWait)
	}
	until := r.Until
	bounded := false
	if r.Try <= 0 {
		// The one send waits on ctx itself.
		until, bounded = time.Time{}, true
		var cancel context.CancelFunc
		ctx, cancel = withUntil(ctx, r.Until)
		defer cancel()
	}
	nc := js.Conn()
	var box *replyBox
	if r.Replies != nil && r.Try > 0 {
		// Without a box (the subscription failed: the connection is
		// closing) the tries go as requests.
		if b, err := r.Replies.get(); err == nil {
			box = b
			defer r.Replies.put(box)
		}
	}
	sent := false // a send went unanswered: the message may be stored
	for busy, wait := 0, busyFirstWait; ; {
		seq, dup, err := publishTry(ctx, nc, box, m, lastSeq, r.Try, until)
		if err == nil && !dup {
			return seq, nil
		}
		if !bounded {
			// Off the first try's success: the rest waits on ctx.
			until, bounded = time.Time{}, true
			var cancel context.CancelFunc
			ctx, cancel = withUntil(ctx, r.Until)
			defer cancel()
		}
		switch {
		case err == nil:
			return storedAfter(ctx, nc, sessionID, version, m, lastSeq)
		case unanswered(ctx, err, r.Try, r.Until):
			sent = true
			if r.Resends != nil {
				r.Resends.Add(1)
			}
			continue
		case subjectBusy(err) || idInProcess(err):
			if busy++; busy >= busyTries {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, fmt.Errorf("append version %d to %s: %w", version, sessionID, ctx.Err())
			case <-t.C:
			}
			wait = min(2*wait, busyMaxWait)
			continue
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant || apiErr.ErrorCode == jsErrCodeIDInProcess) {
			if sent {
				// Perhaps ours, stored by the send that went unanswered.
				inProcess := subjectBusy(err) || idInProcess(err)
				seq, err := storedAfter(ctx, nc, sessionID, version, m, lastSeq)
				if errors.Is(err, errNothingAfter) && inProcess {
					// Still in process after busyTries, perhaps ours: the
					// outcome is unknown, as at a deadline.
					return 0, fmt.Errorf("append version %d to %s: sent again after no answer, and still in process: %w",
						version, sessionID, context.DeadlineExceeded)
				}
				return seq, err
			}
			return 0, fmt.Errorf("append version %d to %s after seq %d: %w", version, sessionID, lastSeq, ErrConflict)
		}
		if noRoom := noRoomFor(err); noRoom != nil {
			if sent {
				// Perhaps stored by the send that went unanswered,
				// before the room ran out.
				if seq, err := storedAfter(ctx, nc, sessionID, version, m, lastSeq); !errors.Is(err, errNothingAfter) {
					return seq, err
				}
			}
			// Not wrapped: a 503 API error would pass for an outage.
			return 0, fmt.Errorf("append version %d to %s: %w", version, sessionID, noRoom)
		}
		return 0, fmt.Errorf("append version %d to %s: %w", version, sessionID, err)
	}
}

// publishTry is one send of m, waiting at most try (0: until ctx ends) for
// its acknowledgement.
func publishTry(ctx context.Context, nc *nats.Conn, box *replyBox, m *nats.Msg, lastSeq uint64, try time.Duration, until time.Time) (uint64, bool, error) {
	if !until.IsZero() {
		if try = min(try, time.Until(until)); try <= 0 {
			return 0, false, context.DeadlineExceeded
		}
	}
	return publishExpect(ctx, nc, box, m, lastSeq, try)
}

// withUntil is ctx ending at until too, when set and before ctx's own
// deadline.
func withUntil(ctx context.Context, until time.Time) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); until.IsZero() || ok && !until.Before(d) {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, until)
}

// unanswered reports a send whose acknowledgement did not come within its
// try while ctx still has time, before until (when set): it is sent
// again. A deadline that has passed ends the append even while ctx.Err is
// still nil, as it is until ctx's timer fires, late on a loaded machine:
// a try past it returns at once without sending, and taking that for an
// unanswered send spun (10 million times in one 20 s window of the split
// layout's heavy interview, under the session's submit lock).
func unanswered(ctx context.Context, err error, try time.Duration, until time.Time) bool {
	if try <= 0 || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	now := time.Now()
	if d, ok := ctx.Deadline(); ok && !now.Before(d) {
		return false
	}
	return until.IsZero() || now.Before(until)
}

// storedAfter returns the sequence of m when it is the session's entry
// after lastSeq: what an earlier send of it stored. Anything else there is
// another writer's (ErrConflict); nothing there means the session's log
// was purged under us (ErrConflict too: the caller's catch-up finds out).
func storedAfter(ctx context.Context, nc *nats.Conn, sessionID string, version int64, m *nats.Msg, lastSeq uint64) (uint64, error) {
	seq, data, ok, err := leaderGetRaw(ctx, nc, msgGetRequest{Seq: lastSeq + 1, NextFor: broker.OpsSubject(sessionID)})
	if err != nil {
		return 0, fmt.Errorf("append version %d to %s: read back after seq %d: %w", version, sessionID, lastSeq, err)
	}
	switch {
	case !ok:
		return 0, fmt.Errorf("append version %d to %s after seq %d: %w", version, sessionID, lastSeq, errNothingAfter)
	case bytes.Equal(data, m.Data):
		return seq, nil
	}
	return 0, fmt.Errorf("append version %d to %s after seq %d: %w", version, sessionID, lastSeq, ErrConflict)
}

// errNothingAfter is storedAfter finding no entry after the sequence: a
// conflict (the log was purged under the writer), unless the writer's own
// message may still be in process.
var errNothingAfter = fmt.Errorf("nothing stored after the expected sequence: %w", ErrConflict)

// idInProcess reports a replicated stream's refusal of a message whose
// Nats-Msg-Id is in process (10158, JSStreamDuplicateMessageConflict): an
// earlier send of it, not yet applied. Asked again, as for 10164.
func idInProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrCodeIDInProcess
}

// jsErrCodeIDInProcess is nats-server's JSStreamDuplicateMessageConflict.
const jsErrCodeIDInProcess jetstream.ErrorCode = 10158

// A replicated stream's leader refuses an append whose subject still has
// an entry in process (proposed, or applied and acknowledged but not yet
// cleared) with 10164 (JSStreamWrongLastSequenceConstant) without checking
// the expected sequence: a writer's next append, sent the moment the
// previous one was acknowledged, can meet its own entry there. Nothing was
// stored, so Publish sends it again, after busyFirstWait doubling up to
// busyMaxWait, until the leader answers with the check (a stored entry, or
// 10071 if another writer's entry was the one in process); after busyTries
// sends it is taken for a conflict. A single server never answers 10164.
const (
	busyFirstWait = time.Millisecond
	busyMaxWait   = 50 * time.Millisecond
	busyTries     = 40
)

// subjectBusy reports a refusal with 10164: the subject had an entry in
// process and the expected sequence was not checked.
func subjectBusy(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// How nats-server refuses a message a DiscardNew stream has no room for:
// JSStreamStoreFailedF (10077, status 503) with the store's ErrMaxBytes as
// the description, for a single server and a cluster alike.
const (
	jsErrCodeStoreFailed jetstream.ErrorCode = 10077
	descMaxBytes                             = "maximum bytes exceeded"
)

// noRoomFor says which refusal for room err is: ErrFull (the stream's
// MaxBytes), ErrNoStorage (the server's storage), or nil for any other.
func noRoomFor(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case !errors.As(err, &apiErr):
		return nil
	case apiErr.ErrorCode == jsErrCodeStoreFailed && apiErr.Description == descMaxBytes:
		return ErrFull
	case broker.NoStorage(err):
		return ErrNoStorage
	}
	return nil
}

// FullRetryAfter is how long a writer refused with ErrFull is told to wait:
// room comes back as the janitor expires sessions, not within a second.
const FullRetryAfter = 5 * time.Second

// FullRefusal is the client's answer to an append refused with ErrFull:
// SERVICE_UNAVAILABLE naming the limit, to resend after retryAfterMs
// (FullRetryAfter; REST adds it as Retry-After). Nothing was stored, and
// nothing stored before was dropped for it.
func FullRefusal(cause error) *protocol.Error {
	return protocol.Wrap(protocol.CodeServiceUnavailable,
		"The op log is full (OPS_MAX_BYTES): the update was not stored; retry later", cause).
		WithDetails(map[string]any{"limit": "OPS_MAX_BYTES", "retryAfterMs": FullRetryAfter.Milliseconds()})
}

// NoStorageRefusal is the client's answer to an append refused with
// ErrNoStorage: SERVICE_UNAVAILABLE saying the server cannot store edits
// now, to resend after retryAfterMs (broker.NoStorageRetryAfter: room
// comes back when an operator frees or adds storage, not within a second),
// as broker.Classify answers any other write refused for storage. Nothing
// was stored, and nothing stored before was dropped for it.
func NoStorageRefusal(cause error) *protocol.Error {
	return protocol.Wrap(protocol.CodeServiceUnavailable,
		"The server cannot store edits right now: its storage is full; the update was not stored; retry later", cause).
		WithDetails(map[string]any{"limit": "max_file_store", "retryAfterMs": broker.NoStorageRetryAfter.Milliseconds()})
}

// PurgeBefore removes the session's entries stored before stream sequence
// seq: what a snapshot at that entry's version made unnecessary for
// loading. The entry at seq itself stays, so the subject never empties (an
// empty subject means an ended session to a writer that lost an append).
func PurgeBefore(ctx context.Context, in *broker.Infra, sessionID string, seq uint64) error {
	err := in.Ops.Purge(ctx, jetstream.WithPurgeSubject(broker.OpsSubject(sessionID)), jetstream.WithPurgeSequence(seq))
	if err != nil {
		return fmt.Errorf("purge ops of %s before seq %d: %w", sessionID, seq, err)
	}
	return nil
}

// Last returns the session's newest entry, as the stream leader has it
// (leaderGet): the newest acknowledged; ok is false when its log is empty.
func Last(ctx context.Context, in *broker.Infra, sessionID string) (e Entry, ok bool, err error) {
	e, ok, err = leaderGet(ctx, in, msgGetRequest{LastFor: broker.OpsSubject(sessionID)})
	if err != nil {
		return Entry{}, false, fmt.Errorf("last op of %s: %w", sessionID, err)
	}
	return e, ok, nil
}

// First returns the oldest entry the stream still holds for the session;
// ok is false when its log is empty.
func First(ctx context.Context, in *broker.Infra, sessionID string) (e Entry, ok bool, err error) {
	return first(ctx, in, sessionID, 1)
}

// first returns the oldest entry the stream leader holds for the session
// at or after stream sequence seq.
func first(ctx context.Context, in *broker.Infra, sessionID string, seq uint64) (e Entry, ok bool, err error) {
	e, ok, err = leaderGet(ctx, in, msgGetRequest{Seq: max(seq, 1), NextFor: broker.OpsSubject(sessionID)})
	if err != nil {
		return Entry{}, false, fmt.Errorf("op of %s at seq %d: %w", sessionID, seq, err)
	}
	return e, ok, nil
}

// ReadAfter returns the session's entries stored after stream sequence
// afterSeq, in order, within lim, at least through the newest entry the
// stream leader had acknowledged when it began (Last); more reports that it
// stopped at lim before that entry. A large read is done in pieces: call
// again after the last entry returned.
func ReadAfter(ctx context.Context, in *broker.Infra, sessionID string, afterSeq uint64, lim Limits) (out []Entry, more bool, err error) {
	last, ok, err := Last(ctx, in, sessionID)
	if err != nil || !ok || last.Seq <= afterSeq {
		return nil, false, err
	}
	return readTo(ctx, in, sessionID, afterSeq, last.Seq, lim)
}

// readTo reads the session's entries after stream sequence afterSeq
// through sequence to (an entry the leader acknowledged), within lim, with
// batched direct gets (no consumer). A direct get may be answered by a
// follower that has not applied the newest entries: its batch ends short of
// to, and the entry after it comes from the leader (first) before the next
// batch, so a short answer is never taken for the end of the log.
func readTo(ctx context.Context, in *broker.Infra, sessionID string, afterSeq, to uint64, lim Limits) (out []Entry, more bool, err error) {
	lim = lim.orDefaults()
	subject := broker.OpsSubject(sessionID)
	next, size := afterSeq+1, 0
	for next <= to {
		want, wantBytes := min(batchSize, lim.Entries-len(out)), min(batchBytes, lim.Bytes-size)
		got, err := batch(ctx, in, subject, next, want, max(wantBytes, 1))
		if err != nil {
			return out, false, fmt.Errorf("read ops of %s after seq %d: %w", sessionID, next-1, err)
		}
		if len(got) == 0 {
			e, ok, err := first(ctx, in, sessionID, next)
			if err != nil || !ok {
				// Not there at the leader either: purged since (the session ended).
				return out, false, err
			}
			got = []Entry{e}
		}
		for i, e := range got {
			if len(out) > 0 && size+e.Size > lim.Bytes {
				// The server stops after the message that crosses max_bytes:
				// leave it for the next read, which always takes one.
				return out, true, nil
			}
			out, size = append(out, e), size+e.Size
			if len(out) == lim.Entries || size >= lim.Bytes {
				return out, e.Seq < to || i < len(got)-1, nil
			}
		}
		next = got[len(got)-1].Seq + 1
	}
	return out, false, nil
}

// batch runs one batched direct get: up to n messages on subject from
// stream sequence seq, stopping after the one that reaches maxBytes, as the
// replica that answers holds them.
func batch(ctx context.Context, in *broker.Infra, subject string, seq uint64, n, maxBytes int) (out []Entry, err error) {
	req, err := json.Marshal(struct {
		Seq      uint64 `json:"seq"`
		NextFor  string `json:"next_by_subj"`
		Batch    int    `json:"batch"`
		MaxBytes int    `json:"max_bytes"`
	}{seq, subject, n, maxBytes})
	if err != nil {
		return nil, err
	}
	inbox := in.NC.NewRespInbox()
	// The answer is at most n messages and one status (end of batch, not
	// found, no responders): a channel that holds them all is never full.
	// SubscribeSync would make one of the connection's SubChanLen (64 Ki
	// pointers, 512 KiB, scanned by the GC) per read, and a realtime
	// instance that loses many append races runs hundreds at once.
	ch := make(chan *nats.Msg, n+1)
	sub, err := in.NC.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := in.NC.PublishRequest("$JS.API.DIRECT.GET."+broker.StreamOps, inbox, req); err != nil {
		return nil, err
	}
	for {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-ctx.Done():
			return out, ctx.Err()
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "404": // nothing (more) on the subject
			return out, nil
		case "204": // end of batch
			return out, nil
		case "503":
			return out, nats.ErrNoResponders
		default:
			return out, fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
		}
		e, err := Decode(m)
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}
