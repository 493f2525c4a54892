// Package buildinfo carries the version stamped into binaries at link time.
package buildinfo

import (
	"regexp"
	"strings"
)

// Version is set with -ldflags "-X github.com/pairpad/pairpad/shared/buildinfo.Version=...".
var Version = "dev"

// semverRE is micro's own SemVer 2.0 pattern, so what passes here passes micro.AddService.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// SemVer turns a build version into the SemVer micro services require:
// "v1.2.3" becomes "1.2.3", a "dev" build "0.0.0-dev", anything else (a
// commit, a describe string) "0.0.0-dev+<it>".
func SemVer(v string) string {
	v = strings.TrimSpace(v)
	if t := strings.TrimPrefix(v, "v"); semverRE.MatchString(t) {
		return t
	}
	if v == "" || v == "dev" {
		return "0.0.0-dev"
	}
	meta := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' {
			return r
		}
		return '-'
	}, v)
	return "0.0.0-dev+" + meta
}
