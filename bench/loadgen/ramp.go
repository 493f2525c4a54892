package loadgen

import (
	"context"
	"fmt"
	"time"
)

// RampParams sizes the ramp: the interview load raised step by step, by
// adding sessions, by multiplying the per-user rates, or both.
type RampParams struct {
	StartSessions int      `json:"startSessions"`
	StepSessions  int      `json:"stepSessions"` // sessions added per step
	Users         int      `json:"usersPerSession"`
	Rates         Rates    `json:"rates"`      // of the first step
	RateFactor    float64  `json:"rateFactor"` // rates are multiplied by this each step; 0 or 1 keeps them
	Steps         int      `json:"maxSteps"`
	StepDuration  Duration `json:"stepDuration"`
	Warmup        Duration `json:"warmup"`
	Settle        Duration `json:"settle"`
	// P99Limit ends the ramp at the first step whose p99 exceeds it.
	P99Limit Duration `json:"p99Limit"`
}

// Ramp raises the interview load until the p99 latency passes P99Limit (or
// a step loses events or errors), and reports every step and the highest
// one held.
func Ramp(ctx context.Context, opts Options, p RampParams) (*Result, error) {
	if p.StartSessions <= 0 || p.Users <= 0 || p.Steps <= 0 || p.StepDuration <= 0 {
		return nil, fmt.Errorf("ramp: start sessions, users, steps and step duration must be positive")
	}
	if p.Settle <= 0 {
		p.Settle = Duration(3 * time.Second)
	}
	if p.P99Limit <= 0 {
		p.P99Limit = Duration(50 * time.Millisecond)
	}
	f := newFleet("ramp", opts)
	defer f.close()
	r := &Result{Scenario: "ramp", Started: time.Now().UTC(), Params: p}
	u0 := readUsage()
	rates := p.Rates
	var prepAll prepared
	var connAll connected
	prepAll.errors, connAll.errors, connAll.retries = map[string]int64{}, map[string]int64{}, map[string]int64{}
	for i := range p.Steps {
		add := p.StepSessions
		if i == 0 {
			add = p.StartSessions
		} else if p.RateFactor > 0 {
			rates.Code *= p.RateFactor
			rates.Cursor *= p.RateFactor
		}
		if add > 0 {
			prep := f.prepare(ctx, add, p.Users)
			conn := f.connect(ctx, prep.sessions)
			mergeSetup(&prepAll, &connAll, prep, conn)
		}
		sessions := f.sessionsNow()
		step := Step{Sessions: len(sessions), CodeRate: rates.Code, CursorRate: rates.Cursor}
		for _, s := range sessions {
			step.Connections += len(s.connected())
		}
		// A step that fails is run once more before the ramp ends: on a
		// shared machine one burst of someone else's work should not decide.
		for attempt := 1; attempt <= 2; attempt++ {
			t, servers, _, err := f.window(ctx, rates, time.Duration(p.Warmup), time.Duration(p.StepDuration), time.Duration(p.Settle))
			if err != nil {
				return nil, err
			}
			step.Traffic, step.Servers, step.Attempts = t, servers, attempt
			limit := float64(time.Duration(p.P99Limit).Microseconds()) / 1e3
			step.Held = t.Latency["all"].P99 <= limit && len(trafficFailures(t)) == 0
			if step.Held {
				break
			}
		}
		t := step.Traffic
		r.Steps = append(r.Steps, step)
		f.logf("ramp step %d: %d sessions, %d conns, %.0f sent/s: p50 %.2fms p99 %.2fms, held=%v",
			i+1, step.Sessions, step.Connections, t.SentPerSec, t.Latency["all"].P50, t.Latency["all"].P99, step.Held)
		if !step.Held {
			break
		}
		held := step
		r.HighestHeld = &held
	}
	r.Connect = f.connectStats(prepAll, connAll)
	r.Failures = connectFailures(r.Connect)
	if r.HighestHeld == nil {
		r.Failures = append(r.Failures, "not even the first step held")
	}
	r.Loadgen = readUsage().since(u0)
	return r, nil
}

func mergeSetup(pa *prepared, ca *connected, p prepared, c connected) {
	pa.create = append(pa.create, p.create...)
	pa.join = append(pa.join, p.join...)
	pa.seconds += p.seconds
	pa.failedSessions += p.failedSessions
	for k, v := range p.errors {
		pa.errors[k] += v
	}
	ca.attempted += c.attempted
	ca.ok += c.ok
	ca.handshake = append(ca.handshake, c.handshake...)
	ca.seconds += c.seconds
	for k, v := range c.errors {
		ca.errors[k] += v
	}
	for k, v := range c.retries {
		ca.retries[k] += v
	}
}
