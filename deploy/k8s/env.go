package k8s

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/pairpad/pairpad/shared/config"
)

// runtimeEnv reports whether name is read by the Go runtime rather than by
// config.Load: a container may set it (GOMEMLIMIT, below its memory limit;
// GOGC, the collector's target).
func runtimeEnv(name string) bool { return name == "GOMEMLIMIT" || name == "GOGC" }

// secretEnv reports whether name must come from a Secret (secretKeyRef),
// never from a literal value or a ConfigMap.
func secretEnv(name string) bool { return name == "ADMIN_TOKEN" || name == "TOKEN_SECRET" }

// ConfigNames lists the environment variables config.Load reads, found by
// calling it with a getenv that records its arguments: the list can never
// drift from shared/config.
func ConfigNames(process string) []string {
	seen := map[string]bool{}
	_, _ = config.Load(process, func(name string) string {
		seen[name] = true
		return ""
	})
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// envVar is one variable as the container will see it.
type envVar struct {
	value  string
	source string // "value", "configmap <name>", "secret <name>/<key>", "field"
	secret *corev1.SecretKeySelector
}

// containerEnv resolves the container's environment: envFrom ConfigMaps
// first, then env entries, which win.
func (c *checker) containerEnv(w workload, field string, ct *corev1.Container) map[string]envVar {
	id := w.ID()
	env := map[string]envVar{}
	for i, from := range ct.EnvFrom {
		f := fmt.Sprintf("%s.envFrom[%d]", field, i)
		switch {
		case from.ConfigMapRef != nil:
			cm := c.m.configMap(w.Namespace, from.ConfigMapRef.Name)
			if cm == nil {
				c.addf(id, f, "ConfigMap %q is not in the manifests", from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = envVar{value: v, source: "ConfigMap " + cm.Name}
			}
		case from.SecretRef != nil:
			c.addf(id, f, "envFrom a Secret: name each secret variable with secretKeyRef instead, so the checks see it")
		}
	}
	for _, e := range ct.Env {
		f := field + ".env[" + e.Name + "]"
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envVar{value: e.Value, source: "value"}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			env[e.Name] = envVar{value: "from-a-secret", source: "Secret " + ref.Name + "/" + ref.Key, secret: ref}
			if ref.Optional != nil && *ref.Optional {
				c.addf(id, f, "secretKeyRef is optional: without the Secret the process would start with an empty or random value")
			}
			if s := c.m.secret(w.Namespace, ref.Name); s != nil {
				if _, ok := s.Data[ref.Key]; !ok {
					if _, ok := s.StringData[ref.Key]; !ok {
						c.addf(id, f, "Secret %q has no key %q", ref.Name, ref.Key)
					}
				}
			}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := c.m.configMap(w.Namespace, ref.Name)
			if cm == nil {
				c.addf(id, f, "ConfigMap %q is not in the manifests", ref.Name)
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				c.addf(id, f, "ConfigMap %q has no key %q", ref.Name, ref.Key)
			}
			env[e.Name] = envVar{value: v, source: "ConfigMap " + ref.Name}
		case e.ValueFrom.ResourceFieldRef != nil:
			env[e.Name] = envVar{value: resourceValue(ct, e.ValueFrom.ResourceFieldRef), source: "resourceFieldRef"}
		default:
			env[e.Name] = envVar{source: "field"}
		}
	}
	return env
}

// pairpadContainer checks one api, realtime or janitor container: its
// environment against config.Load, and how it fits the rest of the manifests.
func (c *checker) pairpadContainer(w workload, process string, ct *corev1.Container) {
	id := w.ID()
	field := "spec.template.spec.containers[" + ct.Name + "]"
	env := c.containerEnv(w, field, ct)
	known := ConfigNames(process)
	names := make([]string, 0, len(env))
	for n := range env {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := env[n]
		if !slices.Contains(known, n) && !runtimeEnv(n) {
			c.addf(id, field+".env["+n+"]", "%s is not a variable config.Load reads (from %s); known: %s", n, v.source, strings.Join(known, ", "))
		}
		if secretEnv(n) && v.secret == nil {
			c.addf(id, field+".env["+n+"]", "must come from a Secret (valueFrom.secretKeyRef), not from %s", v.source)
		}
	}
	cfg, err := config.Load(process, func(name string) string { return env[name].value })
	if err != nil {
		c.addf(id, field+".env", "config.Load refuses it: %v", err)
		return
	}
	c.memory(w, field, ct, env, &cfg)

	if port := containerPort(ct, "http"); port == 0 {
		c.addf(id, field+".ports", "no port named http")
	} else if int(port) != cfg.Port {
		c.addf(id, field+".ports[http]", "is %d but the process listens on PORT %d", port, cfg.Port)
	}
	for _, p := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"livenessProbe", "/healthz", ct.LivenessProbe}, {"readinessProbe", "/readyz", ct.ReadinessProbe}} {
		if p.probe == nil {
			continue // reported by container
		}
		g := p.probe.HTTPGet
		if g == nil || g.Path != p.path || int(containerPort(ct, g.Port.String())) != cfg.Port {
			c.addf(id, field+"."+p.name, "must be httpGet %s on the process's port %d", p.path, cfg.Port)
		}
	}

	sleep := time.Duration(preStopSleep(ct)) * time.Second
	if sleep == 0 {
		c.addf(id, field+".lifecycle.preStop.sleep", "missing: without it the pod drains while Services and the ingress still send it traffic")
	}
	if grace := time.Duration(gracePeriod(w)) * time.Second; grace <= sleep+cfg.ShutdownTimeout {
		c.addf(id, "spec.template.spec.terminationGracePeriodSeconds",
			"%s must exceed the preStop sleep (%s) plus SHUTDOWN_TIMEOUT (%s), or the kubelet kills the process mid-drain",
			grace, sleep, cfg.ShutdownTimeout)
	}

	c.natsURL(w, field, cfg)
	if nats := c.natsReplicas(w.Namespace); nats > 0 {
		if cfg.JSReplicas > nats {
			c.addf(id, field+".env[JS_REPLICAS]", "is %d but NATS has only %d servers", cfg.JSReplicas, nats)
		}
		if nats >= 3 && cfg.JSReplicas < 3 {
			c.addf(id, field+".env[JS_REPLICAS]", "is %d but NATS has %d servers: use 3 so JetStream data survives losing one", cfg.JSReplicas, nats)
		}
	}
	if process == "api" || process == "realtime" {
		if env["TOKEN_SECRET"].secret == nil {
			c.addf(id, field+".env[TOKEN_SECRET]", "missing: api and realtime must share it, or join tokens fail")
		}
	}
	if process == "api" && env["ADMIN_TOKEN"].secret == nil {
		c.addf(id, field+".env[ADMIN_TOKEN]", "missing: the internal endpoints would answer 401 forever")
	}
	for _, o := range cfg.FrontendURLs {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			c.addf(id, field+".env[FRONTEND_URL]", "%q is not an origin (scheme://host[:port])", o)
		}
	}
	if cfg.WSURL != "" {
		if u, err := url.Parse(cfg.WSURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			c.addf(id, field+".env[WS_URL]", "%q is not a ws:// or wss:// URL", cfg.WSURL)
		}
	}
	c.tokenSecrets = append(c.tokenSecrets, tokenSecretUse{id, process, env["TOKEN_SECRET"].secret})
	c.configs = append(c.configs, processConfig{w, process, cfg})
}

