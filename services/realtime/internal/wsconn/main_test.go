package wsconn

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
)

// testPoller reads the tests' connections (opts); it is closed once they
// have run. Where there is no epoll it is nil: the tests run on the
// goroutine reader, and those of the poller itself are skipped (never on
// Linux, where TestMain fails without it).
var testPoller *Poller

func TestMain(m *testing.M) {
	p, err := NewPoller()
	// On Linux (and so in CI) the poller must work: its tests never skip there.
	if err != nil && (!errors.Is(err, ErrNoPoller) || runtime.GOOS == "linux") {
		fmt.Fprintln(os.Stderr, "poller:", err)
		os.Exit(1)
	}
	testPoller = p
	code := m.Run()
	if p != nil {
		if err := p.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "poller:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needPoller skips a test of the epoll reader where there is none.
func needPoller(t *testing.T) {
	t.Helper()
	if testPoller == nil {
		t.Skip("no epoll on this platform: connections use the goroutine reader")
	}
}
