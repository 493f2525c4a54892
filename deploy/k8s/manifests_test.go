package k8s

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// load builds the kustomization in dir, failing the test on a build or
// strict-decoding error.
func load(t *testing.T, dir string) *Manifests {
	t.Helper()
	m, err := Load(dir)
	if err != nil {
		t.Fatalf("%s:\n%v", dir, err)
	}
	return m
}

func TestOverlaysPassEveryCheck(t *testing.T) {
	for _, overlay := range []string{"overlays/dev", "overlays/prod"} {
		t.Run(overlay, func(t *testing.T) {
			m := load(t, overlay)
			for _, p := range Check(m) {
				t.Errorf("%s", p)
			}
			// The checks ran on what they should have: a vacuous pass is a failure.
			if len(m.Deployments) != 3 || len(m.StatefulSets) != 1 || len(m.Ingresses) != 1 || len(m.NetworkPolicies) == 0 {
				t.Errorf("built %d Deployments, %d StatefulSets, %d Ingresses, %d NetworkPolicies; want 3, 1, 1, some",
					len(m.Deployments), len(m.StatefulSets), len(m.Ingresses), len(m.NetworkPolicies))
			}
		})
	}
}

// TestOverlaySettings pins what differs between the overlays on purpose.
func TestOverlaySettings(t *testing.T) {
	tests := []struct {
		overlay      string
		apiReplicas  int32
		hpaMin       int32
		devSecret    bool // the overlay generates (known) development secrets
		tls          bool
		natsReplicas int32
	}{
		{"overlays/dev", 1, 1, true, false, 3},
		{"overlays/prod", 3, 3, false, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.overlay, func(t *testing.T) {
			m := load(t, tt.overlay)
			for _, d := range m.Deployments {
				if d.Name == "api" && (d.Spec.Replicas == nil || *d.Spec.Replicas != tt.apiReplicas) {
					t.Errorf("Deployment/api replicas = %v, want %d", d.Spec.Replicas, tt.apiReplicas)
				}
			}
			for _, h := range m.HPAs {
				if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != tt.hpaMin {
					t.Errorf("HPA/%s minReplicas = %v, want %d", h.Name, h.Spec.MinReplicas, tt.hpaMin)
				}
			}
			if got := len(m.Secrets) > 0; got != tt.devSecret {
				t.Errorf("overlay has Secrets = %v, want %v (production secrets are never committed)", got, tt.devSecret)
			}
			if got := len(m.Ingresses[0].Spec.TLS) > 0; got != tt.tls {
				t.Errorf("Ingress TLS = %v, want %v", got, tt.tls)
			}
			if r := m.StatefulSets[0].Spec.Replicas; r == nil || *r != tt.natsReplicas {
				t.Errorf("NATS replicas = %v, want %d", r, tt.natsReplicas)
			}
		})
	}
}

// TestConfigNamesComeFromConfigLoad guards the recording trick: if
// config.Load stopped calling getenv for a variable, or the list were empty,
// the env check would silently accept anything.
func TestConfigNamesComeFromConfigLoad(t *testing.T) {
	names := ConfigNames("realtime")
	for _, want := range []string{"PORT", "NATS_URL", "JS_REPLICAS", "SHUTDOWN_TIMEOUT", "TOKEN_SECRET", "ADMIN_TOKEN", "TRUST_PROXY", "FRONTEND_URL"} {
		if !slices.Contains(names, want) {
			t.Errorf("ConfigNames = %v, missing %s", names, want)
		}
	}
}

