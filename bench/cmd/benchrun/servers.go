package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
	"github.com/pairpad/pairpad/shared/process/spawn"
)

// tokenSecret is the TOKEN_SECRET every server of a run shares.
const tokenSecret = "pairpad-bench-token-secret"

// benchEnv is what every server process gets: REST limits off, no
// per-address connection limit (the generator dials from a few loopback
// addresses), room for the crowd (up to 1,000 users: -crowd-sizes), pprof
// on, and info logs: the port a process bound is read from its
// "listening" line.
var benchEnv = []string{
	"TOKEN_SECRET=" + tokenSecret, "LOG_LEVEL=info",
	"RATE_LIMIT_CREATE=0", "RATE_LIMIT_JOIN=0", "RATE_LIMIT_DEFAULT=0",
	"WS_MAX_CONNECTIONS_PER_IP=0", "SESSION_MAX_USERS=1000", "SESSION_MAX_USER_IDS=1000", "PPROF=true",
}

// realtimeDeployEnv is what deploy/k8s/base/realtime.yaml sets for the
// Go runtime of a realtime instance: MEMORY_LIMIT (its pod's memory limit,
// 512Mi), whose soft limit caps the heap, and Go's default GOGC. The split
// layouts' instances run with it.
var realtimeDeployEnv = []string{"MEMORY_LIMIT=512Mi"}

// buildBinaries compiles the processes under test into dir.
func buildBinaries(ctx context.Context, root, dir string, log io.Writer) error {
	fmt.Fprintf(log, "building the servers into %s\n", dir)
	return spawn.Build(ctx, root, dir,
		"./deploy/local/cmd/pairpad", "./services/api/cmd/api", "./services/realtime/cmd/realtime", "./services/janitor/cmd/janitor",
		"./bench/cmd/loadgen")
}

// proc is one server process of a layout.
type proc = spawn.Proc

// layout is a set of running processes and how the generator reaches them.
type layout struct {
	name  string
	procs []*proc
	opts  loadgen.Options // APIURL, WSURLs, Targets
	// natsProf is where the split layout's NATS server serves pprof
	// (its Port is the profiler's, not the client port), nil elsewhere.
	natsProf *proc
}

// profiled returns the processes worth profiling: those serving WebSockets.
func (l *layout) profiled() []*proc {
	var out []*proc
	for _, p := range l.procs {
		if p.Name == "all-in-one" || strings.HasPrefix(p.Name, "realtime") {
			out = append(out, p)
		}
	}
	if l.natsProf != nil {
		out = append(out, l.natsProf)
	}
	return out
}

// watched returns the processes whose RSS interview-light follows: those
// serving WebSockets.
func (l *layout) watched() []loadgen.Target {
	var out []loadgen.Target
	for _, p := range l.procs {
		if strings.HasPrefix(p.Name, "relay") || p.Name == "all-in-one" || strings.HasPrefix(p.Name, "realtime") {
			out = append(out, loadgen.Target{Name: p.Name, PID: p.Cmd.Process.Pid})
		}
	}
	return out
}

// stop ends every process, newest first, with SIGTERM and then SIGKILL.
func (l *layout) stop() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		_ = l.procs[i].Stop(20 * time.Second)
	}
}

// startAllInOne runs the all-in-one with its embedded NATS server, with
// extra settings on top of benchEnv (an A/B's variant).
func startAllInOne(ctx context.Context, bin, dataDir string, extra []string) (*layout, error) {
	l := &layout{name: "all-in-one"}
	env := append([]string{"NATS_LISTEN=127.0.0.1:-1", "DATA_DIR=" + dataDir}, benchEnv...)
	p, err := startProc(ctx, "all-in-one", filepath.Join(bin, "pairpad"), append(env, extra...))
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, p)
	ws := "ws" + strings.TrimPrefix(p.Base(), "http")
	l.opts = loadgen.Options{APIURL: p.Base(), WSURLs: []string{ws},
		Targets: []loadgen.Target{{Name: p.Name, URL: p.Base()}}}
	return l, nil
}

// startRelay runs the floor: the bare Socket.IO relay (this program,
// re-executed as `benchrun relay`).
func startRelay(ctx context.Context) (*layout, error) {
	return startRelays(ctx, 1)
}

