package realtime

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/jsonwire"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Kinds of peer messages on a session's events subject.
const (
	peerCursor   = "cursor"   // a cursor-update to deliver to the others
	peerLanguage = "language" // who set the language the session record is about to show
)

// peerMsg is what instances tell each other on broker.EventsSubject. It is
// core NATS, at most once: everything in it is either ephemeral (cursors)
// or a hint that refines what the watchers report reliably.
type peerMsg struct {
	Kind     string            `json:"kind"`
	UserID   string            `json:"userId,omitempty"`
	Language protocol.Language `json:"language,omitempty"`
	Envelope json.RawMessage   `json:"envelope,omitempty"`
	Sent     int64             `json:"sent"` // unix ms, for the fan-out latency
}

// publishPeer tells the other instances holding the session, on the
// NoEcho peers connection: the server does not send it back to this
// instance, which has already delivered it to its own connections. A
// failure is only logged: peers still converge through the watchers.
func (s *Service) publishPeer(sid string, m peerMsg) {
	m.Sent = s.now().UnixMilli()
	msg := &nats.Msg{Subject: broker.EventsSubject(sid), Data: appendPeer(nil, m)}
	if !s.ownPeers {
		// The connection echoes the message back: the header names this
		// instance, which skips it (onPeer). On a NoEcho connection the
		// message goes out without headers, which the server then carries
		// and the receivers' nats.go decodes into a map for nothing.
		msg.Header = s.peerHeader
	}
	if err := s.peers.PublishMsg(msg); err != nil {
		s.log.Warn("publish peer message", "session_id", sid, "kind", m.Kind, "err", err)
	}
}

// appendPeer appends m as JSON that encoding/json decodes back to m
// (FuzzPeerMsg), in one pass: a cursor move is published once per move,
// and json.Marshal of a json.RawMessage scans the envelope twice more
// (validating and compacting it) although newEvent wrote it compact. The
// envelope must be valid JSON, as every event this package encodes is;
// receivers check it.
func appendPeer(b []byte, m peerMsg) []byte {
	if b == nil {
		b = make([]byte, 0, 64+len(m.Kind)+len(m.UserID)+len(m.Language)+len(m.Envelope))
	}
	b = append(b, `{"kind":`...)
	b = jsonwire.AppendString(b, m.Kind)
	if m.UserID != "" {
		b = append(b, `,"userId":`...)
		b = jsonwire.AppendString(b, m.UserID)
	}
	if m.Language != "" {
		b = append(b, `,"language":`...)
		b = jsonwire.AppendString(b, string(m.Language))
	}
	if len(m.Envelope) > 0 {
		b = append(b, `,"envelope":`...)
		b = append(b, m.Envelope...)
	}
	b = append(b, `,"sent":`...)
	b = strconv.AppendInt(b, m.Sent, 10)
	return append(b, '}')
}

// decodePeer decodes a peer message: in one pass when it has the shape
// appendPeer writes (its envelope then validated and aliasing data), else
// with encoding/json, which also reads what other versions may send.
func decodePeer(data []byte) (peerMsg, bool, error) {
	if m, ok := fastPeer(data); ok {
		return m, true, nil
	}
	var m peerMsg
	err := json.Unmarshal(data, &m)
	return m, false, err
}

// fastPeer is decodePeer's fast path: an object of peerMsg's keys, each
// at most once and spelled as appendPeer spells it, whose envelope is
// valid JSON other than null; false for anything else, which encoding/json
// then decodes (or refuses).
func fastPeer(data []byte) (peerMsg, bool) {
	r := jsonwire.NewReader(data)
	var m peerMsg
	var seen jsonwire.Seen
	ok := r.Object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "kind":
			m.Kind, ok = r.String()
			return ok && seen.First(1)
		case "userId":
			m.UserID, ok = r.String()
			return ok && seen.First(2)
		case "language":
			var l string
			l, ok = r.String()
			m.Language = protocol.Language(l)
			return ok && seen.First(4)
		case "envelope":
			m.Envelope, ok = r.Value()
			return ok && string(m.Envelope) != "null" && seen.First(8)
		case "sent":
			m.Sent, ok = r.Int()
			return ok && seen.First(16)
		}
		return false
	})
	return m, ok && r.End()
}

// hintTTL bounds how long a hint waits for the watcher event it refines.
const hintTTL = 10 * time.Second

// hints are what peers (or this instance) said about a change the session
// watcher is about to report: who set a language. Guarded by the hub
// session's mu.
type hints struct {
	langBy map[protocol.Language]hint // language → user id
}

type hint struct {
	value string
	at    time.Time
}

func (h *hints) language(l protocol.Language, userID string, now time.Time) {
	if h.langBy == nil {
		h.langBy = map[protocol.Language]hint{}
	}
	h.prune(now)
	h.langBy[l] = hint{userID, now}
}

func (h *hints) takeLanguage(l protocol.Language, now time.Time) string {
	v, ok := h.langBy[l]
	delete(h.langBy, l)
	if !ok || now.Sub(v.at) > hintTTL {
		return ""
	}
	return v.value
}

// prune drops stale hints, so a hint whose watcher event never came
// (the record write failed, a lost race) does not accumulate.
func (h *hints) prune(now time.Time) {
	for k, v := range h.langBy {
		if now.Sub(v.at) > hintTTL {
			delete(h.langBy, k)
		}
	}
}
