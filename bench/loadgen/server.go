package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Target is one server process whose /metrics the generator reads, or,
// for a process without them (a bare NATS server), whose /proc entry.
type Target struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"` // http://host:port
	PID  int    `json:"pid,omitempty"` // read /proc/<pid> when URL is empty
}

// ProcSample is one reading of a process's Prometheus metrics.
type ProcSample struct {
	At         time.Time
	RSS        float64 // process_resident_memory_bytes
	HeapInuse  float64 // go_memstats_heap_inuse_bytes
	StackInuse float64 // go_memstats_stack_inuse_bytes: goroutine stacks
	CPUSeconds float64 // process_cpu_seconds_total
	Goroutines float64 // go_goroutines
	// The Go runtime's own accounts, for the split of RSS into what is
	// live and what is headroom; zero for a process read from /proc.
	HeapAlloc    float64 // go_memstats_heap_alloc_bytes: live and not yet collected objects
	HeapIdle     float64 // go_memstats_heap_idle_bytes: free spans, kept or returned
	HeapReleased float64 // go_memstats_heap_released_bytes: free spans returned to the OS
	HeapGoal     float64 // go_memstats_next_gc_bytes: the heap size the next GC cycle starts at
	Sys          float64 // go_memstats_sys_bytes: all the runtime obtained from the OS
	GOGC         float64 // go_gc_gogc_percent
	MemoryLimit  float64 // go_gc_gomemlimit_bytes (math.MaxInt64: none)
	// GCCycles counts the completed GC cycles (go_gc_duration_seconds_count);
	// HasGC says the process reports them.
	GCCycles float64
	HasGC    bool
	// Pairpad sums every pairpad_* series over its labels (histogram
	// buckets left out), so counters can be compared before and after.
	Pairpad map[string]float64
	// Fanout is the cumulative count of pairpad_realtime_fanout_seconds
	// (an event's publication by one instance to its delivery into the
	// send queues of another) by upper bound in seconds, summed over types.
	Fanout map[float64]float64
}

