package realtime

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pairpad/pairpad/shared/broker"
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
	data, err := json.Marshal(m)
	if err != nil {
		s.log.Error("encode peer message", "session_id", sid, "err", err)
		return
	}
	msg := &nats.Msg{Subject: broker.EventsSubject(sid), Data: data, Header: nats.Header{}}
	msg.Header.Set(broker.HeaderInstance, s.instance)
	if err := s.peers.PublishMsg(msg); err != nil {
		s.log.Warn("publish peer message", "session_id", sid, "kind", m.Kind, "err", err)
	}
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
