package loadgen

import (
	"strings"
	"testing"
	"time"
)

// part is a result of one generator process with the given latencies.
func part(code, cursor Samples, conns int) *Result {
	raw := map[string]Samples{"code-update": code, "cursor-update": cursor, "code-ack": nil, "lag": Samples{1}}
	t := &Traffic{Seconds: 10, Sent: map[string]int64{"code-update": int64(len(code))}, Expected: int64(len(code) + len(cursor)),
		Delivered: int64(len(code) + len(cursor)), Errors: map[string]int64{"info:X": 1}, Latency: map[string]Summary{}, Raw: raw}
	for k, s := range raw {
		if k == "lag" {
			t.TimerLag = append(Samples(nil), s...).Summarize()
		} else {
			t.Latency[k] = append(Samples(nil), s...).Summarize()
		}
	}
	hs := Samples{int64(time.Millisecond)}
	return &Result{Scenario: "interview", Instances: 3, Traffic: t,
		Connect: &ConnectStats{Attempted: conns, Connected: conns, Handshake: hs.Summarize(),
			Raw: map[string]Samples{"handshake": hs}}}
}

func ns(ms ...float64) Samples {
	s := make(Samples, len(ms))
	for i, v := range ms {
		s[i] = int64(v * 1e6)
	}
	return s
}

func TestMergeResults(t *testing.T) {
	// Process 1's p99 is 2 ms and process 2's 80 ms; over the union of 200
	// samples the p99 is the 198th: 75 ms, which no combination of the
	// parts' percentiles gives.
	a := make(Samples, 0, 100)
	for range 100 {
		a = append(a, int64(2*time.Millisecond))
	}
	b := make(Samples, 0, 100)
	for range 96 {
		b = append(b, int64(time.Millisecond))
	}
	b = append(b, ns(70, 75, 80, 90)...)
	m, err := MergeResults([]*Result{part(a, ns(1, 2), 3), part(b, ns(3), 4)})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Traffic.Latency["code-update"]; got.Count != 200 || got.P99 != 75 || got.Max != 90 || got.P50 != 2 {
		t.Errorf("code-update = %+v, want 200 samples, p50 2, p99 75, max 90", got)
	}
	if got := m.Traffic.Latency["all"].Count; got != 203 {
		t.Errorf("all count = %d, want 203", got)
	}
	if m.Instances != 3 || m.Connect.Connected != 7 || m.Connect.Handshake.Count != 2 || m.Traffic.Errors["info:X"] != 2 || m.Traffic.Sent["code-update"] != 200 {
		t.Errorf("merged counts: connect %+v, traffic %+v", m.Connect, m.Traffic)
	}
	if m.Traffic.Raw != nil {
		t.Error("the merged result keeps raw samples")
	}

	for _, tc := range []struct {
		name  string
		parts func() []*Result
		want  string
	}{
		{"none", func() []*Result { return nil }, "no results"},
		{"a part without raw samples", func() []*Result {
			p := part(a, nil, 1)
			p.Traffic.Raw = nil
			return []*Result{part(b, nil, 1), p}
		}, "kept none"},
		{"different scenarios", func() []*Result {
			p := part(a, nil, 1)
			p.Scenario = "idle"
			return []*Result{part(b, nil, 1), p}
		}, "ran idle"},
		{"crowd", func() []*Result {
			p := part(a, nil, 1)
			p.Convergence = &Convergence{}
			return []*Result{p}
		}, "do not merge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := MergeResults(tc.parts()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