// Scrape reads the metrics of t.
func Scrape(ctx context.Context, hc *http.Client, t Target) (ProcSample, error) {
	if t.URL == "" {
		return ReadProc(t.PID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(t.URL, "/")+"/metrics", nil)
	if err != nil {
		return ProcSample{}, fmt.Errorf("scrape %s: %w", t.Name, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return ProcSample{}, fmt.Errorf("scrape %s: %w", t.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ProcSample{}, fmt.Errorf("scrape %s: HTTP %d", t.Name, resp.StatusCode)
	}
	s, err := ParseMetrics(resp.Body)
	if err != nil {
		return ProcSample{}, fmt.Errorf("scrape %s: %w", t.Name, err)
	}
	s.At = time.Now()
	return s, nil
}

// ParseMetrics reads the Prometheus text format, keeping what ProcSample holds.
func ParseMetrics(r io.Reader) (ProcSample, error) {
	s := ProcSample{Pairpad: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := splitSample(line)
		if !ok {
			continue
		}
		if name == fanoutBucket {
			if le, ok := bucketBound(line); ok {
				if s.Fanout == nil {
					s.Fanout = map[float64]float64{}
				}
				s.Fanout[le] += value
			}
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			s.RSS = value
		case "go_memstats_heap_inuse_bytes":
			s.HeapInuse = value
		case "go_memstats_stack_inuse_bytes":
			s.StackInuse = value
		case "process_cpu_seconds_total":
			s.CPUSeconds = value
		case "go_goroutines":
			s.Goroutines = value
		case "go_memstats_heap_alloc_bytes":
			s.HeapAlloc = value
		case "go_memstats_heap_idle_bytes":
			s.HeapIdle = value
		case "go_memstats_heap_released_bytes":
			s.HeapReleased = value
		case "go_memstats_next_gc_bytes":
			s.HeapGoal = value
		case "go_memstats_sys_bytes":
			s.Sys = value
		case "go_gc_gogc_percent":
			s.GOGC = value
		case "go_gc_gomemlimit_bytes":
			s.MemoryLimit = value
		case "go_gc_duration_seconds_count":
			s.GCCycles, s.HasGC = value, true
		default:
			if strings.HasPrefix(name, "pairpad_") && !strings.HasSuffix(name, "_bucket") {
				s.Pairpad[name] += value
			}
		}
	}
	return s, sc.Err()
}

// fanoutBucket is the histogram of the servers' own share of a fan-out.
const fanoutBucket = "pairpad_realtime_fanout_seconds_bucket"

// bucketBound reads the le label of a histogram bucket's line.
func bucketBound(line string) (float64, bool) {
	_, rest, ok := strings.Cut(line, `le="`)
	if !ok {
		return 0, false
	}
	v, _, ok := strings.Cut(rest, `"`)
	if !ok {
		return 0, false
	}
	le, err := strconv.ParseFloat(v, 64) // "+Inf" parses as +Inf
	return le, err == nil
}

// splitSample splits `name{labels} value [timestamp]`.
func splitSample(line string) (string, float64, bool) {
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return "", 0, false
	}
	name := line[:end]
	rest := line[end:]
	if rest[0] == '{' {
		close := strings.LastIndexByte(rest, '}')
		if close < 0 {
			return "", 0, false
		}
		rest = rest[close+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || math.IsNaN(v) {
		return "", 0, false
	}
	return name, v, true
}

// ProcessStats compares two readings of one process.
type ProcessStats struct {
	Name       string  `json:"name"`
	RSSBefore  int64   `json:"rssBeforeBytes"`
	RSSAfter   int64   `json:"rssAfterBytes"`
	HeapBefore int64   `json:"heapInuseBeforeBytes"`
	HeapAfter  int64   `json:"heapInuseAfterBytes"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// CPUPercent is CPU time over wall time: 100 is one core busy.
	CPUPercent float64 `json:"cpuPercent"`
	Goroutines int64   `json:"goroutinesAfter"`
	// Pairpad is the change of every pairpad_* series between the readings.
	Pairpad map[string]float64 `json:"pairpadDelta,omitempty"`
	// Runtime is the Go runtime's account of the process's memory at the
	// second reading, when it serves one.
	Runtime *RuntimeMemory `json:"runtimeAfter,omitempty"`
	// Fanout is the server's share of the events other instances published
	// between the readings, when it received any.
	Fanout *BucketQuantiles `json:"fanout,omitempty"`
}

// BucketQuantiles are quantiles read from a Prometheus histogram's
// buckets: each is the upper bound of the bucket it falls in, so "p99 ≤
// P99Ms"; one beyond the last finite bound is that bound, with Beyond set
// ("p99 > P99Ms").
type BucketQuantiles struct {
	Count  int64   `json:"count"`
	P50Ms  float64 `json:"p50AtMostMs"`
	P99Ms  float64 `json:"p99AtMostMs"`
	Beyond bool    `json:"p99BeyondLastBound,omitempty"`
}

// fanoutBetween reads the quantiles of the observations made between two
// readings of cumulative buckets; nil when there were none.
func fanoutBetween(before, after map[float64]float64) *BucketQuantiles {
	bounds := slices.Sorted(maps.Keys(after))
	if len(bounds) == 0 {
		return nil
	}
	total := after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	if total <= 0 {
		return nil
	}
	at := func(q float64) (ms float64, beyond bool) {
		last := 0.0
		for _, le := range bounds {
			if math.IsInf(le, 1) {
				return last * 1000, true
			}
			if after[le]-before[le] >= q*total {
				return le * 1000, false
			}
			last = le
		}
		return last * 1000, true
	}
	b := &BucketQuantiles{Count: int64(total)}
	b.P50Ms, _ = at(0.5)
	b.P99Ms, b.Beyond = at(0.99)
	return b
}

// RuntimeMemory is how a Go process's RSS divides, as its runtime
// accounts it at one reading: the heap the runtime works with (HeapInuse:
// spans holding objects, live or not yet collected), the free heap it
// keeps for the next allocations (HeapKept) and the goroutine stacks; the
// rest of RSS is the runtime's metadata, the binary and the C side.
// HeapGoal is where the next GC cycle starts: with GOGC=100 about twice the
// heap that was live at the last cycle, the headroom RSS may fill before
// the collector runs.
type RuntimeMemory struct {
	RSS       int64 `json:"rssBytes"`
	HeapInuse int64 `json:"heapInuseBytes"`
	HeapAlloc int64 `json:"heapAllocBytes"`
	// HeapKept is free heap not returned to the OS (idle − released): the
	// scavenger returns what lies beyond about 10 % over the heap goal.
	HeapKept int64   `json:"heapKeptBytes"`
	HeapGoal int64   `json:"heapGoalBytes"`
	Stacks   int64   `json:"stackInuseBytes"`
	Sys      int64   `json:"sysBytes"`
	GCCycles int64   `json:"gcCycles"`
	GOGC     float64 `json:"gogcPercent"`
	// MemoryLimit is GOMEMLIMIT; 0 when none is set.
	MemoryLimit int64 `json:"memoryLimitBytes,omitempty"`
}

// Runtime returns the runtime's memory accounts of s, nil when the
// process does not report them.
func (s ProcSample) Runtime() *RuntimeMemory {
	if !s.HasGC || s.Sys == 0 {
		return nil
	}
	m := &RuntimeMemory{RSS: int64(s.RSS), HeapInuse: int64(s.HeapInuse), HeapAlloc: int64(s.HeapAlloc),
		HeapKept: int64(s.HeapIdle - s.HeapReleased), HeapGoal: int64(s.HeapGoal), Stacks: int64(s.StackInuse),
		Sys: int64(s.Sys), GCCycles: int64(s.GCCycles), GOGC: s.GOGC}
	if s.MemoryLimit > 0 && s.MemoryLimit < 1<<62 {
		m.MemoryLimit = int64(s.MemoryLimit)
	}
	return m
}

// Compare returns the change from before to after.
func Compare(name string, before, after ProcSample) ProcessStats {
	p := ProcessStats{
		Name: name, RSSBefore: int64(before.RSS), RSSAfter: int64(after.RSS),
		HeapBefore: int64(before.HeapInuse), HeapAfter: int64(after.HeapInuse),
		CPUSeconds: round3(after.CPUSeconds - before.CPUSeconds), Goroutines: int64(after.Goroutines),
		Pairpad: map[string]float64{}, Runtime: after.Runtime(), Fanout: fanoutBetween(before.Fanout, after.Fanout),
	}
	if wall := after.At.Sub(before.At).Seconds(); wall > 0 {
		p.CPUPercent = round1(100 * (after.CPUSeconds - before.CPUSeconds) / wall)
	}
	for k, v := range after.Pairpad {
		if d := v - before.Pairpad[k]; d != 0 {
			p.Pairpad[k] = round3(d)
		}
	}
	return p
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// ReadProc reads the CPU time and resident memory of process pid from
// /proc (Linux), for processes that serve no metrics.
func ReadProc(pid int) (ProcSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read /proc of %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces: fields start after it.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 22 {
		return ProcSample{}, fmt.Errorf("read /proc of %d: short stat", pid)
	}
	// Fields 14 and 15 of stat (11 and 12 after the name) are utime and
	// stime in clock ticks; Linux reports USER_HZ = 100 to user space.
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	rssPages, _ := strconv.ParseFloat(f[21], 64)
	return ProcSample{
		At: time.Now(), CPUSeconds: (utime + stime) / 100, RSS: rssPages * float64(os.Getpagesize()),
		Pairpad: map[string]float64{},
	}, nil
}
