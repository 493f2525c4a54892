package process_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/process/processtest"
)

// The HTTP limits every process serves with, tight so the tests are quick.
const (
	readHeaderTimeout = 500 * time.Millisecond
	idleTimeout       = 700 * time.Millisecond
	maxHeaderBytes    = 2048
)

// startLimited runs process.Run with the tight HTTP limits and env on top
// and returns it once it is ready; it is stopped when the test ends.
func startLimited(t *testing.T, env map[string]string) processtest.Process {
	t.Helper()
	s := natstest.Start(t)
	vars := map[string]string{
		"NATS_URL": s.ClientURL(), "HTTP_READ_HEADER_TIMEOUT": readHeaderTimeout.String(),
		"HTTP_IDLE_TIMEOUT": idleTimeout.String(), "HTTP_MAX_HEADER_BYTES": "2048",
	}
	for k, v := range env {
		vars[k] = v
	}
	svc := &echoService{shut: make(chan struct{})}
	p := processtest.Start(t, vars, process.Options{
		Process: "api",
		Build:   func(context.Context, process.Deps) (process.Service, error) { return svc, nil },
	})
	waitStatus(t, p.Base()+"/readyz", http.StatusOK)
	return p
}

// waitClosed reads c until the server closes it (EOF or an error) and
// reports whether that happened within limit.
func waitClosed(c net.Conn, limit time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

// TestSlowHeadersAreCutOff: a client that dribbles its request headers
// slower than HTTP_READ_HEADER_TIMEOUT loses its connection, and the server
// keeps serving others.
func TestSlowHeadersAreCutOff(t *testing.T) {
	addr := startLimited(t, nil).Addr
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	began := time.Now()
	closed := make(chan bool, 1)
	go func() { closed <- waitClosed(c, 15*time.Second) }()
	// One header byte every 50 ms: the headers would take 10 s to finish.
	dribble := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)
	var cut bool
loop:
	for i := 0; i < len(dribble); i++ {
		select {
		case cut = <-closed:
			break loop
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := c.Write([]byte{dribble[i]}); err != nil {
			cut = <-closed
			break
		}
	}
	if !cut {
		t.Fatal("the server waited for the whole dribble")
	}
	if elapsed := time.Since(began); elapsed < readHeaderTimeout/2 {
		t.Errorf("cut off after %s, before the header timeout %s", elapsed, readHeaderTimeout)
	}
	if code, _ := status(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz after the slow client: %d", code)
	}
}

// TestOversizedHeadersGet431: headers beyond HTTP_MAX_HEADER_BYTES are
// refused with 431. net/http allows 4096 bytes of slack on top of the
// setting, so "beyond" means more than the setting plus 4 KiB.
func TestOversizedHeadersGet431(t *testing.T) {
	addr := startLimited(t, nil).Addr
	tests := []struct {
		name string
		size int
		want int
	}{
		{"within the limit", maxHeaderBytes / 2, http.StatusOK},
		{"over the setting, within net/http's slack", maxHeaderBytes + 2048, http.StatusOK},
		{"far beyond the limit", maxHeaderBytes + 4096 + 1024, http.StatusRequestHeaderFieldsTooLarge},
		{"one huge header", 64 << 10, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
			req.Header.Set("X-Big", strings.Repeat("b", tc.size))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%d header bytes: got %d, want %d", tc.size, resp.StatusCode, tc.want)
			}
		})
	}
}

// TestIdleKeepAliveIsClosed: a keep-alive connection that sends nothing
// after its response is closed by the server after HTTP_IDLE_TIMEOUT.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	addr := startLimited(t, nil).Addr
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("got %d, close=%v; want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	began := time.Now()
	_ = c.SetReadDeadline(began.Add(10 * time.Second))
	n, err := br.Read(make([]byte, 1))
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatal("an idle keep-alive connection stayed open for 10 s")
	case n > 0:
		t.Fatal("the server sent data on an idle connection")
	case time.Since(began) < idleTimeout/2:
		t.Errorf("closed after %s, before the idle timeout %s", time.Since(began), idleTimeout)
	}
}

// TestSecretsStayOutOfLogs: whatever process.Run logs, at debug level,
// never contains ADMIN_TOKEN or TOKEN_SECRET; every line is JSON.
func TestSecretsStayOutOfLogs(t *testing.T) {
	const admin, secret = "admin-Zq8xVb3pLk", "secret-Yt5mWc9rNs"
	var out *processtest.Buffer
	t.Run("run", func(t *testing.T) {
		p := startLimited(t, map[string]string{"ADMIN_TOKEN": admin, "TOKEN_SECRET": secret, "LOG_LEVEL": "debug"})
		addr := p.Addr
		out = p.Logs
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/api/x"} {
			status(t, "http://"+addr+path)
		}
	}) // Run has stopped here: its last lines are written.
	logs := out.String()
	if !strings.Contains(logs, `"msg":"stopped"`) {
		t.Fatalf("the log is missing lines:\n%s", logs)
	}
	for _, s := range []string{admin, secret} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains a secret %q:\n%s", s, logs)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("not a JSON line: %s", line)
		}
	}
}
