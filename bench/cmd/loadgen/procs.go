package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pairpad/pairpad/bench/loadgen"
)

// Several generator processes (-procs N): each connection is a file
// descriptor and the hard RLIMIT_NOFILE may be far below the connections
// wanted (20,000 per process on the bench machine), so the generator runs
// N copies of itself, each on its own share of the sessions (-shard i/N),
// keeping every raw latency sample, and merges their results exactly
// (loadgen.MergeResults). Sessions are never split across processes, so
// every latency is measured on one process's clock.

// shardable are the scenarios whose sessions split across processes.
var shardable = map[string]bool{"idle": true, "interview": true, "interview-light": true}

// parseShard reads -shard "i/n" (1 ≤ i ≤ n).
func parseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("-shard %q: want i/n with 1 ≤ i ≤ n", s)
	}
	return i, n, nil
}

// share is part i (1-based) of total split n ways, the remainder going to
// the first parts.
func share(total, i, n int) int {
	s := total / n
	if i <= total%n {
		s++
	}
	return s
}

// applyShard cuts the sizes down to this process's share.
func (f *flags) applyShard(scenario string) error {
	if f.shard == "" {
		return nil
	}
	if !shardable[scenario] {
		return fmt.Errorf("%s does not split across processes (one session, or steps)", scenario)
	}
	i, n, err := parseShard(f.shard)
	if err != nil {
		return err
	}
	if scenario == "idle" {
		sessions := (f.conns + f.ups - 1) / f.ups
		f.conns = share(sessions, i, n) * f.ups
	} else {
		f.sessions = share(f.sessions, i, n)
	}
	f.opts.KeepRaw = true
	return nil
}

// runProcs runs the scenario in f.procs child processes and merges their
// results.
// full is the parameters of the whole run, which the merged result reports.
func runProcs(ctx context.Context, args []string, f *flags, scenario string, full any, stderr io.Writer) (*loadgen.Result, error) {
	if !shardable[scenario] {
		return nil, fmt.Errorf("-procs: %s does not split across processes (one session, or steps)", scenario)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "loadgen-procs")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The flags given, then the child's own, which win (a later flag
	// overrides an earlier one), then the scenario.
	given := args[1 : len(args)-1]
	parts := make([]*loadgen.Result, f.procs)
	errs := make([]error, f.procs)
	var wg sync.WaitGroup
	var outMu sync.Mutex // the children's lines share stderr
	for i := range f.procs {
		out := filepath.Join(dir, fmt.Sprintf("part-%d.json", i+1))
		cargs := append(append([]string(nil), given...), "-procs", "1", "-shard", fmt.Sprintf("%d/%d", i+1, f.procs),
			"-out", out, "-md", "", "-fail=false")
		if f.cpuProfile != "" {
			cargs = append(cargs, "-cpuprofile", numbered(f.cpuProfile, i+1))
		}
		cargs = append(cargs, scenario)
		cmd := exec.CommandContext(ctx, self, cargs...)
		cmd.Stdout, cmd.Stderr = io.Discard, &prefixed{mu: &outMu, w: stderr, prefix: fmt.Sprintf("[%d/%d] ", i+1, f.procs)}
		wg.Go(func() {
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("process %d: %w", i+1, err)
				return
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				errs[i] = fmt.Errorf("process %d: %w", i+1, err)
				return
			}
			var r loadgen.Result
			if err := json.Unmarshal(raw, &r); err != nil {
				errs[i] = fmt.Errorf("process %d: %w", i+1, err)
				return
			}
			parts[i] = &r
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	r, err := loadgen.MergeResults(parts)
	if err != nil {
		return nil, err
	}
	r.Params = full
	return r, nil
}

// numbered is path for process i: i inserted before the first dot of the
// file's name (cpu.pb.gz: cpu-2.pb.gz), or appended when it has none.
func numbered(path string, i int) string {
	dir, name := filepath.Split(path)
	base, ext, _ := strings.Cut(name, ".")
	if ext != "" {
		ext = "." + ext
	}
	return filepath.Join(dir, fmt.Sprintf("%s-%d%s", base, i, ext))
}

// prefixed writes whole lines with a prefix, so the children's progress
// lines stay apart.
type prefixed struct {
	mu     *sync.Mutex // shared by every writer to w
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i]); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
}
