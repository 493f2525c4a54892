package k8s

import (
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/pairpad/pairpad/shared/config"
)

// Problem is one thing wrong with the manifests: which object, which field,
// and what is wrong with it.
type Problem struct {
	Object  string // Kind/name
	Field   string // path inside the object
	Message string
}

// String renders the problem as the tests print it.
func (p Problem) String() string {
	if p.Field == "" {
		return p.Object + ": " + p.Message
	}
	return p.Object + ": " + p.Field + ": " + p.Message
}

// checker accumulates problems.
type checker struct {
	m            *Manifests
	problems     []Problem
	tokenSecrets []tokenSecretUse // filled by pairpadContainer
	configs      []processConfig  // filled by pairpadContainer
}

// tokenSecretUse is where a process reads TOKEN_SECRET from.
type tokenSecretUse struct {
	object, process string
	ref             *corev1.SecretKeySelector
}

// processConfig is a pairpad container's configuration as config.Load reads it.
type processConfig struct {
	w       workload
	process string
	cfg     config.Config
}

func (c *checker) addf(object, field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Object: object, Field: field, Message: fmt.Sprintf(format, args...)})
}

// Check runs every check on m and returns the problems found, sorted.
func Check(m *Manifests) []Problem {
	c := &checker{m: m}
	for _, w := range m.workloads() {
		c.workload(w)
	}
	c.tokenSecretsAgree()
	c.services()
	c.statefulSets()
	c.pdbs()
	c.hpas()
	c.ingresses()
	c.networkPolicies()
	c.reachability()
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Object < c.problems[j].Object })
	return c.problems
}

// Process names the pairpad process a container image runs: "api",
// "realtime" or "janitor" for ghcr.io/pairpad/pairpad-<process> (any
// registry), "nats" for the NATS server image, "" otherwise.
func Process(image string) string {
	repo, _, _ := splitImage(image)
	base := path.Base(repo)
	switch base {
	case "pairpad-api", "pairpad-realtime", "pairpad-janitor":
		return strings.TrimPrefix(base, "pairpad-")
	case "nats":
		return "nats"
	}
	return ""
}

// splitImage cuts an image reference into repository, tag and digest.
func splitImage(image string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// workload checks a Deployment or StatefulSet and each of its containers.
func (c *checker) workload(w workload) {
	id := w.ID()
	if w.Selector == nil || len(w.Selector.MatchLabels)+len(w.Selector.MatchExpressions) == 0 {
		c.addf(id, "spec.selector", "missing or empty: it would select every pod")
	} else if !selects(w.Selector, w.Template.Labels) {
		c.addf(id, "spec.selector", "%v does not match the pod template labels %v", w.Selector, w.Template.Labels)
	}
	spec := &w.Template.Spec
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		c.addf(id, "spec.template.spec", "shares the host's network, PID or IPC namespace")
	}
	if spec.SecurityContext != nil && spec.SecurityContext.RunAsUser != nil && *spec.SecurityContext.RunAsUser == 0 {
		c.addf(id, "spec.template.spec.securityContext.runAsUser", "is 0 (root)")
	}
	for i := range spec.InitContainers {
		c.container(w, fmt.Sprintf("spec.template.spec.initContainers[%s]", spec.InitContainers[i].Name), &spec.InitContainers[i], false)
	}
	for i := range spec.Containers {
		c.container(w, fmt.Sprintf("spec.template.spec.containers[%s]", spec.Containers[i].Name), &spec.Containers[i], true)
		switch p := Process(spec.Containers[i].Image); p {
		case "api", "realtime", "janitor":
			c.pairpadContainer(w, p, &spec.Containers[i])
		case "nats":
			c.natsContainer(w, &spec.Containers[i])
		}
	}
}

// container checks what every container must have: a pinned image, probes
// on a declared port, requests and limits, and a locked-down security context.
func (c *checker) container(w workload, field string, ct *corev1.Container, probes bool) {
	id := w.ID()
	repo, tag, digest := splitImage(ct.Image)
	switch {
	case repo == "":
		c.addf(id, field+".image", "missing")
	case tag == "" && digest == "":
		c.addf(id, field+".image", "%q has no tag: pin a version", ct.Image)
	case tag == "latest":
		c.addf(id, field+".image", "%q uses the tag latest: pin a version", ct.Image)
	}
	if probes {
		for _, p := range []struct {
			name  string
			probe *corev1.Probe
		}{{"livenessProbe", ct.LivenessProbe}, {"readinessProbe", ct.ReadinessProbe}} {
			if p.probe == nil {
				c.addf(id, field+"."+p.name, "missing")
				continue
			}
			if g := p.probe.HTTPGet; g != nil && containerPort(ct, g.Port.String()) == 0 {
				c.addf(id, field+"."+p.name+".httpGet.port", "%s is not a port of the container", g.Port.String())
			}
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := ct.Resources.Requests[r]
		lim, hasLim := ct.Resources.Limits[r]
		if !hasReq {
			c.addf(id, field+".resources.requests."+string(r), "missing")
		}
		if !hasLim {
			c.addf(id, field+".resources.limits."+string(r), "missing")
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			c.addf(id, field+".resources", "%s request %s is above its limit %s", r, req.String(), lim.String())
		}
	}
	c.security(w, field, ct)
}

// security checks the container's effective security context (its own,
// falling back to the pod's).
func (c *checker) security(w workload, field string, ct *corev1.Container) {
	id := w.ID()
	pod := w.Template.Spec.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	sc := ct.SecurityContext
	if sc == nil {
		c.addf(id, field+".securityContext", "missing")
		return
	}
	f := field + ".securityContext"
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		c.addf(id, f+".runAsNonRoot", "not true (here or in the pod's securityContext)")
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = pod.RunAsUser
	}
	if uid == nil || *uid == 0 {
		c.addf(id, f+".runAsUser", "not set to a non-zero uid (here or in the pod's securityContext)")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		c.addf(id, f+".readOnlyRootFilesystem", "not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		c.addf(id, f+".allowPrivilegeEscalation", "not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		c.addf(id, f+".privileged", "true")
	}
	dropsAll := false
	if sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			dropsAll = dropsAll || d == "ALL"
		}
		if len(sc.Capabilities.Add) > 0 {
			c.addf(id, f+".capabilities.add", "%v: nothing here needs a capability", sc.Capabilities.Add)
		}
	}
	if !dropsAll {
		c.addf(id, f+".capabilities.drop", "does not drop ALL")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = pod.SeccompProfile
	}
	if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
		c.addf(id, f+".seccompProfile", "not RuntimeDefault (here or in the pod's securityContext)")
	}
}

// containerPort resolves a port given by name or number to the container's
// port number, or 0 when the container declares no such port.
func containerPort(ct *corev1.Container, port string) int32 {
	for _, p := range ct.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return p.ContainerPort
		}
	}
	return 0
}

// preStopSleep is how long the container's preStop hook sleeps, in seconds.
func preStopSleep(ct *corev1.Container) int64 {
	if ct.Lifecycle == nil || ct.Lifecycle.PreStop == nil || ct.Lifecycle.PreStop.Sleep == nil {
		return 0
	}
	return ct.Lifecycle.PreStop.Sleep.Seconds
}

// gracePeriod is the pod's terminationGracePeriodSeconds (30 when unset).
func gracePeriod(w workload) int64 {
	if g := w.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return 30
}
