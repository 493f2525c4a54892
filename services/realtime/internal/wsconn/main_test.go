package wsconn

import (
	"fmt"
	"os"
	"testing"
)

// testPoller reads the tests' connections (opts); it is closed once they
// have run.
var testPoller *Poller

func TestMain(m *testing.M) {
	p, err := NewPoller()
	if err != nil {
		fmt.Fprintln(os.Stderr, "poller:", err)
		os.Exit(1)
	}
	testPoller = p
	code := m.Run()
	if err := p.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "poller:", err)
		code = 1
	}
	os.Exit(code)
}
