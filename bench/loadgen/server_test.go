package loadgen

import (
	"os"
	"strings"
	"testing"
	"time"
)

const metricsText = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 1.2e+07
go_memstats_stack_inuse_bytes 65536
process_cpu_seconds_total 3.5
process_resident_memory_bytes 4.194304e+07
go_gc_duration_seconds{quantile="0.5"} 0.0001
go_gc_duration_seconds_count 17
go_gc_gogc_percent 100
go_gc_gomemlimit_bytes 9.223372036854776e+18
go_memstats_heap_alloc_bytes 8e+06
go_memstats_heap_idle_bytes 5e+06
go_memstats_heap_released_bytes 2e+06
go_memstats_next_gc_bytes 1.6e+07
go_memstats_sys_bytes 3e+07
pairpad_realtime_connections{framing="plain"} 10
pairpad_realtime_connections{framing="socket.io"} 5
pairpad_realtime_events_in_total{type="code-update"} 100
pairpad_realtime_fanout_seconds_bucket{type="code-update",le="0.001"} 7
pairpad_realtime_fanout_seconds_sum{type="code-update"} 0.25
pairpad_weird{label="with } brace"} 1
pairpad_nan NaN
garbage
`

func TestParseMetrics(t *testing.T) {
	s, err := ParseMetrics(strings.NewReader(metricsText))
	if err != nil {
		t.Fatal(err)
	}
	if s.Goroutines != 42 || s.HeapInuse != 12e6 || s.CPUSeconds != 3.5 || s.RSS != 41943040 || s.StackInuse != 65536 {
		t.Errorf("process metrics = %+v", s)
	}
	rt := s.Runtime()
	if rt == nil || rt.GCCycles != 17 || rt.HeapKept != 3e6 || rt.HeapGoal != 16e6 || rt.HeapAlloc != 8e6 || rt.Sys != 30e6 ||
		rt.GOGC != 100 || rt.MemoryLimit != 0 || rt.Stacks != 65536 || rt.RSS != 41943040 {
		t.Errorf("runtime = %+v", rt)
	}
	if (ProcSample{RSS: 1}).Runtime() != nil {
		t.Error("a process read from /proc has runtime figures")
	}
	want := map[string]float64{
		"pairpad_realtime_connections":        15,
		"pairpad_realtime_events_in_total":    100,
		"pairpad_realtime_fanout_seconds_sum": 0.25,
		"pairpad_weird":                       1,
	}
	if len(s.Pairpad) != len(want) {
		t.Errorf("pairpad series = %v, want %v", s.Pairpad, want)
	}
	for k, v := range want {
		if s.Pairpad[k] != v {
			t.Errorf("%s = %v, want %v", k, s.Pairpad[k], v)
		}
	}
}

func TestCompare(t *testing.T) {
	t0 := time.Unix(100, 0)
	before := ProcSample{At: t0, RSS: 100, HeapInuse: 50, CPUSeconds: 1, Pairpad: map[string]float64{"pairpad_x_total": 5}}
	after := ProcSample{At: t0.Add(2 * time.Second), RSS: 300, HeapInuse: 80, CPUSeconds: 2, Goroutines: 9,
		Pairpad: map[string]float64{"pairpad_x_total": 8, "pairpad_y": 0}}
	got := Compare("a", before, after)
	if got.CPUPercent != 50 || got.CPUSeconds != 1 || got.RSSAfter != 300 || got.HeapBefore != 50 || got.Goroutines != 9 {
		t.Errorf("Compare = %+v", got)
	}
	if len(got.Pairpad) != 1 || got.Pairpad["pairpad_x_total"] != 3 {
		t.Errorf("pairpad delta = %v", got.Pairpad)
	}
}

func TestReadProc(t *testing.T) {
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.CPUSeconds < 0 {
		t.Errorf("ReadProc(self) = %+v", s)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Error("ReadProc(-1) succeeded")
	}
}
