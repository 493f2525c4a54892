package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/bench/loadgen"
)

func TestParse(t *testing.T) {
	env := func(k string) string {
		if k == "TOKEN_SECRET" {
			return "from-env"
		}
		return ""
	}
	for _, tc := range []struct {
		name     string
		args     string
		scenario string
		check    func(t *testing.T, f *flags)
	}{
		{"defaults", "interview", "interview", func(t *testing.T, f *flags) {
			o := f.opts
			if o.APIURL != "http://127.0.0.1:3001" || len(o.WSURLs) != 1 || o.WSURLs[0] != "ws://127.0.0.1:3001" {
				t.Errorf("urls = %s %v", o.APIURL, o.WSURLs)
			}
			if o.Framing != loadgen.FramingPlain || o.TokenSecret != "from-env" || f.sessions != 1000 || f.user != 3 {
				t.Errorf("opts = %+v, flags = %+v", o, f)
			}
			if len(o.Targets) != 1 || o.Targets[0].URL != o.APIURL {
				t.Errorf("targets = %+v", o.Targets)
			}
		}},
		{"two instances and metrics", "-api http://a:1 -ws ws://b:2,ws://c:3 -metrics rt1=http://b:2,http://c:3 idle", "idle",
			func(t *testing.T, f *flags) {
				o := f.opts
				if len(o.WSURLs) != 2 || o.WSURLs[1] != "ws://c:3" {
					t.Errorf("ws = %v", o.WSURLs)
				}
				if len(o.Targets) != 2 || o.Targets[0].Name != "rt1" || o.Targets[1].Name != "http://c:3" {
					t.Errorf("targets = %+v", o.Targets)
				}
			}},
		{"a process read from /proc", "-metrics rt1=http://b:2,nats=pid:42 interview", "interview",
			func(t *testing.T, f *flags) {
				o := f.opts
				if len(o.Targets) != 2 || o.Targets[1] != (loadgen.Target{Name: "nats", PID: 42}) {
					t.Errorf("targets = %+v", o.Targets)
				}
				if o.OnWindow == nil {
					t.Error("no window marker for a parent to profile from")
				}
			}},
		{"legacy implies socket.io and fullCode", "--legacy crowd", "crowd", func(t *testing.T, f *flags) {
			if !f.opts.Legacy || f.opts.Framing != loadgen.FramingSocketIO {
				t.Errorf("opts = %+v", f.opts)
			}
		}},
		{"a CPU profile of the window", "-cpuprofile /tmp/x.prof interview", "interview", func(t *testing.T, f *flags) {
			if f.profiler.path != "/tmp/x.prof" {
				t.Errorf("profile path = %q", f.profiler.path)
			}
		}},
		{"crowd defaults to ops", "crowd", "crowd", func(t *testing.T, f *flags) {
			if f.opts.DeltaFormat != "ops" {
				t.Errorf("delta = %q", f.opts.DeltaFormat)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, scenario, err := parse(append([]string{"loadgen"}, strings.Fields(tc.args)...), env, io.Discard)
			if err != nil || scenario != tc.scenario {
				t.Fatalf("parse = %q, %v", scenario, err)
			}
			tc.check(t, f)
		})
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range []string{"", "idle crowd", "-nope idle", "dance", "-metrics nats=pid:x idle", "-metrics nats=pid:0 idle"} {
		err := run(context.Background(), append([]string{"loadgen"}, strings.Fields(args)...), func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

func TestFlagSet(t *testing.T) {
	args := []string{"loadgen", "-users=5", "--sessions", "3", "crowd"}
	if !flagSet(args, "users") || !flagSet(args, "sessions") || flagSet(args, "conns") {
		t.Error("flagSet misread the arguments")
	}
}

// TestWindowProfile: the profile starts at the first window only and is
// written when stopped.
func TestWindowProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	p := &windowProfile{path: path}
	p.start(time.Hour, io.Discard)
	p.start(time.Hour, io.Discard) // a second window: still the first profile
	p.stop()
	p.stop()
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if fi.Size() == 0 {
		t.Fatalf("profile %s is empty", path)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	p.start(time.Hour, io.Discard)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a second profile was started: %v", err)
	}
}
