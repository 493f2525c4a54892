package broker

import (
	"encoding/json"
	"strconv"

	"github.com/nats-io/nats.go/micro"

	"github.com/pairpad/pairpad/shared/protocol"
)

// MicroGroup is the subject prefix of one service's micro endpoints:
// pairpad.<service>, so pairpad.api.sessions.get, pairpad.janitor.sweep,
// pairpad.realtime.stats.
func MicroGroup(service string) string { return MicroPrefix + "." + service }

// MicroError answers a micro request with err the way every pairpad micro
// service does, as its REST answer would be: the error code is the HTTP
// status, the description the protocol code, and the data the REST error
// body unless data says more (nil: the body). Callers whose failures may
// be a NATS outage pass Classify(err). It returns the body, so the caller
// can log internal failures, and the error of sending the answer.
func MicroError(r micro.Request, err error, data []byte) (protocol.ErrorBody, error) {
	body := protocol.BodyOf(err)
	if data == nil {
		data, _ = json.Marshal(body)
	}
	return body, r.Error(strconv.Itoa(body.StatusCode), string(body.Error), data)
}
