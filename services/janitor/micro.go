package janitor

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/buildinfo"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Stats is the janitor's part of `nats micro stats janitor`.
type Stats struct {
	Sweeps              int64      `json:"sweeps"`
	SweepErrors         int64      `json:"sweepErrorsTotal"`
	SessionsExpired     int64      `json:"sessionsExpiredTotal"`
	SessionsPurged      int64      `json:"sessionsPurgedTotal"`
	OrphansRemoved      int64      `json:"orphansRemovedTotal"`
	LastSweepAt         *time.Time `json:"lastSweepAt"`
	LastSweepDurationMs int64      `json:"lastSweepDurationMs"`
}

// Stats returns the running totals of this janitor.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Sweeps: s.totals.Sweeps, SweepErrors: s.totals.SweepErrors, SessionsExpired: s.totals.Expired,
		SessionsPurged: s.totals.Purged, OrphansRemoved: s.totals.OrphansRemoved,
	}
	if s.last != nil {
		at := s.last.At
		st.LastSweepAt = &at
		st.LastSweepDurationMs = s.last.DurationMs
	}
	return st
}

// startMicro registers the `janitor` micro service. Its endpoints share the
// default queue group, so with several janitors one of them answers each request.
func (s *Service) startMicro() (micro.Service, error) {
	svc, err := micro.AddService(s.in.NC, micro.Config{
		Name:        "janitor",
		Version:     buildinfo.SemVer(buildinfo.Version),
		Description: "expires idle sessions and removes what interrupted clean-ups left",
		Metadata: map[string]string{
			"build":        buildinfo.Version,
			"interval":     s.interval.String(),
			"idle_timeout": s.idle.String(),
		},
		StatsHandler: func(*micro.Endpoint) any { return s.Stats() },
		ErrorHandler: func(_ micro.Service, e *micro.NATSError) {
			s.log.Error("janitor micro service error", "subject", e.Subject, "err", e.Description)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("register janitor micro service: %w", err)
	}
	g := svc.AddGroup(broker.MicroGroup("janitor")) // pairpad.janitor.sweep, pairpad.janitor.status
	for name, h := range map[string]micro.HandlerFunc{"sweep": s.handleSweep, "status": s.handleStatus} {
		if err := g.AddEndpoint(name, s.tracked(h)); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("add janitor endpoint %s: %w", name, err)
		}
	}
	return svc, nil
}

// tracked lets Shutdown wait for requests being answered; once it has begun,
// requests are refused instead.
func (s *Service) tracked(h micro.HandlerFunc) micro.HandlerFunc {
	return func(r micro.Request) {
		s.mu.Lock()
		closing := s.closing
		if !closing {
			s.inflight.Add(1)
		}
		s.mu.Unlock()
		if closing {
			microError(r, protocol.Errorf(protocol.CodeServiceUnavailable, "The janitor is shutting down"), nil)
			return
		}
		defer s.inflight.Done()
		h(r)
	}
}

// handleSweep runs a sweep now (after the one in progress, if any) and
// answers its report. A partly failed sweep is a micro error whose data is
// still the report: its "errors" say what failed, the rest what was done.
func (s *Service) handleSweep(r micro.Request) {
	rep, err := s.Sweep(s.loopCtx)
	b, _ := json.Marshal(rep)
	if err != nil {
		microError(r, protocol.Wrap(protocol.CodeInternal, "The sweep partly failed", err), b)
		return
	}
	_ = r.Respond(b)
}

// handleStatus answers the latest sweep's report.
func (s *Service) handleStatus(r micro.Request) {
	rep, ok := s.Last()
	if !ok {
		microError(r, protocol.Errorf(protocol.CodeServiceUnavailable, "No sweep has finished yet"), nil)
		return
	}
	_ = r.RespondJSON(rep)
}

// microError answers err as every pairpad micro service does (broker.MicroError).
func microError(r micro.Request, err error, data []byte) {
	_, _ = broker.MicroError(r, err, data)
}
