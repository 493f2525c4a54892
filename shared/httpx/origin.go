package httpx

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// SerializeOrigin returns an origin in its RFC 6454 serialisation:
// scheme://host[:port], scheme and host lower-case, the scheme's default
// port left out. It refuses what is not the origin of an http(s) page: no
// host, a path, a query, user info, or "null" (an opaque origin).
func SerializeOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("origin %q: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https": // url.Parse lower-cases the scheme
		return "", fmt.Errorf("origin %q: want scheme://host[:port] with scheme http or https", s)
	case u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("origin %q: want scheme://host[:port] and nothing else", s)
	}
	return serialize(u.Scheme, u.Host)
}

// serialize is the RFC 6454 serialisation of scheme and host[:port].
func serialize(scheme, hostport string) (string, error) {
	scheme = strings.ToLower(scheme)
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1] // an IPv6 literal without a port
	}
	if host == "" {
		return "", errors.New("origin without a host")
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	host = strings.ToLower(host)
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

// OriginAllowed is the one origin check of every service: the api's CORS,
// realtime's WebSocket handshakes and its web handler. origin is a
// browser's Origin header (the caller decides what a request without one
// may do); allowed is FRONTEND_URL as config.Load serialised it; host is
// the request's Host.
//
// An origin is allowed when its RFC 6454 serialisation is one of allowed
// (so case and a default port do not matter), or when it is the request's
// own host: a page served by this very host (the all-in-one's demo page at
// /, with its socket and API on the same host) is same-origin, and a
// browser needs no permission for that. The same-host check compares
// host[:port] (in the origin's scheme, so a default port written out or
// not is the same) and not the scheme: TLS usually ends at a proxy, so a
// service cannot tell the scheme the browser used. "*" has no meaning
// here: config.Load refuses it.
func OriginAllowed(allowed []string, origin, host string) bool {
	o, err := SerializeOrigin(origin)
	if err != nil {
		return false
	}
	if slices.Contains(allowed, o) {
		return true
	}
	scheme, _, _ := strings.Cut(o, "://")
	self, err := serialize(scheme, host)
	return err == nil && self == o
}
