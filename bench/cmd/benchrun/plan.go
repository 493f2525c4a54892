package main

import (
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// plan sizes every scenario of a run.
type plan struct {
	rest      loadgen.RESTParams
	idle      loadgen.IdleParams
	interview loadgen.InterviewParams
	crowd     loadgen.InterviewParams
	light     loadgen.InterviewParams
	ramp      loadgen.RampParams
	many      manyParams
}

func d(v time.Duration) loadgen.Duration { return loadgen.Duration(v) }

// fullPlan is what `make bench` runs: the sizes where this machine
// allows (about six minutes on two cores, builds included). The idle count
// stays under the RLIMIT_NOFILE hard limit of 20,000 that both the server
// and the generator live with here.
func fullPlan(fileLimit uint64) plan {
	idle := 15000
	if fileLimit >= 120000 {
		idle = 50000
	} else if fileLimit > 3000 {
		idle = min(idle, int(fileLimit)*3/4)
	}
	return plan{
		rest: loadgen.RESTParams{Sessions: 2000, Concurrency: 32},
		idle: loadgen.IdleParams{Conns: idle, UsersPerSession: 2, Hold: d(20 * time.Second)},
		interview: loadgen.InterviewParams{Sessions: 1000, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Duration: d(30 * time.Second), Warmup: d(5 * time.Second), Settle: d(15 * time.Second)},
		light: loadgen.InterviewParams{Sessions: 1000, Users: 3, Typists: 1, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Duration: d(60 * time.Second), Warmup: d(5 * time.Second), Settle: d(15 * time.Second)},
		crowd: loadgen.InterviewParams{Users: 100, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Duration: d(20 * time.Second), Warmup: d(3 * time.Second), Settle: d(10 * time.Second)},
		many: manyParams{Conns: 50000, Procs: 3, CursorEvery: 10 * time.Second, Hold: 30 * time.Second},
		ramp: loadgen.RampParams{StartSessions: 50, StepSessions: 50, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Steps: 8, StepDuration: d(10 * time.Second), Warmup: d(3 * time.Second), Settle: d(5 * time.Second),
			P99Limit: d(50 * time.Millisecond)},
	}
}

// quickPlan checks the runner end to end in about a minute.
func quickPlan() plan {
	return plan{
		rest: loadgen.RESTParams{Sessions: 100, Concurrency: 8},
		idle: loadgen.IdleParams{Conns: 200, UsersPerSession: 2, Hold: d(3 * time.Second)},
		interview: loadgen.InterviewParams{Sessions: 20, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Duration: d(5 * time.Second), Warmup: d(time.Second), Settle: d(5 * time.Second)},
		light: loadgen.InterviewParams{Sessions: 20, Users: 3, Typists: 1, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Duration: d(5 * time.Second), Warmup: d(time.Second), Settle: d(5 * time.Second)},
		crowd: loadgen.InterviewParams{Users: 10, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Duration: d(4 * time.Second), Warmup: d(time.Second), Settle: d(5 * time.Second)},
		many: manyParams{Conns: 300, Procs: 2, CursorEvery: time.Second, Hold: 3 * time.Second},
		ramp: loadgen.RampParams{StartSessions: 10, StepSessions: 10, Users: 3, Rates: loadgen.Rates{Code: 2, Cursor: 2},
			Steps: 3, StepDuration: d(3 * time.Second), Warmup: d(time.Second), Settle: d(3 * time.Second),
			P99Limit: d(50 * time.Millisecond)},
	}
}
