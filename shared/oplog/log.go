package oplog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
)

// DefaultLimit is how many entries Read returns when asked for limit <= 0.
const DefaultLimit = 1000

// batchSize is how many messages one batched direct get asks for: large
// enough that catching up is a handful of round trips, small enough that an
// answer stays well under the client's pending limits.
const batchSize = 500

// Append stores e as the next entry of the session's log, provided the last
// message on the session's subject has sequence lastSeq (0: the subject is
// empty). It returns the stored sequence once JetStream acknowledged it, so
// the entry is durable; ErrConflict means another writer got there first.
func Append(ctx context.Context, js jetstream.JetStream, sessionID string, e Entry, lastSeq uint64) (uint64, error) {
	m, err := Encode(sessionID, e)
	if err != nil {
		return 0, err
	}
	ack, err := js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(lastSeq))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, fmt.Errorf("append version %d to %s after seq %d: %w", e.Version, sessionID, lastSeq, ErrConflict)
		}
		return 0, fmt.Errorf("append version %d to %s: %w", e.Version, sessionID, err)
	}
	return ack.Sequence, nil
}

// Last returns the session's newest entry; ok is false when its log is empty.
func Last(ctx context.Context, in *broker.Infra, sessionID string) (e Entry, ok bool, err error) {
	m, err := in.Ops.GetLastMsgForSubject(ctx, broker.OpsSubject(sessionID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("last op of %s: %w", sessionID, err)
	}
	e, err = DecodeRaw(m)
	if err != nil {
		return Entry{}, false, fmt.Errorf("last op of %s: %w", sessionID, err)
	}
	return e, true, nil
}

// first returns the oldest entry the stream still holds for the session at
// or after stream sequence seq.
func first(ctx context.Context, in *broker.Infra, sessionID string, seq uint64) (e Entry, ok bool, err error) {
	m, err := in.Ops.GetMsg(ctx, max(seq, 1), jetstream.WithGetMsgSubject(broker.OpsSubject(sessionID)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("op of %s at seq %d: %w", sessionID, seq, err)
	}
	e, err = DecodeRaw(m)
	if err != nil {
		return Entry{}, false, fmt.Errorf("op of %s at seq %d: %w", sessionID, seq, err)
	}
	return e, true, nil
}

// ReadAfter returns up to limit entries of the session stored after stream
// sequence afterSeq, in order, with batched direct gets (no consumer).
func ReadAfter(ctx context.Context, in *broker.Infra, sessionID string, afterSeq uint64, limit int) ([]Entry, error) {
	var out []Entry
	next := afterSeq + 1
	for limit <= 0 || len(out) < limit {
		want := batchSize
		if limit > 0 {
			want = min(want, limit-len(out))
		}
		got, more, err := batch(ctx, in, broker.OpsSubject(sessionID), next, want)
		if err != nil {
			return out, fmt.Errorf("read ops of %s after seq %d: %w", sessionID, next-1, err)
		}
		out = append(out, got...)
		if len(got) == 0 || !more {
			break
		}
		next = got[len(got)-1].Seq + 1
	}
	return out, nil
}

// batch runs one batched direct get: up to n messages on subject from
// stream sequence seq. more reports that the stream holds further matches.
func batch(ctx context.Context, in *broker.Infra, subject string, seq uint64, n int) (out []Entry, more bool, err error) {
	req, err := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
		Batch   int    `json:"batch"`
	}{seq, subject, n})
	if err != nil {
		return nil, false, err
	}
	inbox := in.NC.NewRespInbox()
	sub, err := in.NC.SubscribeSync(inbox)
	if err != nil {
		return nil, false, err
	}
	defer sub.Unsubscribe()
	if err := in.NC.PublishRequest("$JS.API.DIRECT.GET."+broker.StreamOps, inbox, req); err != nil {
		return nil, false, err
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return out, false, err
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "404": // nothing (more) on the subject
			return out, false, nil
		case "204": // end of batch
			np, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			return out, np > 0 && len(out) > 0, nil
		case "503":
			return out, false, nats.ErrNoResponders
		default:
			return out, false, fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
		}
		e, err := Decode(m)
		if err != nil {
			return out, false, err
		}
		out = append(out, e)
	}
}
