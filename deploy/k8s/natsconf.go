package k8s

import (
	"cmp"
	"fmt"
	"net"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	corev1 "k8s.io/api/core/v1"

	"github.com/pairpad/pairpad/shared/broker"
)

// natsContainer checks a NATS server container: its probes, and its
// nats.conf (from the mounted ConfigMap, parsed by nats-server itself)
// against the StatefulSet around it.
func (c *checker) natsContainer(w workload, ct *corev1.Container) {
	id := w.ID()
	field := "spec.template.spec.containers[" + ct.Name + "]"
	if w.Kind != "StatefulSet" {
		c.addf(id, field, "a NATS server with JetStream needs a StatefulSet (stable names and volumes)")
		return
	}
	for _, p := range []struct {
		name, path string
		probe      *corev1.Probe
	}{
		// Started when JetStream has caught up, so a rolling update waits for it.
		{"startupProbe", "/healthz", ct.StartupProbe},
		{"readinessProbe", "/healthz?js-enabled-only=true", ct.ReadinessProbe},
		// Never restarted for missing peers: only a stuck server fails this.
		{"livenessProbe", "/healthz?js-server-only=true", ct.LivenessProbe},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || containerPort(ct, p.probe.HTTPGet.Port.String()) != 8222 {
			c.addf(id, field+"."+p.name, "must be httpGet %s on the monitor port 8222", p.path)
		}
	}

	c.memory(w, field, ct, c.containerEnv(w, field, ct), nil)

	opts, err := c.natsOptions(w, ct)
	if err != nil {
		c.addf(id, field+".command", "%v", err)
		return
	}
	if opts.HTTPPort != 8222 {
		c.addf(id, "nats.conf", "http_port is %d, the probes use 8222", opts.HTTPPort)
	}
	if p := containerPort(ct, "client"); int(p) != opts.Port {
		c.addf(id, "nats.conf", "listens on %d but the container port client is %d", opts.Port, p)
	}
	if !opts.JetStream {
		c.addf(id, "nats.conf", "jetstream is not enabled")
	} else if !c.onClaim(w, ct, opts.StoreDir) {
		c.addf(id, "nats.conf", "jetstream store_dir %q is not on a volumeClaimTemplate: data would not survive a restart", opts.StoreDir)
	}
	if !strings.HasPrefix(opts.ServerName, w.Name+"-") {
		c.addf(id, "nats.conf", "server_name %q is not the pod's name: servers need distinct, stable names", opts.ServerName)
	}
	c.natsRoutes(w, opts)

	// nats-server's own default when max_payload is not set.
	if mp := cmp.Or(int64(opts.MaxPayload), 1<<20); mp < broker.MaxPayload {
		c.addf(id, "nats.conf", "max_payload %d is below the %d bytes pairpad's largest messages may take (broker.MaxPayload): an op log entry or a snapshot of a large document would be refused",
			mp, broker.MaxPayload)
	}

	if opts.LameDuckDuration < 30*time.Second {
		c.addf(id, "nats.conf", "lame_duck_duration %s is below nats-server's minimum of 30s", opts.LameDuckDuration)
	}
	if grace := time.Duration(gracePeriod(w)) * time.Second; grace <= opts.LameDuckDuration+opts.LameDuckGracePeriod {
		c.addf(id, "spec.template.spec.terminationGracePeriodSeconds", "%s must exceed lame_duck_duration (%s) + lame_duck_grace_period (%s)",
			grace, opts.LameDuckDuration, opts.LameDuckGracePeriod)
	}
	var preStop []string
	if ct.Lifecycle != nil && ct.Lifecycle.PreStop != nil && ct.Lifecycle.PreStop.Exec != nil {
		preStop = ct.Lifecycle.PreStop.Exec.Command
	}
	if want := "ldm=" + opts.PidFile; opts.PidFile == "" || !slices.Contains(preStop, want) {
		c.addf(id, field+".lifecycle.preStop.exec.command", "%q must signal lame duck mode: nats-server --signal %s", preStop, want)
	} else if !c.mounted(ct, path.Dir(opts.PidFile)) {
		c.addf(id, "nats.conf", "pid_file %s is on the read-only root filesystem: mount a volume at %s", opts.PidFile, path.Dir(opts.PidFile))
	}
}

