package spawn

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestListeningPort(t *testing.T) {
	for _, tc := range []struct {
		logs string
		want int
		ok   bool
	}{
		{`{"level":"INFO","msg":"listening","addr":"127.0.0.1:4321","version":"dev"}` + "\n", 4321, true},
		{`{"msg":"ready"}` + "\n" + `{"msg":"listening","addr":"[::]:80"}` + "\n", 80, true},
		{`{"msg":"listening"}` + "\n" + `{"msg":"other","addr":"127.0.0.1:9"}` + "\n", 0, false},
		{"", 0, false},
	} {
		got, ok := ListeningPort(tc.logs)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ListeningPort(%q) = %d, %v; want %d, %v", tc.logs, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBufferKeepsTail(t *testing.T) {
	for _, tc := range []struct {
		max    int
		writes []string
		want   string
	}{
		{0, []string{"abc", "def"}, "abcdef"},
		{4, []string{"abc", "def"}, "cdef"},
		{4, []string{"abcdefgh"}, "efgh"},
	} {
		b := &Buffer{Max: tc.max}
		for _, w := range tc.writes {
			if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", w, n, err)
			}
		}
		if got := b.String(); got != tc.want {
			t.Errorf("Max %d, writes %q: got %q, want %q", tc.max, tc.writes, got, tc.want)
		}
	}
	if got := (&Buffer{}).Tail(3); got != "" {
		t.Errorf("empty Tail = %q", got)
	}
	b := &Buffer{}
	_, _ = b.Write([]byte("abcdef"))
	if got := b.Tail(3); got != "...def" {
		t.Errorf("Tail(3) = %q, want ...def", got)
	}
}

// sh runs script as a child process through Start.
func sh(t *testing.T, script string, env ...string) (*Proc, error) {
	t.Helper()
	return Start(context.Background(), Spec{Name: "sh", Binary: "/bin/sh", Args: []string{"-c", script}, Env: env}, 10*time.Second)
}

func TestStartReadsPortAndStops(t *testing.T) {
	// The child prints the PORT it got as its listening address and exits
	// cleanly on SIGTERM.
	// No "sleep & wait": a TERM that lands between the fork and the wait
	// waits for the sleep (the shell runs its trap only after), which took
	// the test to 60 s once in CI. A trap runs after each short sleep.
	p, err := sh(t, `trap 'exit 0' TERM
echo '{"msg":"listening","addr":"127.0.0.1:'"$((PORT+7))"'"}'
while :; do sleep 1; done`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Port != 7 {
		t.Errorf("Port = %d, want 7 (PORT defaults to 0)", p.Port)
	}
	if p.Base() != "http://127.0.0.1:7" {
		t.Errorf("Base = %q", p.Base())
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	<-p.Done()
}

func TestStartKeepsGivenPort(t *testing.T) {
	p, err := sh(t, `echo '{"msg":"listening","addr":"127.0.0.1:'"$PORT"'"}'; exec sleep 60`, "PORT=5555")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if p.Port != 5555 {
		t.Errorf("Port = %d, want 5555", p.Port)
	}
	if err := p.Stop(10 * time.Second); err == nil {
		t.Error("Stop of a process killed by SIGTERM reported a clean exit")
	}
}

func TestStartReportsEarlyExit(t *testing.T) {
	_, err := sh(t, `echo boom; exit 3`)
	if err == nil || !strings.Contains(err.Error(), "exited before it listened") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Start = %v, want an early-exit error with the output", err)
	}
}

func TestWaitReadyReportsExit(t *testing.T) {
	p, err := sh(t, `echo '{"msg":"listening","addr":"127.0.0.1:1"}'; exit 0`)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if err := p.WaitReady(context.Background(), 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Errorf("WaitReady = %v, want an exit error", err)
	}
}

// TestOnce: the first Dir builds, every later one returns the same
// folder without building again, and Remove deletes it.
func TestOnce(t *testing.T) {
	o := &Once{Pkgs: []string{"./deploy/images/testdata/hello"}}
	dir, err := o.Dir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	first, err := os.Stat(bin)
	if err != nil {
		t.Fatalf("the build left no binary: %v", err)
	}
	again, err := o.Dir(context.Background())
	if err != nil || again != dir {
		t.Fatalf("second Dir = %q, %v; want %q", again, err, dir)
	}
	if second, err := os.Stat(bin); err != nil || !second.ModTime().Equal(first.ModTime()) {
		t.Fatalf("the second Dir built again (%v)", err)
	}
	o.Remove()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("after Remove: %v", err)
	}
}
