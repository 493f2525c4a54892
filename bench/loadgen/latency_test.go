package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	ms := func(v ...int) Samples {
		s := make(Samples, len(v))
		for i, x := range v {
			s[i] = int64(time.Duration(x) * time.Millisecond)
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		samples Samples
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample is every percentile", ms(7), 99.9, 7 * time.Millisecond},
		{"median of four is the second", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p50 of five", ms(5, 1, 4, 2, 3), 50, 3 * time.Millisecond},
		{"p90 of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p99 of ten is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p100 is the max", ms(3, 9, 1), 100, 9 * time.Millisecond},
		{"tiny p is the min", ms(3, 9, 1), 0.001, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.samples.Percentile(tc.p); got != tc.want {
				t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeAgreesWithSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s Samples
	for range 10000 {
		s.Add(time.Duration(rng.ExpFloat64() * float64(time.Millisecond)))
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	sum := s.Summarize()
	check := func(name string, got float64, rank int) {
		t.Helper()
		if want := ms(float64(sorted[rank-1])); got != want {
			t.Errorf("%s = %v ms, want %v ms (rank %d)", name, got, want, rank)
		}
	}
	if sum.Count != 10000 {
		t.Errorf("count = %d", sum.Count)
	}
	check("p50", sum.P50, 5000)
	check("p90", sum.P90, 9000)
	check("p99", sum.P99, 9900)
	check("p99.9", sum.P999, 9990)
	check("max", sum.Max, 10000)
	if sum.Mean < 0.9 || sum.Mean > 1.1 {
		t.Errorf("mean of Exp(1 ms) samples = %v ms", sum.Mean)
	}
}

func TestMerge(t *testing.T) {
	got := Merge(Samples{3, 1}, nil, Samples{2})
	if got.Summarize().Count != 3 || got[0] != 1 || got[2] != 3 {
		t.Errorf("Merge = %v", got)
	}
}
