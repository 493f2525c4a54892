// Package siotest drives real npm socket.io-client instances from Go tests,
// through the scriptable driver in testclients/socketio/client.mjs.
package siotest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/process/processtest"
)

// Event is one line the driver wrote: a lifecycle event of the client
// (connect, connect_error, disconnect), a server event, or harness_error.
type Event struct {
	Event       string            `json:"event"`
	ID          string            `json:"id,omitempty"`          // connect
	Message     string            `json:"message,omitempty"`     // connect_error, harness_error
	Data        json.RawMessage   `json:"data,omitempty"`        // connect_error: err.data
	Description string            `json:"description,omitempty"` // connect_error, disconnect
	Reason      string            `json:"reason,omitempty"`      // disconnect
	Arg         json.RawMessage   `json:"arg,omitempty"`         // server events: the first argument
	Args        []json.RawMessage `json:"args,omitempty"`        // server events: every argument
	Raw         json.RawMessage   `json:"-"`                     // the whole line
}

// ErrorCode returns data.error of a connect_error, the protocol's error code.
func (e Event) ErrorCode() string {
	var d struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Error
}

// Decode unmarshals the first argument of a server event into v.
func (e Event) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(e.Arg, v); err != nil {
		t.Fatalf("decode %s argument %s: %v", e.Event, e.Arg, err)
	}
}

// Client is one running socket.io-client driver process.
type Client struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *processtest.Buffer
	done   chan struct{} // closed when the stdout reader ends

	mu     sync.Mutex
	events []Event       // every event, in order
	next   int           // index of the first event Next has not returned
	notify chan struct{} // signalled after each appended event
}

// Start runs node client.mjs in dir (the testclients/socketio folder; empty
// means Dir(t)) until the test ends.
func Start(t testing.TB, dir string) *Client {
	t.Helper()
	if dir == "" {
		dir = Dir(t)
	}
	requireModules(t, dir)
	node := requireNode(t)

	cmd := exec.Command(node, "client.mjs")
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("siotest: stdin pipe: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("siotest: stdout pipe: %v", err)
	}
	c := &Client{t: t, cmd: cmd, stdin: stdin, stderr: &processtest.Buffer{},
		done: make(chan struct{}), notify: make(chan struct{}, 1)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("siotest: start node client.mjs: %v", err)
	}
	go c.read(stdout)
	t.Cleanup(c.stop)
	return c
}

// read records every line the driver writes, until its stdout closes.
func (c *Client) read(stdout io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		line := bytes.Clone(sc.Bytes())
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			ev = Event{Event: "harness_error", Message: "unparsable driver output: " + string(line)}
		}
		ev.Raw = line
		c.mu.Lock()
		c.events = append(c.events, ev)
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
}

// stop asks the driver to exit, and kills it if it does not within 5 s.
func (c *Client) stop() {
	_ = c.stdin.Close() // the driver exits on stdin EOF
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	_ = c.cmd.Wait()
	if c.t.Failed() {
		c.t.Logf("siotest: driver events:\n%s\nstderr:\n%s", c.dump(), c.stderr.String())
	}
}

// send writes one command line.
func (c *Client) send(cmd map[string]any) {
	c.t.Helper()
	line, err := json.Marshal(cmd)
	if err != nil {
		c.t.Fatalf("siotest: encode command %v: %v", cmd, err)
	}
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		c.t.Fatalf("siotest: send %s: %v (stderr: %s)", line, err, c.stderr.String())
	}
}

// Connect opens a socket.io-client connection to url (http://host:port) with
// transports ["websocket"], no reconnection and a fresh manager. query and
// auth may be nil.
func (c *Client) Connect(url string, query, auth map[string]any) {
	c.t.Helper()
	cmd := map[string]any{"cmd": "connect", "url": url}
	if query != nil {
		cmd["query"] = query
	}
	if auth != nil {
		cmd["auth"] = auth
	}
	c.send(cmd)
}

// Emit sends a Socket.IO event with one argument.
func (c *Client) Emit(event string, arg any) {
	c.t.Helper()
	c.send(map[string]any{"cmd": "emit", "event": event, "arg": arg})
}

// Disconnect closes the connection from the client side.
func (c *Client) Disconnect() {
	c.t.Helper()
	c.send(map[string]any{"cmd": "disconnect"})
}

// Next returns the next event not yet returned by Next or WaitFor, failing
// the test when none arrives within timeout.
func (c *Client) Next(t testing.TB, timeout time.Duration) Event {
	t.Helper()
	ev, ok := c.await(timeout, func(Event) bool { return true })
	if !ok {
		t.Fatalf("siotest: no event within %v; seen so far:\n%s\nstderr:\n%s", timeout, c.dump(), c.stderr.String())
	}
	return ev
}

// WaitFor skips events until one named name arrives and returns it, failing
// the test after timeout. Skipped events stay in Events.
func (c *Client) WaitFor(t testing.TB, name string, timeout time.Duration) Event {
	t.Helper()
	ev, ok := c.await(timeout, func(e Event) bool { return e.Event == name })
	if !ok {
		t.Fatalf("siotest: no %q event within %v; seen so far:\n%s\nstderr:\n%s", name, timeout, c.dump(), c.stderr.String())
	}
	return ev
}

// await consumes events up to and including the first that matches.
func (c *Client) await(timeout time.Duration, match func(Event) bool) (Event, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for c.next < len(c.events) {
			ev := c.events[c.next]
			c.next++
			if match(ev) {
				c.mu.Unlock()
				return ev, true
			}
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.done:
			// The process is gone: take what it wrote last, then give up.
			c.mu.Lock()
			drained := c.next >= len(c.events)
			c.mu.Unlock()
			if drained {
				return Event{}, false
			}
		case <-deadline.C:
			return Event{}, false
		}
	}
}

// Events returns every event the driver wrote so far, consumed or not.
func (c *Client) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

func (c *Client) dump() string {
	var b strings.Builder
	for _, ev := range c.Events() {
		b.Write(ev.Raw)
		b.WriteByte('\n')
	}
	return b.String()
}
