// Package oplog reads and writes a session's op log: one message per applied
// update on broker.OpsSubject(sessionID) in the SESSION_OPS stream, in
// version order. The realtime document engine appends to it with an
// expected last subject sequence, which makes the stream the single ordered
// authority for a session across any number of realtime instances; the api
// reads it to answer the history route.
//
// A message's body is the JSON of one Entry (version, user, user name,
// role, opId, conn, timestamp, ops); its Pairpad-Version header repeats the
// version so `nats stream view` and gap checks need no decoding, and its
// Nats-Msg-Id (MsgID) lets a late acknowledgement be asked for again
// without storing the entry twice (Publish). Nothing else goes in headers:
// the user, connection and op ids stay in the body, because an opId may
// hold characters a header cannot, and because every header costs each
// reader of the republished entry (nats.go decodes them all into a map,
// which grows past 8 keys: RePublish adds 5 to our 3).
package oplog

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/jsonwire"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Entry is one applied update in a session's op log (one message on
// broker.OpsSubject(sid) in SESSION_OPS).
type Entry struct {
	Version   int64  // 1, 2, 3... dense per session
	UserID    string // who sent it; empty for a session's starter code
	UserName  string // their name at the time, for playback; may be empty
	Role      protocol.Role
	OpID      string // the client's opId, may be empty
	ConnID    string // the connection it came from, so the sender gets code-ack
	Timestamp int64  // unix milliseconds when it was applied
	Ops       ot.Op  // the op as applied, against the document at Version-1
	Seq       uint64 // stream sequence; set by Decode, ignored by Encode
	Size      int    // bytes of the stored body; set by Decode, ignored by Encode
	// Offset is where the entry starts in the session's log: the sum of the
	// Sizes of every entry before it, so the bytes a stretch of the log
	// holds are two entries' offsets apart. 0 in entries written before
	// offsets were kept.
	Offset int64
}

// End is the log offset after e.
func (e Entry) End() int64 { return e.Offset + int64(e.Size) }

// body is the wire form of an Entry; short keys because every update of a
// session is stored, for up to the stream's MaxAge.
type body struct {
	Version   int64  `json:"v"`
	UserID    string `json:"u"`
	UserName  string `json:"n,omitempty"`
	Role      string `json:"r,omitempty"`
	OpID      string `json:"o,omitempty"`
	ConnID    string `json:"c,omitempty"`
	Timestamp int64  `json:"t"`
	Ops       ot.Op  `json:"ops"`
	Offset    int64  `json:"b,omitempty"`
}

// Sentinel errors of this package.
var (
	// ErrConflict means the append lost the race: someone else appended to
	// the session's log after the sequence the caller expected.
	ErrConflict = errors.New("oplog: the log moved on (wrong last sequence)")
	// ErrMalformed means a stored message is not an Entry.
	ErrMalformed = errors.New("oplog: malformed entry")
	// ErrFull means the SESSION_OPS stream is at its MaxBytes
	// (OPS_MAX_BYTES) and refused the entry: it drops nothing to make room
	// (DiscardNew). Room comes back as sessions expire (the janitor purges
	// their logs), entries pass OPS_MAX_AGE or documents purge what their
	// snapshots made unnecessary.
	ErrFull = errors.New("oplog: the op log stream is full (OPS_MAX_BYTES)")
	// ErrNoStorage means the NATS server's JetStream storage is full
	// (its max_file_store, or its disk) and refused the entry, though the
	// stream itself has room: an operator frees or adds storage; it is
	// not an outage, and nothing stored is dropped for it.
	ErrNoStorage = errors.New("oplog: the NATS server's JetStream storage is full")
)

// Encode turns e into the message to append to the session's op log.
func Encode(sessionID string, e Entry) (*nats.Msg, error) {
	return EncodeOn(broker.OpsSubject(sessionID), e)
}

