package oplog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
	req.NoHeaders = true // the entry is its body; headers only repeat it
	b, err := json.Marshal(req)
	if err != nil {
		return Entry{}, false, err
	}
	m, err := in.NC.RequestWithContext(ctx, msgGetSubject, b)
	if err != nil {
		return Entry{}, false, err
	}
	var resp msgGetResponse
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return Entry{}, false, fmt.Errorf("stream msg get: %w", err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == jsErrNoMessageFound:
		return Entry{}, false, nil
	case resp.Error != nil:
		// As nats.go's own API errors, so broker.Unavailable tells an outage.
		return Entry{}, false, &jetstream.APIError{Code: resp.Error.Code,
			ErrorCode: jetstream.ErrorCode(resp.Error.ErrCode), Description: resp.Error.Description}
	case resp.Message == nil:
		return Entry{}, false, errors.New("stream msg get: an answer without a message")
	}
	e, err = decodeBody(resp.Message.Data)
	if err != nil {
		return Entry{}, false, err
	}
	e.Seq = resp.Message.Seq
	return e, true, nil
}
