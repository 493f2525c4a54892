package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// RSSSeries is one server process's resident memory over a run, read from
// /proc/<pid>/status (VmRSS) every few seconds.
type RSSSeries struct {
	Name         string      `json:"name"`
	EverySeconds float64     `json:"everySeconds"`
	Samples      []RSSSample `json:"samples"`
	// WindowSeconds is the length of the measured window; sample times
	// are relative to its start (negative: during the warmup).
	WindowSeconds float64 `json:"windowSeconds"`
	// FinalBytes is the last reading inside the window.
	FinalBytes int64 `json:"finalBytes"`
	// MidBytes is the first reading at or after the window's middle, and
	// GrowthLastHalfPercent the growth from it to FinalBytes: memory that
	// keeps rising under a steady load shows here.
	MidBytes              int64   `json:"midBytes"`
	GrowthLastHalfPercent float64 `json:"growthLastHalfPercent"`
	// Error is why the process could not be read, if it could not.
	Error string `json:"error,omitempty"`
}

// RSSSample is one reading: seconds since the window started, and bytes.
type RSSSample struct {
	Seconds float64 `json:"s"`
	Bytes   int64   `json:"bytes"`
}

// ReadVmRSS returns the resident set size of process pid from
// /proc/<pid>/status.
func ReadVmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	return parseVmRSS(b)
}

func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q: %w", sc.Text(), err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS line")
}

// rssWatch samples the watched processes on its own goroutine until stop.
type rssWatch struct {
	targets []Target
	every   time.Duration
	quit    chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	samples [][]rssReading
	errs    []string
}

type rssReading struct {
	at    time.Time
	bytes int64
}

// watchRSS starts sampling opts.WatchRSS; a watch of nothing does nothing.
func (f *fleet) watchRSS() *rssWatch {
	w := &rssWatch{targets: f.opts.WatchRSS, every: f.opts.RSSEvery, quit: make(chan struct{})}
	if w.every <= 0 {
		w.every = 5 * time.Second
	}
	w.samples = make([][]rssReading, len(w.targets))
	w.errs = make([]string, len(w.targets))
	if len(w.targets) == 0 {
		return w
	}
	w.wg.Go(func() {
		t := time.NewTicker(w.every)
		defer t.Stop()
		for {
			w.read()
			select {
			case <-w.quit:
				return
			case <-t.C:
			}
		}
	})
	return w
}

func (w *rssWatch) read() {
	now := time.Now()
	for i, tg := range w.targets {
		b, err := ReadVmRSS(tg.PID)
		w.mu.Lock()
		if err != nil {
			w.errs[i] = err.Error()
		} else {
			w.samples[i] = append(w.samples[i], rssReading{at: now, bytes: b})
		}
		w.mu.Unlock()
	}
}

// stop ends the sampling, takes a last reading, and returns one series per
// process, relative to the fleet's measured window of the given length.
func (w *rssWatch) stop(f *fleet, window time.Duration) []RSSSeries {
	if len(w.targets) == 0 {
		return nil
	}
	close(w.quit)
	w.wg.Wait()
	start := time.Unix(0, f.windowAt.Load())
	end := start.Add(window)
	var out []RSSSeries
	for i, tg := range w.targets {
		s := RSSSeries{Name: tg.Name, EverySeconds: w.every.Seconds(), WindowSeconds: window.Seconds(), Error: w.errs[i]}
		mid := start.Add(window / 2)
		for _, r := range w.samples[i] {
			s.Samples = append(s.Samples, RSSSample{Seconds: round1(r.at.Sub(start).Seconds()), Bytes: r.bytes})
			if r.at.After(end.Add(w.every / 2)) {
				continue // settling after the window
			}
			if s.MidBytes == 0 && !r.at.Before(mid) {
				s.MidBytes = r.bytes
			}
			s.FinalBytes = r.bytes
		}
		if s.MidBytes > 0 {
			s.GrowthLastHalfPercent = round1(100 * float64(s.FinalBytes-s.MidBytes) / float64(s.MidBytes))
		}
		out = append(out, s)
	}
	return out
}
