package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// manyParams sizes idle50k: Conns connections in sessions of two, spread
// over the layout's realtime instances, each user moving its cursor every
// CursorEvery (so every connection receives a periodic fan-out), measured
// for Hold, driven by Procs generator processes (each has its own
// RLIMIT_NOFILE).
type manyParams struct {
	Conns       int
	Procs       int
	CursorEvery time.Duration
	Hold        time.Duration
}

// many runs idle50k: the loadgen command with -procs, whose merged result
// it reads back. Against the floor (several relays, which relay only
// between their own connections) each session's members dial one relay.
func (r *runner) many(l *layout, p manyParams, floor bool) (*loadgen.Result, error) {
	out := filepath.Join(r.work, fmt.Sprintf("idle50k-%d.json", r.n))
	var metrics []string
	for _, t := range l.opts.Targets {
		if t.URL != "" {
			metrics = append(metrics, t.Name+"="+t.URL)
		}
	}
	args := []string{"-procs", fmt.Sprint(p.Procs), "-api", l.opts.APIURL, "-ws", strings.Join(l.opts.WSURLs, ","),
		"-metrics", strings.Join(metrics, ","), "-framing", "socketio", "-token-secret", tokenSecret,
		"-sessions", fmt.Sprint((p.Conns + 1) / 2), "-users", "2", "-code-rate", "0",
		"-cursor-rate", fmt.Sprint(1 / p.CursorEvery.Seconds()), "-warmup", p.CursorEvery.String(),
		"-duration", p.Hold.String(), "-settle", "15s", "-concurrency", "64", "-out", out}
	if floor {
		args = append(args, "-colocate")
	}
	args = append(args, "interview")
	cmd := exec.CommandContext(r.ctx, filepath.Join(r.bin, "loadgen"), args...)
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("loadgen %s: %w", strings.Join(args, " "), err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var res loadgen.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	res.Scenario = "idle50k"
	spread := "every session across two of them"
	if floor {
		spread = "every session on one of them (no fan-out between relays)"
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d connections in sessions of 2 over %d instances, %s, one cursor move per user every %s, %d generator processes",
		p.Conns, len(l.opts.WSURLs), spread, p.CursorEvery, p.Procs))
	return &res, nil
}
