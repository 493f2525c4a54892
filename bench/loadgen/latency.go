package loadgen

import (
	"math"
	"slices"
	"time"
)

// Summary is a latency distribution as reported: milliseconds, nearest-rank
// percentiles over every sample (no histogram approximation).
type Summary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"meanMs"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	P999  float64 `json:"p999Ms"`
	Max   float64 `json:"maxMs"`
}

// Samples is a set of latencies in nanoseconds. It is not safe for
// concurrent use: each connection keeps its own and they are merged.
type Samples []int64

// Add records one latency.
func (s *Samples) Add(d time.Duration) { *s = append(*s, int64(d)) }

// Merge returns every sample of sets in one new slice.
func Merge(sets ...Samples) Samples {
	n := 0
	for _, s := range sets {
		n += len(s)
	}
	out := make(Samples, 0, n)
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

// Summarize sorts s in place and returns its distribution.
func (s Samples) Summarize() Summary {
	if len(s) == 0 {
		return Summary{}
	}
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	return Summary{
		Count: int64(len(s)),
		Mean:  ms(sum / float64(len(s))),
		P50:   ms(float64(s.sortedPercentile(50))),
		P90:   ms(float64(s.sortedPercentile(90))),
		P99:   ms(float64(s.sortedPercentile(99))),
		P999:  ms(float64(s.sortedPercentile(99.9))),
		Max:   ms(float64(s[len(s)-1])),
	}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of s,
// which it sorts in place; 0 when s is empty.
func (s Samples) Percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	return time.Duration(s.sortedPercentile(p))
}

// sortedPercentile is the nearest-rank definition: the smallest sample such
// that at least p percent of the samples are less than or equal to it.
func (s Samples) sortedPercentile(p float64) int64 {
	// The epsilon keeps float error (99.9/100*10000 = 9990.000000000002)
	// from moving the rank up by one.
	rank := int(math.Ceil(p*float64(len(s))/100 - 1e-9))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// ms converts nanoseconds to milliseconds rounded to the microsecond, so the
// JSON stays readable.
func ms(ns float64) float64 { return math.Round(ns/1e3) / 1e3 }
