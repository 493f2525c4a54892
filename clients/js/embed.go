// Package jsclient embeds the modules of the JavaScript client package
// @pairpad/client (this folder), so the realtime service serves the very
// files the package publishes, at /client/, with no copy elsewhere; and the
// editor bundle build.mjs writes to dist/ (only dist/README.md is committed,
// so this compiles on a clean clone, without the bundle).
package jsclient

import (
	"embed"
	"io/fs"
)

//go:embed *.js dist
var modules embed.FS

// Modules returns the package's ES modules (index.js, client.js, ...) at the
// root of the returned file system, and the build outputs under dist/.
func Modules() fs.FS {
	return modules
}