// TestBrokenManifestsAreRejected builds each overlay under testdata/ (the
// dev overlay plus one deliberate mistake) and expects the checks to name it.
func TestBrokenManifestsAreRejected(t *testing.T) {
	tests := []struct {
		dir  string
		want string // in the load error or in one of the problems
	}{
		{"misspelled-field", `unknown field "spec.template.spec.containers[0].readinesProbe"`},
		{"missing-probe", "Deployment/api: spec.template.spec.containers[api].livenessProbe: missing"},
		{"latest-image", `uses the tag latest`},
		{"untagged-image", `has no tag`},
		{"unknown-env", "NATS_ULR is not a variable config.Load reads"},
		{"bad-env-value", `config.Load refuses it: config: SHUTDOWN_TIMEOUT="soon"`},
		{"plain-secret", "env[TOKEN_SECRET]: must come from a Secret"},
		{"js-replicas", "env[JS_REPLICAS]: is 1 but NATS has 3 servers"},
		{"short-grace", "terminationGracePeriodSeconds: 20s must exceed the preStop sleep (5s) plus SHUTDOWN_TIMEOUT (30s)"},
		{"root-writable", "readOnlyRootFilesystem: not true"},
		{"no-limits", "resources.limits.memory: missing"},
		{"selector-mismatch", "Service/api: spec.selector: map[app.kubernetes.io/name:apii] selects no pod template"},
		{"ingress-wrong-service", "/ws reaches [api] (by path /ws), want realtime"},
		{"ingress-metrics", "/metrics is routed"},
		{"ingress-blocked", "the ingress-nginx controller must reach Deployment/api on tcp/3001, but the policies say denied"},
		{"open-nats", "a pod of namespace default must not reach StatefulSet/nats on tcp/4222"},
		{"nats-routes", "cluster routes [nats-0.nats-headless nats-1.nats-headless], want one per pod"},
		{"nats-lame-duck", "lame_duck_duration"},
		{"nats-max-payload", "max_payload 1048576 is below the 8388608 bytes"},
		{"wrong-host", "does not allow https://interviews.example.org"},
		{"ingress-timeouts", "proxy-read-timeout]: \"\": must be at least 3600"},
		{"pdb-blocks", "PodDisruptionBudget/nats: spec.minAvailable: 3 with 3 replicas of StatefulSet/nats blocks every node drain"},
		{"headless-not-ready", "does not publishNotReadyAddresses"},
		{"optional-secret", "env[TOKEN_SECRET]: secretKeyRef is optional"},
		{"gogc-off", `Deployment/realtime: spec.template.spec.containers[realtime].env[GOGC]: "off" (from value)`},
		{"nats-memlimit-whole", "StatefulSet/nats: spec.template.spec.containers[nats].env[GOMEMLIMIT]: 536870912 (from resourceFieldRef) is more than 90 % of the memory limit 512Mi"},
		{"no-memory-limit", "Deployment/realtime: spec.template.spec.containers[realtime].env: neither MEMORY_LIMIT nor GOMEMLIMIT"},
		{"hpa-target", "HorizontalPodAutoscaler/realtime: spec.scaleTargetRef: apps/v1 Deployment/realtim is not in the manifests"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", tt.dir)
			if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err != nil {
				t.Fatal(err)
			}
			var got []string
			m, err := Load(dir)
			if err != nil {
				got = append(got, err.Error())
			} else {
				for _, p := range Check(m) {
					got = append(got, p.String())
				}
			}
			t.Logf("rejected with:\n  %s", strings.Join(got, "\n  "))
			if len(got) == 0 {
				t.Fatalf("accepted; want a problem containing %q", tt.want)
			}
			if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("problems:\n  %s\nnone contains %q", strings.Join(got, "\n  "), tt.want)
			}
		})
	}
}

// TestDemoPageIsRouted checks that every file of the realtime demo page
// and every module of the client package (served at /client/) reaches
// realtime through the Ingress. The lists are read from services/realtime/web
// and clients/js, so a new asset cannot be forgotten here.
func TestDemoPageIsRouted(t *testing.T) {
	var paths []string
	for _, src := range []struct{ dir, prefix, pattern string }{
		{filepath.Join("..", "..", "services", "realtime", "web"), "/", "*.html"},
		{filepath.Join("..", "..", "services", "realtime", "web"), "/", "*.js"},
		{filepath.Join("..", "..", "services", "realtime", "web"), "/", "*.css"},
		{filepath.Join("..", "..", "services", "realtime", "web"), "/", "*.svg"},
		{filepath.Join("..", "..", "clients", "js"), "/client/", "*.js"},
	} {
		matches, err := filepath.Glob(filepath.Join(src.dir, src.pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			paths = append(paths, src.prefix+filepath.Base(m))
		}
	}
	if len(paths) < 4 {
		t.Fatalf("found only %v: has the demo page moved?", paths)
	}
	for _, overlay := range []string{"overlays/dev", "overlays/prod"} {
		m := load(t, overlay)
		c := &checker{m: m}
		for _, ing := range m.Ingresses {
			for _, rule := range ing.Spec.Rules {
				for _, p := range paths {
					ip := ingressMatch(rule, p)
					if ip == nil {
						t.Errorf("%s: Ingress/%s does not route %s (a file of the demo page)", overlay, ing.Name, p)
						continue
					}
					if got := c.backendProcesses(ing.Namespace, ip.Backend); !slices.Equal(got, []string{"realtime"}) {
						t.Errorf("%s: Ingress/%s routes %s to %v, want realtime", overlay, ing.Name, p, got)
					}
				}
			}
		}
	}
}
