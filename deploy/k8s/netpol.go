package k8s

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// endpoint is a pod, as NetworkPolicies see it.
type endpoint struct {
	name      string // for messages
	namespace string
	nsLabels  map[string]string
	labels    map[string]string
	ports     []corev1.ContainerPort
}

// peerRef is a NetworkPolicyPeer without its ipBlock (which matches no pod).
type peerRef struct {
	pod, ns *metav1.LabelSelector
}

func peersOf(ps []networkingv1.NetworkPolicyPeer) []peerRef {
	out := make([]peerRef, 0, len(ps))
	for _, p := range ps {
		if p.PodSelector != nil || p.NamespaceSelector != nil {
			out = append(out, peerRef{pod: p.PodSelector, ns: p.NamespaceSelector})
		}
	}
	return out
}

// peerMatches reports whether peers (of a policy in namespace ns) include e;
// no peers at all means everyone.
func peerMatches(peers []networkingv1.NetworkPolicyPeer, ns string, e endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peersOf(peers) {
		nsOK := p.ns == nil && e.namespace == ns || p.ns != nil && selects(p.ns, e.nsLabels)
		podOK := p.pod == nil || selects(p.pod, e.labels)
		if nsOK && podOK {
			return true
		}
	}
	return false
}

// portMatches reports whether ports allow protocol/port on the destination
// dst (named ports resolve against dst's containers); no ports means all.
func portMatches(ports []networkingv1.NetworkPolicyPort, dst endpoint, proto corev1.Protocol, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.Type == 1 { // a name
			for _, cp := range dst.ports {
				if cp.Name == p.Port.StrVal && cp.ContainerPort == port {
					return true
				}
			}
			continue
		}
		end := p.Port.IntVal
		if p.EndPort != nil {
			end = *p.EndPort
		}
		if port >= p.Port.IntVal && port <= end {
			return true
		}
	}
	return false
}

// hasType reports whether the policy governs direction t ("Ingress" or
// "Egress"), with the API's defaults when policyTypes is empty.
func hasType(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || len(np.Spec.Egress) > 0
	}
	for _, pt := range np.Spec.PolicyTypes {
		if pt == t {
			return true
		}
	}
	return false
}

// allowed evaluates the manifests' NetworkPolicies for a connection from src
// to dst on proto/port: both dst's ingress and src's egress must allow it.
func (c *checker) allowed(src, dst endpoint, proto corev1.Protocol, port int32) bool {
	in := c.direction(func(np *networkingv1.NetworkPolicy) (bool, bool) {
		if !selects(&np.Spec.PodSelector, dst.labels) || np.Namespace != dst.namespace || !hasType(np, networkingv1.PolicyTypeIngress) {
			return false, false
		}
		for _, r := range np.Spec.Ingress {
			if peerMatches(r.From, np.Namespace, src) && portMatches(r.Ports, dst, proto, port) {
				return true, true
			}
		}
		return true, false
	})
	out := c.direction(func(np *networkingv1.NetworkPolicy) (bool, bool) {
		if !selects(&np.Spec.PodSelector, src.labels) || np.Namespace != src.namespace || !hasType(np, networkingv1.PolicyTypeEgress) {
			return false, false
		}
		for _, r := range np.Spec.Egress {
			if peerMatches(r.To, np.Namespace, dst) && portMatches(r.Ports, dst, proto, port) {
				return true, true
			}
		}
		return true, false
	})
	return in && out
}

// direction folds the policies: allowed when no policy applies, or when one
// that applies allows.
func (c *checker) direction(f func(np *networkingv1.NetworkPolicy) (applies, allows bool)) bool {
	applied := false
	for _, np := range c.m.NetworkPolicies {
		applies, allows := f(np)
		if allows {
			return true
		}
		applied = applied || applies
	}
	return !applied
}

// endpoints returns a pod of each workload, keyed by the process it runs.
func (c *checker) endpoints() map[string]endpoint {
	out := map[string]endpoint{}
	for _, w := range c.m.workloads() {
		nsLabels := map[string]string{"kubernetes.io/metadata.name": w.Namespace}
		for _, n := range c.m.Namespaces {
			if n.Name == w.Namespace {
				for k, v := range n.Labels {
					nsLabels[k] = v
				}
			}
		}
		for _, ct := range w.Template.Spec.Containers {
			if p := Process(ct.Image); p != "" {
				out[p] = endpoint{name: w.ID(), namespace: w.Namespace, nsLabels: nsLabels, labels: w.Template.Labels, ports: ct.Ports}
			}
		}
	}
	return out
}

// reachability checks who may talk to whom: only the ingress controller
// reaches api and realtime, only pairpad's processes reach NATS clients'
// port, NATS servers reach each other's route port, everyone resolves DNS.
func (c *checker) reachability() {
	if len(c.m.NetworkPolicies) == 0 {
		c.addf("NetworkPolicy/*", "", "none: every pod can reach every other, NATS included")
		return
	}
	eps := c.endpoints()
	ext := func(name, ns string, labels map[string]string, ports ...corev1.ContainerPort) endpoint {
		return endpoint{name: name, namespace: ns, nsLabels: map[string]string{"kubernetes.io/metadata.name": ns}, labels: labels, ports: ports}
	}
	eps["ingress-controller"] = ext("the ingress-nginx controller", "ingress-nginx", map[string]string{"app.kubernetes.io/name": "ingress-nginx"})
	eps["stranger"] = ext("a pod of namespace default", "default", map[string]string{"app": "other"})
	eps["dns"] = ext("kube-dns", "kube-system", map[string]string{"k8s-app": "kube-dns"},
		corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP})
	type want struct {
		from, to string
		proto    corev1.Protocol
		port     int32 // 0: the destination's port named http
		ok       bool
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	cases := []want{
		{"ingress-controller", "api", tcp, 0, true}, {"ingress-controller", "realtime", tcp, 0, true},
		{"ingress-controller", "janitor", tcp, 0, false}, {"ingress-controller", "nats", tcp, 4222, false},
		{"stranger", "api", tcp, 0, false}, {"stranger", "realtime", tcp, 0, false}, {"stranger", "nats", tcp, 4222, false},
		{"api", "nats", tcp, 4222, true}, {"realtime", "nats", tcp, 4222, true}, {"janitor", "nats", tcp, 4222, true},
		{"api", "nats", tcp, 6222, false}, {"realtime", "api", tcp, 0, false},
		{"nats", "nats", tcp, 6222, true},
		{"api", "dns", udp, 53, true}, {"realtime", "dns", udp, 53, true}, {"janitor", "dns", udp, 53, true}, {"nats", "dns", udp, 53, true},
	}
	for _, w := range cases {
		src, okS := eps[w.from]
		dst, okD := eps[w.to]
		if !okS || !okD {
			c.addf("NetworkPolicy/*", "", "cannot check %s -> %s: no such workload", w.from, w.to)
			continue
		}
		port := w.port
		if port == 0 {
			for _, p := range dst.ports {
				if p.Name == "http" {
					port = p.ContainerPort
				}
			}
		}
		if got := c.allowed(src, dst, w.proto, port); got != w.ok {
			verb := "must not"
			if w.ok {
				verb = "must"
			}
			c.addf("NetworkPolicy/*", "", "%s %s reach %s on %s/%d, but the policies say %s", src.name, verb, dst.name,
				strings.ToLower(string(w.proto)), port, map[bool]string{true: "allowed", false: "denied"}[got])
		}
	}
}
