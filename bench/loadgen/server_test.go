package loadgen

import (
	"encoding/json"
	"math"
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
pairpad_realtime_fanout_seconds_bucket{type="code-update",le="+Inf"} 9
pairpad_realtime_fanout_seconds_bucket{type="cursor-update",le="0.001"} 3
pairpad_realtime_fanout_seconds_bucket{type="cursor-update",le="+Inf"} 3
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
	if len(s.Fanout) != 2 || s.Fanout[0.001] != 10 || s.Fanout[math.Inf(1)] != 12 {
		t.Errorf("fan-out buckets = %v, want 10 under 1 ms and 12 in all, summed over types", s.Fanout)
	}
}

func TestFanoutBetween(t *testing.T) {
	inf := math.Inf(1)
	before := map[float64]float64{0.001: 10, 0.01: 10, 0.1: 10, inf: 10}
	for _, tc := range []struct {
		name  string
		after map[float64]float64
		want  *BucketQuantiles
	}{
		{"nothing observed", before, nil},
		{"no histogram", nil, nil},
		{"all under the first bound", map[float64]float64{0.001: 110, 0.01: 110, 0.1: 110, inf: 110},
			&BucketQuantiles{Count: 100, P50Ms: 1, P99Ms: 1}},
		{"a tail in a later bucket", map[float64]float64{0.001: 90, 0.01: 105, 0.1: 110, inf: 110},
			&BucketQuantiles{Count: 100, P50Ms: 1, P99Ms: 100}},
		{"a tail beyond the last bound", map[float64]float64{0.001: 60, 0.01: 100, 0.1: 105, inf: 110},
			&BucketQuantiles{Count: 100, P50Ms: 1, P99Ms: 100, Beyond: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fanoutBetween(before, tc.after)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("fanoutBetween = %+v, want %+v", got, tc.want)
			}
			if got != nil {
				if _, err := json.Marshal(got); err != nil {
					t.Errorf("not JSON: %v", err)
				}
			}
		})
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