// natsURL checks that every server in NATS_URL is a Service of this
// namespace that leads to the NATS pods' client port.
func (c *checker) natsURL(w workload, field string, cfg config.Config) {
	for _, s := range strings.Split(cfg.NATSURL, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Scheme != "nats" && u.Scheme != "tls" {
			c.addf(w.ID(), field+".env[NATS_URL]", "%q is not a nats:// URL", s)
			continue
		}
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = "4222"
		}
		name, rest, _ := strings.Cut(host, ".")
		if rest != "" && rest != w.Namespace && !strings.HasPrefix(rest, w.Namespace+".svc") {
			c.addf(w.ID(), field+".env[NATS_URL]", "%q is not a Service of namespace %s", host, w.Namespace)
			continue
		}
		svc := c.m.service(w.Namespace, name)
		if svc == nil {
			c.addf(w.ID(), field+".env[NATS_URL]", "Service %q is not in the manifests", name)
			continue
		}
		ok := false
		for _, sp := range svc.Spec.Ports {
			if fmt.Sprint(sp.Port) != port {
				continue
			}
			for _, t := range c.selected(svc.Namespace, svc.Spec.Selector) {
				for i := range t.Template.Spec.Containers {
					ct := &t.Template.Spec.Containers[i]
					ok = ok || Process(ct.Image) == "nats" && containerPort(ct, targetPort(sp)) == 4222
				}
			}
		}
		if !ok {
			c.addf(w.ID(), field+".env[NATS_URL]", "Service %s port %s does not lead to a NATS server's client port 4222", name, port)
		}
	}
}

// natsReplicas is the number of NATS servers in namespace ns (0: none).
func (c *checker) natsReplicas(ns string) int {
	n := 0
	for _, w := range c.m.workloads() {
		if w.Namespace != ns || w.Replicas == nil {
			continue
		}
		for _, ct := range w.Template.Spec.Containers {
			if Process(ct.Image) == "nats" {
				n += int(*w.Replicas)
			}
		}
	}
	return n
}
