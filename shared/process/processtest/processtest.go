// Package processtest runs a real process.Run inside a test, on a free port,
// and collects what it logs.
package processtest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/process/spawn"
)

// Buffer is a log sink that many goroutines write to; its zero value keeps
// everything written.
type Buffer = spawn.Buffer

// Process is a process.Run started by Start.
type Process struct {
	Addr string  // host:port it listens on
	Logs *Buffer // its stdout and stderr
}

// Base is the process's HTTP base URL.
func (p Process) Base() string { return "http://" + p.Addr }

// Start runs process.Run with env (PORT defaults to 0: a free port) until
// the test ends, and returns once it listens. Run must return without error
// within 20 s of the test's end.
func Start(t testing.TB, env map[string]string, o process.Options) Process {
	t.Helper()
	vars := map[string]string{"PORT": "0"}
	for k, v := range env {
		vars[k] = v
	}
	logs := &Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	o.Ready = func(a net.Addr) { addrc <- a }
	go func() {
		done <- process.Run(ctx, []string{o.Process}, func(k string) string { return vars[k] }, logs, logs, o)
	}()
	var finished bool
	t.Cleanup(func() {
		cancel()
		if finished {
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after the test")
		}
	})
	select {
	case a := <-addrc:
		return Process{Addr: a.String(), Logs: logs}
	case err := <-done:
		finished = true
		t.Fatalf("Run: %v\n%s", err, logs)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not listen within 15 s")
	}
	return Process{}
}