// natsOptions finds the --config file in the container's command, reads it
// from the ConfigMap mounted there, substitutes the container's environment
// for $VARIABLES as the server would, and parses it with nats-server.
func (c *checker) natsOptions(w workload, ct *corev1.Container) (*server.Options, error) {
	argv := append(slices.Clone(ct.Command), ct.Args...)
	file := ""
	for i, a := range argv {
		if (a == "--config" || a == "-c") && i+1 < len(argv) {
			file = argv[i+1]
		}
	}
	if file == "" {
		return nil, fmt.Errorf("%q: no --config file (the image's default config is not checked)", argv)
	}
	var data string
	for _, vm := range ct.VolumeMounts {
		if vm.MountPath != path.Dir(file) {
			continue
		}
		for _, v := range w.Template.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				if cm := c.m.configMap(w.Namespace, v.ConfigMap.Name); cm != nil {
					data = cm.Data[path.Base(file)]
				}
			}
		}
	}
	if data == "" {
		return nil, fmt.Errorf("%s is not a key of a ConfigMap mounted at %s", file, path.Dir(file))
	}
	for _, e := range ct.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			v = w.Name + "-0"
		}
		data = strings.ReplaceAll(data, "$"+e.Name, v)
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(data); err != nil {
		return nil, fmt.Errorf("nats-server rejects %s: %w", file, err)
	}
	return opts, nil
}

// natsRoutes checks that the cluster routes name exactly the StatefulSet's
// pods through its headless Service, on the cluster port.
func (c *checker) natsRoutes(w workload, opts *server.Options) {
	id := w.ID()
	n := 1
	if w.Replicas != nil {
		n = int(*w.Replicas)
	}
	svcName := ""
	for _, s := range c.m.StatefulSets {
		if s.Name == w.Name && s.Namespace == w.Namespace {
			svcName = s.Spec.ServiceName
		}
	}
	if n > 1 && opts.Cluster.Port == 0 {
		c.addf(id, "nats.conf", "%d replicas but no cluster block: they would be %d separate servers", n, n)
		return
	}
	var got []string
	for _, r := range opts.Routes {
		host, port, _ := net.SplitHostPort(r.Host)
		host, _, _ = strings.Cut(host, ".svc")
		if port != fmt.Sprint(opts.Cluster.Port) {
			c.addf(id, "nats.conf", "route %s is not on the cluster port %d", r, opts.Cluster.Port)
		}
		got = append(got, strings.TrimSuffix(host, "."+w.Namespace))
	}
	var want []string
	for i := 0; i < n && n > 1; i++ {
		want = append(want, fmt.Sprintf("%s-%d.%s", w.Name, i, svcName))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		c.addf(id, "nats.conf", "cluster routes %v, want one per pod: %v", got, want)
	}
}

// onClaim reports whether dir is on a volume from a volumeClaimTemplate.
func (c *checker) onClaim(w workload, ct *corev1.Container, dir string) bool {
	for _, s := range c.m.StatefulSets {
		if s.Name != w.Name || s.Namespace != w.Namespace {
			continue
		}
		for _, vct := range s.Spec.VolumeClaimTemplates {
			for _, vm := range ct.VolumeMounts {
				if vm.Name == vct.Name && (dir == vm.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(vm.MountPath, "/")+"/")) {
					return true
				}
			}
		}
	}
	return false
}

// mounted reports whether dir is (under) a writable volume mount.
func (c *checker) mounted(ct *corev1.Container, dir string) bool {
	for _, vm := range ct.VolumeMounts {
		if !vm.ReadOnly && (dir == vm.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(vm.MountPath, "/")+"/")) {
			return true
		}
	}
	return false
}
