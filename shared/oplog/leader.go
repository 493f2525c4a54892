package oplog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
)

// Reads of single entries go to the stream leader: a direct get
// ($JS.API.DIRECT.GET, AllowDirect) is answered by any replica of the
// stream, the one on the reader's server first, and a follower may not
// have applied entries the leader already acknowledged (nats-server issues
// 4710, 6557, 7281). $JS.API.STREAM.MSG.GET is answered by the leader
// only, so the newest entry it names is the newest acknowledged one, and
// batched reads (ReadAfter) know how far they must get.

// msgGetSubject is the JetStream API subject only the op log's leader answers.
const msgGetSubject = "$JS.API.STREAM.MSG.GET." + broker.StreamOps

// jsErrNoMessageFound is nats-server's JSNoMessageFoundErr: nothing matches.
const jsErrNoMessageFound = 10037

// msgGetRequest is the request of a leader get: the last entry on a
// subject, or the first on a subject at or after a sequence.
type msgGetRequest struct {
	Seq       uint64 `json:"seq,omitempty"`
	LastFor   string `json:"last_by_subj,omitempty"`
	NextFor   string `json:"next_by_subj,omitempty"`
	NoHeaders bool   `json:"no_hdr"`
}

// msgGetResponse is the leader's answer: a message or an API error.
type msgGetResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Message *struct {
		Seq  uint64 `json:"seq"`
		Data []byte `json:"data"`
	} `json:"message"`
}

// leaderGet reads one entry at the stream leader; ok is false when none
// matches req.
func leaderGet(ctx context.Context, in *broker.Infra, req msgGetRequest) (e Entry, ok bool, err error) {
	seq, data, ok, err := leaderGetRaw(ctx, in.NC, req)
	if err != nil || !ok {
		return Entry{}, false, err
	}
	e, err = decodeBody(data)
	if err != nil {
		return Entry{}, false, err
	}
	e.Seq = seq
	return e, true, nil
}

// leaderGetRaw reads one message at the stream leader: its sequence and
// body; ok is false when none matches req.
func leaderGetRaw(ctx context.Context, nc *nats.Conn, req msgGetRequest) (seq uint64, data []byte, ok bool, err error) {
	req.NoHeaders = true // the entry is its body; headers only repeat it
	b, err := json.Marshal(req)
	if err != nil {
		return 0, nil, false, err
	}
	m, err := nc.RequestWithContext(ctx, msgGetSubject, b)
	if err != nil {
		return 0, nil, false, err
	}
	var resp msgGetResponse
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return 0, nil, false, fmt.Errorf("stream msg get: %w", err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == jsErrNoMessageFound:
		return 0, nil, false, nil
	case resp.Error != nil:
		// As nats.go's own API errors, so broker.Unavailable tells an outage.
		return 0, nil, false, &jetstream.APIError{Code: resp.Error.Code,
			ErrorCode: jetstream.ErrorCode(resp.Error.ErrCode), Description: resp.Error.Description}
	case resp.Message == nil:
		return 0, nil, false, errors.New("stream msg get: an answer without a message")
	}
	return resp.Message.Seq, resp.Message.Data, true, nil
}
