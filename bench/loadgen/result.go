package loadgen

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Result is what one scenario run measured; sections a scenario does not
// fill stay out of the JSON.
type Result struct {
	Scenario string `json:"scenario"`
	Layout   string `json:"layout,omitempty"` // set by whoever started the servers
	// Variant names the server settings of one side of an A/B comparison
	// ("B: NATS_IN_PROCESS=false"), and Run which repeat of it this was.
	Variant string `json:"variant,omitempty"`
	Run     int    `json:"run,omitempty"`
	// Instances is how many realtime instances (Options.WSURLs) the
	// connections were spread over.
	Instances int       `json:"instances,omitempty"`
	Started   time.Time `json:"started"`
	Params    any       `json:"params"`

	Connect     *ConnectStats  `json:"connect,omitempty"`
	Memory      *Memory        `json:"memory,omitempty"`
	Traffic     *Traffic       `json:"traffic,omitempty"`
	Convergence *Convergence   `json:"convergence,omitempty"`
	Steps       []Step         `json:"steps,omitempty"`
	HighestHeld *Step          `json:"highestHeld,omitempty"`
	REST        *RESTStats     `json:"rest,omitempty"`
	Servers     []ProcessStats `json:"servers,omitempty"`
	// RSS is each watched server's resident memory over the run
	// (Options.WatchRSS).
	RSS     []RSSSeries  `json:"rss,omitempty"`
	Loadgen LoadgenStats `json:"loadgen"`
	// Failures lists what made the run fail (errors, lost events, no
	// convergence); empty for a clean run.
	Failures []string `json:"failures,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// ConnectStats describes the opening of the connections.
type ConnectStats struct {
	Attempted int              `json:"attempted"`
	Connected int              `json:"connected"`
	Failed    int              `json:"failed"`
	Errors    map[string]int64 `json:"errors,omitempty"` // by protocol error code or error class
	// Retries counts handshakes that failed transiently and were retried
	// (see Options.DialRetries), by error.
	Retries   map[string]int64 `json:"retries,omitempty"`
	Seconds   float64          `json:"seconds"`
	PerSecond float64          `json:"perSecond"`
	// Handshake is from the dial to the connected event.
	Handshake Summary `json:"handshake"`
	// Prepare is the REST part: creating sessions and joining them.
	PrepareSeconds float64 `json:"prepareSeconds"`
	Create         Summary `json:"create"`
	Join           Summary `json:"join"`
	// Raw holds the samples behind Handshake, Create and Join with
	// Options.KeepRaw.
	Raw map[string]Samples `json:"raw,omitempty"`
}

// Memory is the server memory the idle connections cost.
type Memory struct {
	Connections int64 `json:"connections"`
	// Alive is how many were still open at the end of the hold.
	Alive int64 `json:"alive"`
	// Per-connection cost at the last reading: the steady state when
	// IdleParams.SteadyWait asked for it (Steady says whether it was
	// reached), else the end of the hold. The change over the connections
	// opened, summed over every server process; RSSPerConn, HeapPerConn
	// and StackPerConn repeat PerConn for older readers.
	PerConn     *ConnCost `json:"perConn,omitempty"`
	RSSPerConn  float64   `json:"rssBytesPerConn"`
	HeapPerConn float64   `json:"heapInuseBytesPerConn"`
	// StackPerConn is the goroutine stacks' share (outside the heap, inside RSS).
	StackPerConn float64 `json:"stackInuseBytesPerConn"`
	// Transient is the same cost read right after the last connection was
	// up, before any collection of the handshakes' garbage.
	Transient *ConnCost `json:"transient,omitempty"`
	// AfterHold is the cost at the end of the hold, when the steady state
	// was waited for after it: where runs before the steady state read
	// their figures (those after a forced GC, which leaves RSS as it is).
	AfterHold *ConnCost `json:"afterHold,omitempty"`
	// Steady says how the steady state was reached, when it was waited for.
	Steady *Steadiness `json:"steady,omitempty"`
	// HoldSeconds is from the connections being up to the last reading.
	HoldSeconds float64 `json:"holdSeconds"`
	// ServerCPUPercent is the servers' CPU while holding idle connections
	// (keepalives, presence refreshes).
	ServerCPUPercent float64 `json:"serverCpuPercentWhileIdle"`
}

// ConnCost is the server memory per connection at one reading.
type ConnCost struct {
	RSS   float64 `json:"rssBytes"`
	Heap  float64 `json:"heapInuseBytes"`
	Stack float64 `json:"stackInuseBytes"`
}

// Traffic is what flowed during a measurement window.
type Traffic struct {
	Seconds    float64          `json:"seconds"`
	Sent       map[string]int64 `json:"sent"`
	SentPerSec float64          `json:"sentPerSec"`
	// OfferedPerSec is what the users were told to send; less is sent when
	// a user waits for an ack (edits typed meanwhile go out as one update).
	OfferedPerSec float64 `json:"offeredPerSec"`
	// Expected is one delivery per send per other member of the session.
	Expected  int64 `json:"expected"`
	Delivered int64 `json:"delivered"`
	Lost      int64 `json:"lost"`
	// LostCursors is the cursor-updates among Lost: those sent while a
	// member was reconnecting are not replayed, so with Reconnects they
	// are no failure.
	LostCursors int64 `json:"lostCursors,omitempty"`
	// LostCode is the code-updates among Lost: always a failure (a
	// reconnected member gets them replayed).
	LostCode int64 `json:"lostCode,omitempty"`
	// Reconnects counts users that reconnected after their connection
	// ended unasked; Cuts the connections the generator dropped itself
	// (Options.CutEvery).
	Reconnects      int64   `json:"reconnects,omitempty"`
	Cuts            int64   `json:"cuts,omitempty"`
	DeliveredPerSec float64 `json:"deliveredPerSec"`
	// Latency is from send to receipt at each other member, by event type;
	// "all" merges them, "code-ack" is from send to the sender's ack.
	Latency     map[string]Summary `json:"latency"`
	PendingAcks int64              `json:"pendingAcks"`
	// TimerLag is how late the generator's send timers fired: large values
	// mean the generator itself was starved of CPU, and latencies include it.
	TimerLag Summary `json:"loadgenTimerLag"`
	// MachineCPUPercent is the whole machine's CPU use during the window
	// (100 = one core busy): servers, generator, and anything else running.
	MachineCPUPercent float64 `json:"machineCpuPercent"`
	// Errors counts error events by code, and client-side problems.
	Errors map[string]int64 `json:"errors,omitempty"`
	// Raw holds every sample (nanoseconds) behind Latency and TimerLag
	// ("lag") when Options.KeepRaw asked for them: what MergeResults
	// merges exactly across generator processes.
	Raw map[string]Samples `json:"raw,omitempty"`
}

// Convergence is the end-of-run check that every client holds the same text.
type Convergence struct {
	Clients      int      `json:"clients"`
	Agreeing     int      `json:"agreeing"`
	FinalVersion int64    `json:"finalVersion"`
	DocBytes     int      `json:"docBytes"`
	Converged    bool     `json:"converged"`
	Mismatches   []string `json:"mismatches,omitempty"`
}

// Step is one load level of the ramp.
type Step struct {
	Sessions    int            `json:"sessions"`
	Connections int            `json:"connections"`
	CodeRate    float64        `json:"codeRatePerUser"`
	CursorRate  float64        `json:"cursorRatePerUser"`
	Traffic     Traffic        `json:"traffic"`
	Servers     []ProcessStats `json:"servers,omitempty"`
	Held        bool           `json:"held"`
	// Attempts is 2 when the step failed once and was run again.
	Attempts int `json:"attempts"`
}

// RESTStats is the throughput of the session API.
type RESTStats struct {
	Requests  int64            `json:"requests"`
	Errors    map[string]int64 `json:"errors,omitempty"`
	Seconds   float64          `json:"seconds"`
	PerSecond float64          `json:"perSecond"`
	Create    Summary          `json:"create"`
	Join      Summary          `json:"join"`
}

// LoadgenStats is the generator's own cost, which shares the machine.
type LoadgenStats struct {
	CPUSeconds float64 `json:"cpuSeconds"`
	CPUPercent float64 `json:"cpuPercent"`
	MaxRSS     int64   `json:"maxRssBytes"`
}

// usage is a reading of the generator's own resource use.
type usage struct {
	at  time.Time
	cpu float64
	rss int64
}

func readUsage() usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return usage{at: time.Now(), cpu: cpu, rss: ru.Maxrss * 1024}
}

func (u usage) since(before usage) LoadgenStats {
	s := LoadgenStats{CPUSeconds: round3(u.cpu - before.cpu), MaxRSS: u.rss}
	if wall := u.at.Sub(before.at).Seconds(); wall > 0 {
		s.CPUPercent = round1(100 * (u.cpu - before.cpu) / wall)
	}
	return s
}

// machineCPU reads the whole machine's CPU counters from /proc/stat: busy
// and total ticks over every core.
type machineCPU struct{ busy, total float64 }

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machineCPU{}
	}
	var m machineCPU
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i >= 7 { // guest time is already counted in user
			break
		}
		m.total += n
		if i != 3 && i != 4 { // idle, iowait
			m.busy += n
		}
	}
	return m
}

// percentSince is the machine's CPU use since before, where 100 is one
// core busy: comparable with the per-process figures.
func (m machineCPU) percentSince(before machineCPU) float64 {
	if m.total <= before.total {
		return 0
	}
	return round1(100 * float64(runtime.NumCPU()) * (m.busy - before.busy) / (m.total - before.total))
}

// MachineBusy samples the whole machine's CPU use over d (100 = one core
// busy), so a runner can wait for a quiet machine before measuring.
func MachineBusy(d time.Duration) float64 {
	before := readMachineCPU()
	time.Sleep(d)
	return readMachineCPU().percentSince(before)
}
