package oplog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/jsonwire"
)

// publishExpect is jetstream's PublishMsg with WithExpectLastSequencePerSubject
// (same header, same retries of a missing responder, same errors: an
// *jetstream.APIError wrapped as "nats: %w"), without its costs on the hot
// path: the options and their closures, and the acknowledgement decoded by
// reflection (4-6 % of the all-in-one's CPU under interview load). Without
// a deadline in ctx it waits at most jetstream's default API timeout.
//
// dup reports an acknowledgement of a message the stream already held
// (PubAck.Duplicate): one with the same Nats-Msg-Id, stored at seq by an
// earlier send within the stream's Duplicates window.
//
// wait > 0 bounds the wait for the acknowledgement (one try of Publish), as
// a context with that timeout would, but with nats.go's pooled timer: a
// context per try was a timer, a cancel context and a map entry in its
// parent for every append (with the other two timeouts of a submit, 3.7 %
// of the all-in-one's CPU). ctx is checked before each send, and its
// deadline bounds the wait; a cancellation of ctx without a deadline is
// seen when the try ends. A wait that runs out returns
// context.DeadlineExceeded, as the context would. With a box (and wait >
// 0) the acknowledgement comes on the box's subscription (replyBox).
func publishExpect(ctx context.Context, nc *nats.Conn, box *replyBox, m *nats.Msg, lastSeq uint64, wait time.Duration) (seq uint64, dup bool, err error) {
	if _, ok := ctx.Deadline(); !ok && wait <= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultAckWait)
		defer cancel()
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(lastSeq, 10))
	resp, err := request(ctx, nc, box, m, wait)
	for r := 0; errors.Is(err, nats.ErrNoResponders) && r < jetstream.DefaultPubRetryAttempts; r++ {
		// A stream leader being elected: as jetstream retries.
		t := time.NewTimer(jetstream.DefaultPubRetryWait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		resp, err = request(ctx, nc, box, m, wait)
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return 0, false, jetstream.ErrNoStreamResponse
	}
	if err != nil {
		return 0, false, err
	}
	return readAck(resp.Data)
}

// request sends m and returns the answer: waiting until ctx ends when wait
// is 0, else for at most wait and never past ctx's deadline (see
// publishExpect), on box when there is one.
func request(ctx context.Context, nc *nats.Conn, box *replyBox, m *nats.Msg, wait time.Duration) (*nats.Msg, error) {
	if wait <= 0 {
		return nc.RequestMsgWithContext(ctx, m)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		if wait = min(wait, time.Until(d)); wait <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	if box != nil {
		return box.request(ctx, m, wait)
	}
	resp, err := nc.RequestMsg(m, wait)
	if errors.Is(err, nats.ErrTimeout) {
		return nil, context.DeadlineExceeded
	}
	return resp, err
}

// defaultAckWait is jetstream's default API timeout, which its PublishMsg
// applies to a context without a deadline.
const defaultAckWait = 5 * time.Second

// readAck reads JetStream's answer to a publish: the stored sequence and
// whether it is a duplicate's, or the API error it refused the message
// with.
func readAck(data []byte) (uint64, bool, error) {
	if seq, dup, ok := fastAck(data); ok {
		return seq, dup, nil
	}
	var ack struct {
		Error     *jetstream.APIError `json:"error,omitempty"`
		Stream    string              `json:"stream"`
		Seq       uint64              `json:"seq"`
		Duplicate bool                `json:"duplicate,omitempty"`
	}
	if err := json.Unmarshal(data, &ack); err != nil {
		return 0, false, jetstream.ErrInvalidJSAck
	}
	if ack.Error != nil {
		return 0, false, fmt.Errorf("nats: %w", ack.Error)
	}
	if ack.Stream == "" {
		return 0, false, jetstream.ErrInvalidJSAck
	}
	return ack.Seq, ack.Duplicate, nil
}

// fastAck reads an acknowledgement of a stored message,
// {"stream":"SESSION_OPS","seq":42} with perhaps "domain" and "duplicate",
// without reflection; false for anything else (an error, an odd shape),
// which readAck then decodes with encoding/json.
func fastAck(data []byte) (seq uint64, dup, ok bool) {
	if bytes.Contains(data, []byte(`"error"`)) {
		return 0, false, false
	}
	r := jsonwire.NewReader(data)
	var n int64
	var seen jsonwire.Seen
	const (
		sawStream jsonwire.Seen = 1 << iota
		sawSeq
		sawDup
	)
	ok = r.Object(func(key []byte) bool {
		switch string(key) {
		case "stream":
			s, ok := r.Value() // the name is not needed: no copy
			return ok && len(s) > 2 && s[0] == '"' && seen.First(sawStream)
		case "seq":
			v, ok := r.Int()
			n = v
			return ok && v > 0 && seen.First(sawSeq)
		case "duplicate":
			v, ok := r.Value()
			dup = string(v) == "true"
			return ok && (dup || string(v) == "false") && seen.First(sawDup)
		default:
			_, ok := r.Value()
			return ok
		}
	})
	if !ok || !r.End() || seen&(sawStream|sawSeq) != sawStream|sawSeq {
		return 0, false, false
	}
	return uint64(n), dup, true
}