// startRelays runs n bare relays side by side: the floor of idle50k, whose
// sessions each stay on one relay (there is no fan-out between relays).
func startRelays(ctx context.Context, n int) (*layout, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	l := &layout{name: "relay (floor)"}
	if n > 1 {
		l.name = fmt.Sprintf("relay (floor) ×%d, each session on one", n)
	}
	for i := range n {
		name := "relay"
		if n > 1 {
			name = fmt.Sprintf("relay-%d", i+1)
		}
		p, err := startProc(ctx, name, self, nil, "relay")
		if err != nil {
			l.stop()
			return nil, err
		}
		l.procs = append(l.procs, p)
		if i == 0 {
			l.opts.APIURL = p.Base()
		}
		l.opts.WSURLs = append(l.opts.WSURLs, "ws"+strings.TrimPrefix(p.Base(), "http"))
		l.opts.Targets = append(l.opts.Targets, loadgen.Target{Name: name, URL: p.Base()})
	}
	return l, nil
}

// startSplit runs a NATS server (this program, re-executed), the api, the
// janitor and realtimes realtime instances: the scaled-out layout, on one
// machine.
func startSplit(ctx context.Context, bin, dataDir string, realtimes int) (*layout, error) {
	l := &layout{name: fmt.Sprintf("split: api + %d realtime + janitor + nats", realtimes)}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	profPort, err := freePort()
	if err != nil {
		return nil, err
	}
	nats, err := spawn.Start(ctx, spawn.Spec{Name: "nats", Binary: self,
		Args: []string{"nats", "-port", "-1", "-store", dataDir, "-prof-port", strconv.Itoa(profPort)},
		Out:  &spawn.Buffer{Max: logLimit}}, 30*time.Second)
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, nats)
	l.natsProf = &proc{Name: "nats", Port: profPort}
	env := append([]string{fmt.Sprintf("NATS_URL=nats://127.0.0.1:%d", nats.Port)}, benchEnv...)
	// The realtime instances run with the memory limit
	// deploy/k8s/base/realtime.yaml gives them (-server-env, in benchEnv,
	// still overrides it); the all-in-one has none.
	rtEnv := append([]string{fmt.Sprintf("NATS_URL=nats://127.0.0.1:%d", nats.Port)}, append(realtimeDeployEnv, benchEnv...)...)
	l.opts.Targets = append(l.opts.Targets, loadgen.Target{Name: "nats", PID: nats.Cmd.Process.Pid})
	procs := []struct{ name, binary string }{{"api", "api"}, {"janitor", "janitor"}}
	for i := range realtimes {
		procs = append(procs, struct{ name, binary string }{fmt.Sprintf("realtime-%d", i+1), "realtime"})
	}
	for _, pr := range procs {
		name, binary := pr.name, filepath.Join(bin, pr.binary)
		penv := env
		if pr.binary == "realtime" {
			penv = rtEnv
		}
		p, err := startProc(ctx, name, binary, penv)
		if err != nil {
			l.stop()
			return nil, err
		}
		l.procs = append(l.procs, p)
		l.opts.Targets = append(l.opts.Targets, loadgen.Target{Name: name, URL: p.Base()})
		switch {
		case name == "api":
			l.opts.APIURL = p.Base()
		case strings.HasPrefix(name, "realtime"):
			l.opts.WSURLs = append(l.opts.WSURLs, "ws"+strings.TrimPrefix(p.Base(), "http"))
		}
	}
	return l, nil
}

// freePort is a loopback port nothing listened on a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// logLimit bounds the output kept of each process: its tail goes into
// error messages.
const logLimit = 1 << 20

// startProc starts binary with env on port 0, reads the port it bound from
// its "listening" log line and waits for /readyz.
func startProc(ctx context.Context, name, binary string, env []string, args ...string) (*proc, error) {
	p, err := spawn.Start(ctx, spawn.Spec{Name: name, Binary: binary, Args: args, Env: env, Out: &spawn.Buffer{Max: logLimit}}, 60*time.Second)
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(ctx, 60*time.Second); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}