// EncodeOn is Encode for a writer that keeps its session's op log subject
// (broker.OpsSubject) rather than building it for every entry.
func EncodeOn(subject string, e Entry) (*nats.Msg, error) {
	if e.Version < 1 {
		return nil, fmt.Errorf("encode entry: version %d < 1", e.Version)
	}
	b := body{Version: e.Version, UserID: e.UserID, UserName: e.UserName, Role: string(e.Role),
		OpID: e.OpID, ConnID: e.ConnID, Timestamp: e.Timestamp, Ops: e.Ops, Offset: e.Offset}
	// The body is written after the subject and a 0, what MsgID digests,
	// so the digest needs no buffer of its own.
	pre := len(subject) + 1
	buf := append(make([]byte, 0, pre+128+len(b.UserID)+len(b.UserName)+len(b.OpID)+len(b.ConnID)+opSize(b.Ops)), subject...)
	buf, ok := b.append(append(buf, 0))
	var id string
	if ok {
		id = msgID(sha256.Sum256(buf))
	} else {
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode entry %d: %w", e.Version, err)
		}
		buf, pre, id = data, 0, MsgID(subject, data)
	}
	// The message and its header values in one object.
	o := &struct {
		m    nats.Msg
		vals [2]string
	}{vals: [2]string{id, strconv.FormatInt(e.Version, 10)}}
	o.m = nats.Msg{Subject: subject, Data: buf[pre:], Header: make(nats.Header, 3)}
	o.m.Header[jetstream.MsgIDHeader] = o.vals[0:1:1]
	o.m.Header[broker.HeaderVersion] = o.vals[1:2:2]
	return &o.m, nil
}

// MsgID is the Nats-Msg-Id of the entry with body data on subject: a
// digest of both, so it names that append exactly. Publish sends the same
// message again when its acknowledgement is late, and the stream stores it
// once (its Duplicates window). Nothing else carries the same id: the body
// holds the version, the user, the connection, the opId, the time and the
// log offset, so a client's resend of an update, even at the same version,
// is a new message; the document engine recognises those by their opId,
// and never appends one before it has read every entry stored after the
// sequence it expects.
func MsgID(subject string, data []byte) string {
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write(data)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return msgID(sum)
}

// msgID is the Nats-Msg-Id of an entry whose digest is sum.
func msgID(sum [sha256.Size]byte) string {
	var id [24]byte // base64 of 18 bytes
	base64.RawURLEncoding.Encode(id[:], sum[:18])
	return string(id[:])
}

// append appends b as json.Marshal writes it, byte for byte
// (FuzzEncodeBody), without its reflection; false for ops that do not
// encode, which json.Marshal then refuses with its message. The ops are
// written as ot.Op.MarshalJSON writes them, with < > & escaped as
// json.Marshal escapes what a MarshalJSON returns (in an op they are only
// inside inserts), straight into dst: no buffer of their own.
func (b body) append(dst []byte) ([]byte, bool) {
	if b.Ops.Validate() != nil {
		return nil, false
	}
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, b.Version, 10)
	dst = append(dst, `,"u":`...)
	dst = jsonwire.AppendStringHTML(dst, b.UserID)
	for _, f := range [...]struct{ key, s string }{{`,"n":`, b.UserName}, {`,"r":`, b.Role}, {`,"o":`, b.OpID}, {`,"c":`, b.ConnID}} {
		if f.s != "" {
			dst = append(dst, f.key...)
			dst = jsonwire.AppendStringHTML(dst, f.s)
		}
	}
	dst = append(dst, `,"t":`...)
	dst = strconv.AppendInt(dst, b.Timestamp, 10)
	dst = append(dst, `,"ops":[`...)
	for i, c := range b.Ops {
		if i > 0 {
			dst = append(dst, ',')
		}
		if c.S != "" {
			dst = jsonwire.AppendStringHTML(dst, c.S)
		} else {
			dst = strconv.AppendInt(dst, int64(c.N), 10)
		}
	}
	dst = append(dst, ']')
	if b.Offset != 0 {
		dst = append(dst, `,"b":`...)
		dst = strconv.AppendInt(dst, b.Offset, 10)
	}
	return append(dst, '}'), true
}

