package oplog

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// ackJSON is jetstream's own reading of a publish's answer (PublishMsg):
// what readAck must return on any bytes.
func ackJSON(data []byte) (uint64, bool, error) {
	var resp struct {
		Error *jetstream.APIError `json:"error,omitempty"`
		*jetstream.PubAck
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return 0, false, jetstream.ErrInvalidJSAck
	}
	if resp.Error != nil {
		return 0, false, fmt.Errorf("nats: %w", resp.Error)
	}
	if resp.PubAck == nil || resp.Stream == "" {
		return 0, false, jetstream.ErrInvalidJSAck
	}
	return resp.Sequence, resp.Duplicate, nil
}

// FuzzReadAck holds readAck (fastAck first) to jetstream's encoding/json
// reading of the acknowledgement: the same sequence or the same error.
func FuzzReadAck(f *testing.F) {
	for _, s := range []string{`{"stream":"SESSION_OPS","seq":42}`, `{"stream":"SESSION_OPS","domain":"hub","seq":7,"duplicate":true}`,
		`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"SESSION_OPS","seq":0}`,
		`{"stream":"","seq":1}`, `{"stream":"S","seq":0}`, `{"stream":"S","seq":1,"seq":2}`, `{"Stream":"S","SEQ":3}`,
		`{"stream":"S","seq":18446744073709551615}`, `{"stream":"S","seq":-1}`, `{"stream":"S","seq":1.5}`, `{"seq":1}`,
		`{"stream":"S","seq":1} `, `{"stream":"S","seq":1}x`, `{"stream":"S","seq":1,"duplicate":false}`,
		`{"stream":"S","seq":1,"duplicate":null}`, `{"stream":"S","seq":1,"duplicate":"true"}`, `{"stream":"S","seq":1,"duplicate":true,"duplicate":false}`, `{"stream":"S\u0000","seq":9}`, `{"stream":null,"seq":9}`, `null`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, dup, err := readAck(data)
		want, wantDup, wantErr := ackJSON(data)
		if got != want || dup != wantDup || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("readAck(%q) = %d, %t, %v; encoding/json: %d, %t, %v", data, got, dup, err, want, wantDup, wantErr)
		}
	})
}

// TestFastAckTaken holds what nats-server answers to the fast path.
func TestFastAckTaken(t *testing.T) {
	for _, s := range []string{`{"stream":"SESSION_OPS","seq":42}`, `{"stream":"SESSION_OPS","domain":"hub","seq":7,"duplicate":true}`} {
		if _, _, ok := fastAck([]byte(s)); !ok {
			t.Errorf("fastAck leaves %s to encoding/json", s)
		}
	}
}
