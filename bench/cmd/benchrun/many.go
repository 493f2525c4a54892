package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
//
// onWindow, when set, is called once, when the first generator process
// says its measured window started (the profiler's hook).
func (r *runner) many(l *layout, p manyParams, floor bool, onWindow func(string, time.Duration)) (*loadgen.Result, error) {
	out := filepath.Join(r.work, fmt.Sprintf("idle50k-%d.json", r.n))
	var metrics []string
	for _, t := range l.opts.Targets {
		switch {
		case t.URL != "":
			metrics = append(metrics, t.Name+"="+t.URL)
		case t.PID > 0: // the NATS server: its CPU is part of the fan-out
			metrics = append(metrics, fmt.Sprintf("%s=pid:%d", t.Name, t.PID))
		}
	}
	args := []string{"-procs", fmt.Sprint(p.Procs), "-api", l.opts.APIURL, "-ws", strings.Join(l.opts.WSURLs, ","),
		"-metrics", strings.Join(metrics, ","), "-framing", "socketio", "-token-secret", tokenSecret,
		"-sessions", fmt.Sprint((p.Conns + 1) / 2), "-users", "2", "-code-rate", "0",
		"-cursor-rate", fmt.Sprint(1 / p.CursorEvery.Seconds()), "-warmup", p.CursorEvery.String(),
		"-duration", p.Hold.String(), "-settle", "15s", "-concurrency", "64", "-out", out}
	name := "idle50k-loadgen-cpu.pb.gz"
	if floor {
		args = append(args, "-colocate")
		name = "idle50k-floor-loadgen-cpu.pb.gz"
	}
	if r.prof != nil { // the generator's own profile, one per process, beside the servers'
		args = append(args, "-cpuprofile", filepath.Join(r.prof.dir, name))
	}
	args = append(args, "interview")
	cmd := exec.CommandContext(r.ctx, filepath.Join(r.bin, "loadgen"), args...)
	w := &windowWatch{w: r.log, on: onWindow, window: p.Hold}
	cmd.Stdout, cmd.Stderr = w, w
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

// windowWatch passes the generator's output on and calls on, once, at the
// first line that says a measured window started.
type windowWatch struct {
	w      io.Writer
	on     func(string, time.Duration)
	window time.Duration
	mu     sync.Mutex
	line   []byte
	fired  bool
}

func (w *windowWatch) Write(b []byte) (int, error) {
	w.mu.Lock()
	fire := false
	if !w.fired && w.on != nil {
		w.line = append(w.line, b...)
		if i := bytes.LastIndexByte(w.line, '\n'); i >= 0 {
			fire = bytes.Contains(w.line[:i], []byte(loadgen.WindowMarker))
			w.line = append(w.line[:0], w.line[i+1:]...)
		}
		w.fired = fire
	}
	w.mu.Unlock()
	if fire {
		w.on("idle50k", w.window)
	}
	return w.w.Write(b)
}
