package main

import (
	"context"
	"io"
	"strings"
	"testing"

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
