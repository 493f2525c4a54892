// Package jsclient embeds the modules of the JavaScript client package
// @pairpad/client (this folder), so the realtime service serves the very
// files the package publishes, at /client/, with no copy elsewhere.
package jsclient

import (
	"embed"
	"io/fs"
)

//go:embed *.js
var modules embed.FS

// Modules returns the package's ES modules (index.js, client.js, ...) at the
// root of the returned file system.
func Modules() fs.FS {
	return modules
}
