package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

// windowProfile is -cpuprofile: a CPU profile of the generator over its
// first measured window (the set-up's handshakes and REST calls left out),
// written when the window's length has passed or the run ends.
type windowProfile struct {
	path string

	mu      sync.Mutex
	started bool
	file    *os.File
	timer   *time.Timer
}

// start begins the profile, once, for length.
func (p *windowProfile) start(length time.Duration, stderr io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.path == "" || p.started {
		return
	}
	p.started = true
	file, err := os.Create(p.path)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen: cpuprofile:", err)
		return
	}
	if err := pprof.StartCPUProfile(file); err != nil {
		fmt.Fprintln(stderr, "loadgen: cpuprofile:", err)
		file.Close()
		return
	}
	p.file = file
	p.timer = time.AfterFunc(length, p.stop)
}

// stop ends the profile, if one runs, and closes its file.
func (p *windowProfile) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.file == nil {
		return
	}
	p.timer.Stop()
	pprof.StopCPUProfile()
	p.file.Close()
	p.file = nil
}