// opSize is about the bytes of o's JSON.
func opSize(o ot.Op) int {
	n := 2
	for _, c := range o {
		n += len(c.S) + 12
	}
	return n
}

// Decode reads an Entry from a message the stream delivered: a RePublish
// on broker.AppliedSubject or a direct get answer, both of which carry the
// stream sequence in the Nats-Sequence header.
func Decode(m *nats.Msg) (Entry, error) {
	e, err := decodeBody(m.Data)
	if err != nil {
		return Entry{}, err
	}
	if s := m.Header.Get(jetstream.SequenceHeader); s != "" {
		seq, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Entry{}, fmt.Errorf("%w: bad %s header %q", ErrMalformed, jetstream.SequenceHeader, s)
		}
		e.Seq = seq
	}
	return e, nil
}

// DecodeRaw reads an Entry from a message fetched with Stream.GetMsg.
func DecodeRaw(m *jetstream.RawStreamMsg) (Entry, error) {
	e, err := decodeBody(m.Data)
	if err != nil {
		return Entry{}, err
	}
	e.Seq = m.Sequence
	return e, nil
}

func decodeBody(data []byte) (Entry, error) {
	if e, ok := readBody(data); ok {
		return e, nil
	}
	return decodeBodyJSON(data)
}

// readBody is decodeBody's fast path, one pass of a jsonwire.Reader over
// the body Encode writes (its ops through ot.Read): what it accepts,
// decodeBodyJSON decodes the same (FuzzDecodeBody); anything else (a null,
// a repeated key, a string decoding would rewrite, every refusal) it
// leaves to decodeBodyJSON.
func readBody(data []byte) (Entry, bool) {
	r := jsonwire.NewReader(data)
	var b body
	var seen jsonwire.Seen
	str := func(bit jsonwire.Seen, dst *string) bool {
		s, ok := r.String()
		*dst = s
		return ok && seen.First(bit)
	}
	num := func(bit jsonwire.Seen, dst *int64) bool {
		n, ok := r.Int()
		*dst = n
		return ok && seen.First(bit)
	}
	ok := r.Object(func(key []byte) bool {
		switch string(key) {
		case "v":
			return num(1, &b.Version)
		case "u":
			return str(2, &b.UserID)
		case "n":
			return str(4, &b.UserName)
		case "r":
			return str(8, &b.Role)
		case "o":
			return str(16, &b.OpID)
		case "c":
			return str(32, &b.ConnID)
		case "t":
			return num(64, &b.Timestamp)
		case "b":
			return num(128, &b.Offset)
		case "ops":
			op, ok := ot.Read(&r)
			b.Ops = op
			return ok && seen.First(256)
		}
		if jsonwire.FoldsTo(key, "v", "u", "n", "r", "o", "c", "t", "ops", "b") {
			return false
		}
		_, ok := r.Value()
		return ok
	})
	if !ok || !r.End() || b.Version < 1 || b.Ops == nil {
		return Entry{}, false
	}
	return b.entry(len(data)), true
}

// entry is the Entry of a stored body of size bytes.
func (b body) entry(size int) Entry {
	return Entry{Version: b.Version, UserID: b.UserID, UserName: b.UserName, Role: protocol.Role(b.Role),
		OpID: b.OpID, ConnID: b.ConnID, Timestamp: b.Timestamp, Ops: b.Ops, Size: size, Offset: b.Offset}
}

// decodeBodyJSON is decodeBody with encoding/json.
func decodeBodyJSON(data []byte) (Entry, error) {
	var b body
	if err := json.Unmarshal(data, &b); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if b.Version < 1 || b.Ops == nil {
		return Entry{}, fmt.Errorf("%w: version %d, ops present %t", ErrMalformed, b.Version, b.Ops != nil)
	}
	return b.entry(len(data)), nil
}
