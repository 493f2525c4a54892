package k8s

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pairpad/pairpad/shared/config"
)

// maxSoftLimitPercent is the largest share of a container's memory limit
// the Go runtime's soft limit may take: the rest is for what the runtime
// does not manage and for the burst a collection has not yet caught up
// with, which past the hard limit ends in an OOM kill.
const maxSoftLimitPercent = 90

// resourceValue is what a resourceFieldRef puts in the environment: the
// container's request or limit divided by the divisor, rounded up ("" for
// another container's or a missing resource).
func resourceValue(ct *corev1.Container, ref *corev1.ResourceFieldSelector) string {
	if ref.ContainerName != "" && ref.ContainerName != ct.Name {
		return ""
	}
	var q resource.Quantity
	var ok bool
	switch kind, name, _ := strings.Cut(ref.Resource, "."); kind {
	case "limits":
		q, ok = ct.Resources.Limits[corev1.ResourceName(name)]
	case "requests":
		q, ok = ct.Resources.Requests[corev1.ResourceName(name)]
	}
	if !ok {
		return ""
	}
	div := int64(1)
	if !ref.Divisor.IsZero() {
		div = ref.Divisor.Value()
	}
	return strconv.FormatInt((q.Value()+div-1)/div, 10)
}

// memory checks that a Go process's soft memory limit sits below its
// container's memory limit with headroom: GOMEMLIMIT, or for a pairpad
// process (cfg set) MEMORY_LIMIT and GO_MEMORY_PERCENT.
func (c *checker) memory(w workload, field string, ct *corev1.Container, env map[string]envVar, cfg *config.Config) {
	id := w.ID()
	q, ok := ct.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		return // reported by container
	}
	limit := q.Value()
	within := func(soft int64) bool { return soft <= limit/100*maxSoftLimitPercent }
	if v, set := env["GOGC"]; set {
		if n, err := strconv.Atoi(v.value); err != nil || n < 1 || n > 1000 {
			c.addf(id, field+".env[GOGC]", "%q (from %s): want a whole number from 1 to 1000 (the collector's target in %%); \"off\" would leave only the soft limit to collect", v.value, v.source)
		}
	}
	if v, set := env["GOMEMLIMIT"]; set {
		soft, err := goMemLimit(v.value)
		switch {
		case err != nil:
			c.addf(id, field+".env[GOMEMLIMIT]", "%q (from %s): %v", v.value, v.source, err)
		case !within(soft):
			c.addf(id, field+".env[GOMEMLIMIT]", "%s (from %s) is more than %d %% of the memory limit %s: "+
				"the soft limit needs headroom below the hard one; write a smaller literal (pairpad processes: MEMORY_LIMIT from the limit, with GO_MEMORY_PERCENT)",
				v.value, v.source, maxSoftLimitPercent, q.String())
		}
		return
	}
	if cfg == nil {
		c.addf(id, field+".env", "no GOMEMLIMIT: the Go heap may grow to twice what is live and past the memory limit %s before a collection", q.String())
		return
	}
	switch {
	case cfg.MemoryLimit == 0:
		c.addf(id, field+".env", "neither MEMORY_LIMIT nor GOMEMLIMIT: the Go heap may grow to twice what is live and past the memory limit %s before a collection "+
			"(set MEMORY_LIMIT from resourceFieldRef limits.memory)", q.String())
	case cfg.MemoryLimit > limit:
		c.addf(id, field+".env[MEMORY_LIMIT]", "%d is above the container's memory limit %s", cfg.MemoryLimit, q.String())
	case !within(cfg.GoMemoryLimit()):
		c.addf(id, field+".env[GO_MEMORY_PERCENT]", "%d %% of MEMORY_LIMIT is more than %d %% of the memory limit %s", cfg.GoMemoryPercent, maxSoftLimitPercent, q.String())
	}
}

// goMemLimit parses GOMEMLIMIT as the Go runtime does: a number of bytes
// with an optional unit B, KiB, MiB, GiB or TiB. "off" (no limit) is an
// error here: the container must have one.
func goMemLimit(s string) (int64, error) {
	if s == "off" {
		return 0, fmt.Errorf("off: no soft limit below the memory limit")
	}
	num, factor := s, int64(1)
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			num, factor = strings.TrimSuffix(s, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/factor {
		return 0, fmt.Errorf("not a size the Go runtime reads (bytes, or a number with B, KiB, MiB, GiB or TiB)")
	}
	return n * factor, nil
}
