package loadgen

import (
	"errors"
	"fmt"
)

// MergeResults combines the results of generator processes that ran the
// same scenario side by side on disjoint sessions (loadgen -procs): counts
// add up, and every latency distribution is recomputed from the merged raw
// samples (each part must have run with Options.KeepRaw), never from the
// parts' percentiles. The merged result keeps no raw samples.
//
// What cannot be merged is said in its notes: the server readings are the
// first part's (every part read the same servers over overlapping
// windows), and the idle scenario's memory per connection is not computed.
func MergeResults(parts []*Result) (*Result, error) {
	if len(parts) == 0 {
		return nil, errors.New("merge: no results")
	}
	first := parts[0]
	out := &Result{Scenario: first.Scenario, Layout: first.Layout, Instances: first.Instances, Started: first.Started,
		Params: first.Params, Servers: first.Servers, RSS: first.RSS}
	for i, p := range parts {
		if p.Scenario != first.Scenario {
			return nil, fmt.Errorf("merge: part %d ran %s, part 1 %s", i+1, p.Scenario, first.Scenario)
		}
		if p.Convergence != nil || len(p.Steps) > 0 || p.REST != nil {
			return nil, fmt.Errorf("merge: %s results do not merge (one session, steps or REST)", p.Scenario)
		}
		if p.Started.Before(out.Started) {
			out.Started = p.Started
		}
		for _, f := range p.Failures {
			out.Failures = append(out.Failures, fmt.Sprintf("process %d: %s", i+1, f))
		}
		out.Notes = append(out.Notes, p.Notes...)
		out.Loadgen.CPUSeconds = round3(out.Loadgen.CPUSeconds + p.Loadgen.CPUSeconds)
		out.Loadgen.CPUPercent = round1(out.Loadgen.CPUPercent + p.Loadgen.CPUPercent)
		out.Loadgen.MaxRSS = max(out.Loadgen.MaxRSS, p.Loadgen.MaxRSS)
	}
	var err error
	if out.Connect, err = mergeConnect(parts); err != nil {
		return nil, err
	}
	if out.Traffic, err = mergeTraffic(parts); err != nil {
		return nil, err
	}
	out.Memory = mergeMemory(parts)
	out.Notes = append(out.Notes, fmt.Sprintf("%d generator processes on disjoint sessions; latencies merged from every raw sample; server readings are process 1's", len(parts)))
	if out.Memory != nil {
		out.Notes = append(out.Notes, "memory per connection is not computed across generator processes")
	}
	return out, nil
}

func addCounts(dst map[string]int64, src map[string]int64) map[string]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = map[string]int64{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// mergeRaw merges key's raw samples of every part; an error when a part
// with samples to merge kept none.
func mergeRaw(key string, counts []int64, raws []map[string]Samples) (Samples, error) {
	sets := make([]Samples, 0, len(raws))
	for i, raw := range raws {
		s, ok := raw[key]
		if !ok && counts[i] > 0 {
			return nil, fmt.Errorf("merge: part %d has %d %s samples but kept none (Options.KeepRaw)", i+1, counts[i], key)
		}
		if int64(len(s)) != counts[i] {
			return nil, fmt.Errorf("merge: part %d summarized %d %s samples but kept %d", i+1, counts[i], key, len(s))
		}
		sets = append(sets, s)
	}
	return Merge(sets...), nil
}

func mergeConnect(parts []*Result) (*ConnectStats, error) {
	var out *ConnectStats
	for _, p := range parts {
		c := p.Connect
		if c == nil {
			continue
		}
		if out == nil {
			out = &ConnectStats{}
		}
		out.Attempted += c.Attempted
		out.Connected += c.Connected
		out.Failed += c.Failed
		out.Errors = addCounts(out.Errors, c.Errors)
		out.Retries = addCounts(out.Retries, c.Retries)
		out.Seconds = max(out.Seconds, c.Seconds)
		out.PerSecond = round1(out.PerSecond + c.PerSecond)
		out.PrepareSeconds = max(out.PrepareSeconds, c.PrepareSeconds)
	}
	if out == nil {
		return nil, nil
	}
	for key, dst := range map[string]*Summary{"handshake": &out.Handshake, "create": &out.Create, "join": &out.Join} {
		counts := make([]int64, len(parts))
		raws := make([]map[string]Samples, len(parts))
		for i, p := range parts {
			if p.Connect != nil {
				counts[i], raws[i] = map[string]int64{"handshake": p.Connect.Handshake.Count,
					"create": p.Connect.Create.Count, "join": p.Connect.Join.Count}[key], p.Connect.Raw
			}
		}
		s, err := mergeRaw(key, counts, raws)
		if err != nil {
			return nil, err
		}
		*dst = s.Summarize()
	}
	return out, nil
}

func mergeTraffic(parts []*Result) (*Traffic, error) {
	var out *Traffic
	for _, p := range parts {
		t := p.Traffic
		if t == nil {
			continue
		}
		if out == nil {
			out = &Traffic{Latency: map[string]Summary{}}
		}
		out.Seconds = max(out.Seconds, t.Seconds)
		for k, v := range t.Sent {
			if out.Sent == nil {
				out.Sent = map[string]int64{}
			}
			out.Sent[k] += v
		}
		out.SentPerSec = round1(out.SentPerSec + t.SentPerSec)
		out.OfferedPerSec = round1(out.OfferedPerSec + t.OfferedPerSec)
		out.DeliveredPerSec = round1(out.DeliveredPerSec + t.DeliveredPerSec)
		out.Expected += t.Expected
		out.Delivered += t.Delivered
		out.Lost += t.Lost
		out.LostCursors += t.LostCursors
		out.LostCode += t.LostCode
		out.Reconnects += t.Reconnects
		out.Cuts += t.Cuts
		out.PendingAcks += t.PendingAcks
		out.MachineCPUPercent = max(out.MachineCPUPercent, t.MachineCPUPercent)
		out.Errors = addCounts(out.Errors, t.Errors)
	}
	if out == nil {
		return nil, nil
	}
	merged := map[string]Samples{}
	for _, key := range []string{"code-update", "cursor-update", "code-ack", "lag"} {
		counts := make([]int64, len(parts))
		raws := make([]map[string]Samples, len(parts))
		for i, p := range parts {
			if p.Traffic == nil {
				continue
			}
			raws[i] = p.Traffic.Raw
			if key == "lag" {
				counts[i] = p.Traffic.TimerLag.Count
			} else {
				counts[i] = p.Traffic.Latency[key].Count
			}
		}
		s, err := mergeRaw(key, counts, raws)
		if err != nil {
			return nil, err
		}
		merged[key] = s
	}
	out.Latency["all"] = Merge(merged["code-update"], merged["cursor-update"]).Summarize()
	for _, key := range []string{"code-update", "cursor-update", "code-ack"} {
		out.Latency[key] = merged[key].Summarize()
	}
	out.TimerLag = merged["lag"].Summarize()
	return out, nil
}

func mergeMemory(parts []*Result) *Memory {
	var out *Memory
	for _, p := range parts {
		if p.Memory == nil {
			continue
		}
		if out == nil {
			out = &Memory{HoldSeconds: p.Memory.HoldSeconds}
		}
		out.Connections += p.Memory.Connections
		out.Alive += p.Memory.Alive
		out.ServerCPUPercent = max(out.ServerCPUPercent, p.Memory.ServerCPUPercent)
	}
	return out
}
