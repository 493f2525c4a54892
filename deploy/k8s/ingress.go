package k8s

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// route is a request path and the process that must answer it; process ""
// means the path must not be reachable from outside.
type route struct{ path, process string }

// publicRoutes is what the ingress must route, from the protocol: REST under
// /api, WebSockets at /socket.io/ and /ws, the demo page at / and /client/;
// and what it must not expose: health and metrics of the processes. (The
// tests also check every file of the demo page, from services/realtime/web.)
func publicRoutes() []route {
	return []route{
		{"/api/sessions", "api"}, {"/api/health", "api"}, {"/api/openapi.yaml", "api"},
		{"/socket.io/", "realtime"}, {"/ws", "realtime"},
		{"/", "realtime"}, {"/app.js", "realtime"}, {"/client/client.js", "realtime"}, {"/client/dist/editor.js", "realtime"},
		{"/metrics", ""}, {"/healthz", ""}, {"/readyz", ""},
	}
}

// ingressMatch finds the path of rule that serves request path p: the
// longest matching one, Exact before Prefix (as the Ingress API specifies).
func ingressMatch(rule networkingv1.IngressRule, p string) *networkingv1.HTTPIngressPath {
	if rule.HTTP == nil {
		return nil
	}
	var best *networkingv1.HTTPIngressPath
	bestLen, bestExact := -1, false
	for i := range rule.HTTP.Paths {
		ip := &rule.HTTP.Paths[i]
		exact := ip.PathType != nil && *ip.PathType == networkingv1.PathTypeExact
		if exact && ip.Path != p || !exact && !prefixMatch(ip.Path, p) {
			continue
		}
		if l := len(ip.Path); l > bestLen || l == bestLen && exact && !bestExact {
			best, bestLen, bestExact = ip, l, exact
		}
	}
	return best
}

// prefixMatch is the Ingress Prefix match: element-wise on "/"-separated paths.
func prefixMatch(prefix, p string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return true
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// ingresses checks every Ingress: backends exist, the public routes reach the
// right process, WebSockets are not cut by proxy timeouts, and the processes'
// configuration knows the host they are served on.
func (c *checker) ingresses() {
	for _, ing := range c.m.Ingresses {
		id := "Ingress/" + ing.Name
		if ing.Spec.IngressClassName != nil && *ing.Spec.IngressClassName == "nginx" {
			for _, a := range []string{"proxy-read-timeout", "proxy-send-timeout"} {
				v := ing.Annotations["nginx.ingress.kubernetes.io/"+a]
				if n, err := strconv.Atoi(v); err != nil || n < 3600 {
					c.addf(id, "metadata.annotations[nginx.ingress.kubernetes.io/"+a+"]", "%q: must be at least 3600 (seconds) or idle WebSockets are cut after 60s", v)
				}
			}
		}
		for _, pc := range c.configs {
			if pc.w.Namespace == ing.Namespace && (pc.process == "api" || pc.process == "realtime") && !pc.cfg.TrustProxy {
				c.addf(pc.w.ID(), "env[TRUST_PROXY]", "false behind %s: every client would share the proxy's address for rate limits", id)
			}
		}
		for ri, rule := range ing.Spec.Rules {
			field := fmt.Sprintf("spec.rules[%d]", ri)
			if rule.HTTP != nil {
				for pi, ip := range rule.HTTP.Paths {
					c.ingressBackend(id, fmt.Sprintf("%s.http.paths[%d]", field, pi), ing.Namespace, ip.Backend)
				}
			}
			for _, r := range publicRoutes() {
				ip := ingressMatch(rule, r.path)
				switch {
				case ip == nil && r.process != "":
					c.addf(id, field, "%s is not routed: it must reach %s", r.path, r.process)
				case ip != nil && r.process == "":
					c.addf(id, field, "%s is routed (by path %s): health and metrics must stay inside the cluster", r.path, ip.Path)
				case ip != nil:
					if got := c.backendProcesses(ing.Namespace, ip.Backend); !slices.Contains(got, r.process) {
						c.addf(id, field, "%s reaches %v (by path %s), want %s", r.path, got, ip.Path, r.process)
					}
				}
			}
			c.hostInConfig(id, field, ing, rule)
		}
	}
}

// ingressBackend checks that a backend names an existing Service and port.
func (c *checker) ingressBackend(id, field, ns string, b networkingv1.IngressBackend) {
	if b.Service == nil {
		c.addf(id, field+".backend", "not a Service backend")
		return
	}
	svc := c.m.service(ns, b.Service.Name)
	if svc == nil {
		c.addf(id, field+".backend.service", "Service %q is not in the manifests", b.Service.Name)
		return
	}
	for _, sp := range svc.Spec.Ports {
		if b.Service.Port.Name != "" && sp.Name == b.Service.Port.Name || b.Service.Port.Name == "" && sp.Port == b.Service.Port.Number {
			return
		}
	}
	c.addf(id, field+".backend.service.port", "Service %s has no port %s%d", svc.Name, b.Service.Port.Name, b.Service.Port.Number)
}

// backendProcesses lists the processes behind an Ingress backend.
func (c *checker) backendProcesses(ns string, b networkingv1.IngressBackend) []string {
	if b.Service == nil {
		return nil
	}
	svc := c.m.service(ns, b.Service.Name)
	if svc == nil {
		return nil
	}
	return processes(c.selected(ns, svc.Spec.Selector))
}

// hostInConfig checks the processes served under rule.Host: they must allow
// its origin (FRONTEND_URL), hand out its WebSocket URL (WS_URL) and take the
// client address from the proxy (TRUST_PROXY).
func (c *checker) hostInConfig(id, field string, ing *networkingv1.Ingress, rule networkingv1.IngressRule) {
	tls := false
	for _, t := range ing.Spec.TLS {
		tls = tls || slices.Contains(t.Hosts, rule.Host)
	}
	for _, pc := range c.configs {
		if pc.w.Namespace != ing.Namespace || (pc.process != "api" && pc.process != "realtime") {
			continue
		}
		cid := pc.w.ID()
		if rule.Host == "" {
			continue
		}
		scheme, wsScheme := "http", "ws"
		if tls {
			scheme, wsScheme = "https", "wss"
		}
		if !slices.Contains(pc.cfg.FrontendURLs, scheme+"://"+rule.Host) {
			c.addf(cid, "env[FRONTEND_URL]", "%v does not allow %s://%s, the host %s serves (%s)", pc.cfg.FrontendURLs, scheme, rule.Host, id, field)
		}
		if pc.cfg.WSURL != "" {
			if u, err := url.Parse(pc.cfg.WSURL); err == nil && (u.Host != rule.Host || u.Scheme != wsScheme) {
				c.addf(cid, "env[WS_URL]", "%s is not %s://%s, the host %s serves", pc.cfg.WSURL, wsScheme, rule.Host, id)
			}
		}
	}
}
