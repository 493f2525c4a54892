// Package buildinfo carries the version stamped into binaries at link time.
package buildinfo

// Version is set with -ldflags "-X github.com/pairpad/pairpad/shared/buildinfo.Version=...".
var Version = "dev"
