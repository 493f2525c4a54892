package realtime

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/micro"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/buildinfo"
)

// Stats is what one realtime instance reports: the micro service's stats
// data (`nats micro stats realtime`) and the answer of its stats endpoint.
type Stats struct {
	Instance         string `json:"instance"`
	Connections      int    `json:"connections"`
	Sessions         int    `json:"sessions"`
	DocumentSessions int    `json:"documentSessions"`
	RemoteSessions   int    `json:"remotePresenceSessions"`
	RemoteEntries    int    `json:"remotePresenceEntries"`
	Draining         bool   `json:"draining"`
}

// SessionStats is one session this instance holds, in the sessions endpoint.
type SessionStats struct {
	SessionID   string `json:"sessionId"`
	Connections int    `json:"connections"`
	Users       int    `json:"users"`
	Version     int64  `json:"version"`
	Language    string `json:"language"`
}

// Stats reports this instance's connections and sessions.
func (s *Service) Stats() Stats {
	sessions, conns := s.hub.counts()
	rs, re := s.presence.counts()
	return Stats{Instance: s.instance, Connections: conns, Sessions: sessions, DocumentSessions: s.engine.Stats(),
		RemoteSessions: rs, RemoteEntries: re, Draining: s.slots.isDraining()}
}

func (s *Service) sessionStats() []SessionStats {
	out := []SessionStats{}
	for _, rm := range s.hub.all() {
		rm.mu.Lock()
		out = append(out, SessionStats{SessionID: rm.id, Connections: len(rm.conns), Users: len(rm.users),
			Version: rm.version, Language: string(rm.language)})
		rm.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SessionID < out[j].SessionID })
	return out
}

// startMicro registers the "realtime" micro service. Its endpoints answer
// from every instance (no queue group), so a request with
// `nats req --replies 0 pairpad.realtime.stats ""` collects one answer per instance.
func (s *Service) startMicro() (micro.Service, error) {
	svc, err := micro.AddService(s.in.NC, micro.Config{
		Name:        "realtime",
		Version:     buildinfo.SemVer(buildinfo.Version),
		Description: "pairpad WebSocket gateway: connections, presence and the live document",
		Metadata:    map[string]string{"instance": s.instance},
		StatsHandler: func(*micro.Endpoint) any {
			return s.Stats()
		},
		ErrorHandler: func(_ micro.Service, e *micro.NATSError) {
			s.log.Warn("micro service error", "subject", e.Subject, "err", e.Description)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("realtime: add micro service: %w", err)
	}
	g := svc.AddGroup(broker.MicroGroup("realtime"), micro.WithGroupQueueGroupDisabled())
	endpoints := map[string]func() any{
		"stats":    func() any { return s.Stats() },
		"sessions": func() any { return s.sessionStats() },
	}
	for name, fn := range endpoints {
		h := micro.HandlerFunc(func(r micro.Request) {
			b, err := json.Marshal(fn())
			if err != nil {
				s.log.Error("micro request failed", "subject", r.Subject(), "err", err)
				_, _ = broker.MicroError(r, err, nil)
				return
			}
			_ = r.Respond(b)
		})
		if err := g.AddEndpoint(name, h); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("realtime: add micro endpoint %s: %w", name, err)
		}
	}
	return svc, nil
}
