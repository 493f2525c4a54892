package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Profile is one pprof profile taken from a server during a measured window.
type Profile struct {
	Scenario string `json:"scenario"`
	Layout   string `json:"layout"`
	Process  string `json:"process"`
	Kind     string `json:"kind"` // cpu, heap, heap-start, goroutine
	Path     string `json:"path"` // the raw profile, outside the repository
	Top      string `json:"top"`  // go tool pprof -top
}

// profiler takes CPU and heap profiles of the servers while a scenario
// measures, through the OnWindow hook of the generator.
type profiler struct {
	dir string
	hc  *http.Client
	log io.Writer

	wg       sync.WaitGroup
	mu       sync.Mutex
	profiles []Profile
	missing  map[string]bool // processes that do not serve /debug/pprof
}

func newProfiler(dir string, log io.Writer) *profiler {
	return &profiler{dir: dir, hc: &http.Client{Timeout: 2 * time.Minute}, log: log, missing: map[string]bool{}}
}

// hook returns the OnWindow callback for a run on l: a CPU profile over
// most of each window of the scenarios in cpu, and a heap profile at its
// end; with start, a heap profile at its start too (kind heap-start: what
// the warm-up left behind).
func (p *profiler) hook(ctx context.Context, l *layout, tag string, cpu, start bool) func(string, time.Duration) {
	var once sync.Once
	return func(scenario string, length time.Duration) {
		once.Do(func() { // the first window only: one profile set per scenario
			for _, proc := range l.profiled() {
				if start {
					p.wg.Go(func() { p.fetch(ctx, l.name, tag, proc, "heap-start", "/debug/pprof/heap") })
				}
				p.wg.Go(func() { p.take(ctx, l.name, tag, proc, length, cpu) })
			}
		})
	}
}

func (p *profiler) take(ctx context.Context, layoutName, tag string, proc *proc, length time.Duration, cpu bool) {
	secs := int(min(length-2*time.Second, 20*time.Second) / time.Second)
	start := time.Now()
	if cpu && secs >= 1 {
		p.fetch(ctx, layoutName, tag, proc, "cpu", fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs))
	}
	// The heap near the end of the window, when the load is fully built.
	if wait := length - time.Since(start) - time.Second; wait > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	p.fetch(ctx, layoutName, tag, proc, "heap", "/debug/pprof/heap")
	p.fetch(ctx, layoutName, tag, proc, "goroutine", "/debug/pprof/goroutine")
}

func (p *profiler) fetch(ctx context.Context, layoutName, tag string, proc *proc, kind, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, proc.Base()+path, nil)
	if err != nil {
		return
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		fmt.Fprintf(p.log, "profile %s of %s: %v\n", kind, proc.Name, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.mu.Lock()
		p.missing[proc.Name] = true
		p.mu.Unlock()
		return
	}
	file := filepath.Join(p.dir, fmt.Sprintf("%s-%s-%s.pb.gz", tag, proc.Name, kind))
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintf(p.log, "profile %s: %v\n", file, err)
		return
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(p.log, "profile %s: %v\n", file, err)
		return
	}
	p.mu.Lock()
	p.profiles = append(p.profiles, Profile{Scenario: tag, Layout: layoutName, Process: proc.Name, Kind: kind, Path: file})
	p.mu.Unlock()
}

// finish waits for the profiles in flight and summarizes each with
// `go tool pprof -top`.
func (p *profiler) finish(ctx context.Context) ([]Profile, []string) {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.profiles {
		pr := &p.profiles[i]
		args := []string{"tool", "pprof", "-top", "-nodecount=25"}
		if strings.HasPrefix(pr.Kind, "heap") {
			args = append(args, "-sample_index=inuse_space")
		}
		out, err := exec.CommandContext(ctx, "go", append(args, pr.Path)...).CombinedOutput()
		if err != nil {
			pr.Top = fmt.Sprintf("go tool pprof failed: %v\n%s", err, out)
			continue
		}
		pr.Top = trimPprof(string(out))
	}
	var notes []string
	for name := range p.missing {
		notes = append(notes, fmt.Sprintf("%s does not serve /debug/pprof (PPROF=true was set): no profiles from it", name))
	}
	return p.profiles, notes
}

// trimPprof drops the header lines that name local files.
func trimPprof(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}
