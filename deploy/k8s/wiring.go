package k8s

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// selects reports whether the label selector sel matches the labels set.
func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(set))
}

// selected lists the workloads of namespace ns whose pods a Service-style
// selector (labels that must all match) selects.
func (c *checker) selected(ns string, sel map[string]string) []workload {
	if len(sel) == 0 {
		return nil
	}
	var out []workload
	for _, w := range c.m.workloads() {
		if w.Namespace == ns && labels.SelectorFromSet(sel).Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// selectedBy lists the workloads of namespace ns whose pods sel selects.
func (c *checker) selectedBy(ns string, sel *metav1.LabelSelector) []workload {
	var out []workload
	for _, w := range c.m.workloads() {
		if w.Namespace == ns && sel != nil && selects(sel, w.Template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// targetPort is the container port a Service port leads to, as a name or a number.
func targetPort(sp corev1.ServicePort) string {
	if sp.TargetPort.String() == "0" || sp.TargetPort.String() == "" {
		return fmt.Sprint(sp.Port)
	}
	return sp.TargetPort.String()
}

// processes lists the pairpad processes (and "nats") that the workloads run.
func processes(ws []workload) []string {
	var out []string
	for _, w := range ws {
		for _, ct := range w.Template.Spec.Containers {
			if p := Process(ct.Image); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// services checks that every Service selects pods that have its target ports.
func (c *checker) services() {
	for _, s := range c.m.Services {
		id := "Service/" + s.Name
		if len(s.Spec.Selector) == 0 {
			c.addf(id, "spec.selector", "missing: the Service would have no endpoints")
			continue
		}
		ws := c.selected(s.Namespace, s.Spec.Selector)
		if len(ws) == 0 {
			c.addf(id, "spec.selector", "%v selects no pod template", s.Spec.Selector)
			continue
		}
		for _, sp := range s.Spec.Ports {
			for _, w := range ws {
				found := false
				for i := range w.Template.Spec.Containers {
					found = found || containerPort(&w.Template.Spec.Containers[i], targetPort(sp)) != 0
				}
				if !found {
					c.addf(id, "spec.ports["+sp.Name+"].targetPort", "%s is not a container port of %s", targetPort(sp), w.ID())
				}
			}
		}
	}
}

// statefulSets checks each StatefulSet's governing headless Service and its
// volume claims.
func (c *checker) statefulSets() {
	for _, s := range c.m.StatefulSets {
		id := "StatefulSet/" + s.Name
		svc := c.m.service(s.Namespace, s.Spec.ServiceName)
		switch {
		case svc == nil:
			c.addf(id, "spec.serviceName", "Service %q is not in the manifests", s.Spec.ServiceName)
		case svc.Spec.ClusterIP != corev1.ClusterIPNone:
			c.addf(id, "spec.serviceName", "Service %q is not headless (clusterIP: None): pods get no stable DNS names", svc.Name)
		case !svc.Spec.PublishNotReadyAddresses:
			c.addf(id, "spec.serviceName", "Service %q does not publishNotReadyAddresses: peers cannot find each other before they are ready", svc.Name)
		case !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(s.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0:
			c.addf(id, "spec.serviceName", "Service %q does not select this StatefulSet's pods", svc.Name)
		}
		for _, vct := range s.Spec.VolumeClaimTemplates {
			mounted := false
			for _, ct := range s.Spec.Template.Spec.Containers {
				for _, vm := range ct.VolumeMounts {
					mounted = mounted || vm.Name == vct.Name
				}
			}
			if !mounted {
				c.addf(id, "spec.volumeClaimTemplates["+vct.Name+"]", "no container mounts it")
			}
			if _, ok := vct.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				c.addf(id, "spec.volumeClaimTemplates["+vct.Name+"].spec.resources.requests.storage", "missing")
			}
		}
	}
}

// pdbs checks that every PodDisruptionBudget covers pods and still allows a
// node drain.
func (c *checker) pdbs() {
	for _, p := range c.m.PDBs {
		id := "PodDisruptionBudget/" + p.Name
		ws := c.selectedBy(p.Namespace, p.Spec.Selector)
		if len(ws) == 0 {
			c.addf(id, "spec.selector", "selects no pod template")
			continue
		}
		if p.Spec.MinAvailable != nil && p.Spec.MaxUnavailable != nil {
			c.addf(id, "spec", "sets both minAvailable and maxUnavailable")
		}
		if mu := p.Spec.MaxUnavailable; mu != nil && mu.String() == "0" {
			c.addf(id, "spec.maxUnavailable", "0 blocks every node drain")
		}
		if ma := p.Spec.MinAvailable; ma != nil && ma.Type == 0 {
			for _, w := range ws {
				if n := c.minReplicas(w); n >= 0 && int(ma.IntVal) >= n {
					c.addf(id, "spec.minAvailable", "%d with %d replicas of %s blocks every node drain", ma.IntVal, n, w.ID())
				}
			}
		}
	}
}

// minReplicas is the fewest pods the workload runs: the HPA's minReplicas
// when one scales it, else its replicas (1 when unset).
func (c *checker) minReplicas(w workload) int {
	for _, h := range c.m.HPAs {
		if h.Namespace == w.Namespace && h.Spec.ScaleTargetRef.Kind == w.Kind && h.Spec.ScaleTargetRef.Name == w.Name {
			if h.Spec.MinReplicas == nil {
				return 1
			}
			return int(*h.Spec.MinReplicas)
		}
	}
	if w.Replicas == nil {
		return 1
	}
	return int(*w.Replicas)
}

// hpas checks that every autoscaler targets a workload it can scale.
func (c *checker) hpas() {
	for _, h := range c.m.HPAs {
		id := "HorizontalPodAutoscaler/" + h.Name
		ref := h.Spec.ScaleTargetRef
		var target *workload
		for _, w := range c.m.workloads() {
			if w.Namespace == h.Namespace && w.Kind == ref.Kind && w.Name == ref.Name && ref.APIVersion == "apps/v1" {
				target = &w
			}
		}
		if target == nil {
			c.addf(id, "spec.scaleTargetRef", "%s %s/%s is not in the manifests", ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		if h.Spec.MinReplicas != nil && (*h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas) {
			c.addf(id, "spec.minReplicas", "%d is not within 1..maxReplicas (%d)", *h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if target.Replicas != nil {
			c.addf(target.ID(), "spec.replicas", "set although %s scales it: every apply would reset the autoscaler's choice", id)
		}
		if len(h.Spec.Metrics) == 0 {
			c.addf(id, "spec.metrics", "missing")
		}
		for _, m := range h.Spec.Metrics {
			if m.Resource == nil {
				continue
			}
			for _, ct := range target.Template.Spec.Containers {
				if _, ok := ct.Resources.Requests[m.Resource.Name]; !ok {
					c.addf(id, "spec.metrics["+string(m.Resource.Name)+"]", "container %s of %s requests no %s: utilization is undefined", ct.Name, target.ID(), m.Resource.Name)
				}
			}
		}
	}
}

// networkPolicies checks that each policy's selectors select something.
func (c *checker) networkPolicies() {
	for _, np := range c.m.NetworkPolicies {
		id := "NetworkPolicy/" + np.Name
		empty := len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) == 0
		if !empty && len(c.selectedBy(np.Namespace, &np.Spec.PodSelector)) == 0 {
			c.addf(id, "spec.podSelector", "selects no pod template")
		}
		check := func(field string, peers []peerRef) {
			for i, p := range peers {
				if p.ns == nil && p.pod != nil && len(c.selectedBy(np.Namespace, p.pod)) == 0 {
					c.addf(id, fmt.Sprintf("%s[%d].podSelector", field, i), "selects no pod template of this namespace")
				}
			}
		}
		for i, r := range np.Spec.Ingress {
			check(fmt.Sprintf("spec.ingress[%d].from", i), peersOf(r.From))
		}
		for i, r := range np.Spec.Egress {
			check(fmt.Sprintf("spec.egress[%d].to", i), peersOf(r.To))
		}
	}
}

// tokenSecretsAgree checks that api and realtime read TOKEN_SECRET from the same
// Secret key: a join token signed by one must verify on the other.
func (c *checker) tokenSecretsAgree() {
	var first *tokenSecretUse
	for i, u := range c.tokenSecrets {
		if u.ref == nil || (u.process != "api" && u.process != "realtime") {
			continue
		}
		if first == nil {
			first = &c.tokenSecrets[i]
			continue
		}
		if u.ref.Name != first.ref.Name || u.ref.Key != first.ref.Key {
			c.addf(u.object, "env[TOKEN_SECRET]", "from Secret %s/%s but %s reads %s/%s: join tokens would not verify",
				u.ref.Name, u.ref.Key, first.object, first.ref.Name, first.ref.Key)
		}
	}
}
