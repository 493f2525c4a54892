// Package web serves the JavaScript client package @pairpad/client (its ES
// modules, from clients/js, under /client/) and the demo page at /, embedded
// in the binary so the all-in-one needs no files beside it and the page
// loads nothing from another host.
package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	jsclient "github.com/pairpad/pairpad/clients/js"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
)

//go:embed index.html app.js style.css favicon.svg runner.js
var files embed.FS

// ContentSecurityPolicy is the policy of every response but the page:
// scripts, styles and images only from this origin, network access only to
// this origin over HTTP(S) and to WebSocket endpoints (the join response's
// wsUrl may name another host), no plugins, no framing, no inline code.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// PagePolicy is the policy of the page itself, answered with a fresh nonce
// each time: ContentSecurityPolicy, except that the <style> elements the
// editor (CodeMirror) adds are allowed when they carry the nonce, and style
// attributes are allowed (CodeMirror sets a few, such as tab-size). Scripts
// stay 'self' only.
func PagePolicy(nonce string) string {
	return "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-" + nonce + "'; " +
		"style-src-elem 'self' 'nonce-" + nonce + "'; style-src-attr 'unsafe-inline'; img-src 'self'; " +
		"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// RunnerPolicy is the policy of runner.js, the Web Worker the page runs
// JavaScript in: the worker may evaluate the code it is given and nothing
// else: no network (connect-src falls back to 'none'), no scripts to
// import, no images, no fonts.
const RunnerPolicy = "default-src 'none'; script-src 'unsafe-eval'"

// runnerName is the worker's asset.
const runnerName = "runner.js"

// noncePlaceholder in index.html is replaced by each response's nonce; the
// page hands it to the editor (the nonce of its script element).
var noncePlaceholder = []byte("__STYLE_NONCE__")

// contentTypes maps the extensions we embed to their media types, set
// explicitly so they do not depend on the host's mime.types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Handler returns the handler of the demo page and the client modules:
// GET or HEAD / (the page, also with a query such as ?session=<id>),
// /app.js, /style.css, /favicon.svg, /runner.js (the worker that runs
// JavaScript, under RunnerPolicy), /client/<name>.js and the editor
// bundle /client/dist/editor.js (when it was built). Any other path
// is 404 NOT_FOUND and any other method 405 METHOD_NOT_ALLOWED, with the
// documented error body. Responses carry Cache-Control: no-cache (the
// browser revalidates, so a new build is picked up at once), an ETag, and
// the security headers; the page itself is answered with no-store and
// PagePolicy with a fresh nonce. The client modules also answer a request whose
// Origin allowOrigin accepts (FRONTEND_URL; host is the request's Host)
// with Access-Control-Allow-Origin, so a page on such an origin can import()
// them.
func Handler(allowOrigin func(origin, host string) bool) http.Handler {
	assets := loadAssets()
	// modTime is zero so revalidation relies on the ETag, which changes with
	// the content, rather than on the process start time.
	var modTime time.Time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, _ := assetName(r.URL.Path)
		a, ok := assets[name]
		if !ok {
			httpx.WriteError(w, protocol.Errorf(protocol.CodeNotFound, "No route for %s %s", r.Method, r.URL.Path))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpx.WriteError(w, protocol.Errorf(protocol.CodeMethodNotAllowed, "Method %s is not allowed on %s", r.Method, r.URL.Path))
			return
		}
		h := w.Header()
		if strings.HasPrefix(name, clientDir) {
			h.Add("Vary", "Origin")
			if origin := r.Header.Get("Origin"); origin != "" && allowOrigin(origin, r.Host) {
				h.Set("Access-Control-Allow-Origin", origin)
			}
		}
		h.Set("Content-Type", a.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		data := a.data
		if name == pageName {
			nonce := newNonce()
			data = bytes.ReplaceAll(data, noncePlaceholder, []byte(nonce))
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Security-Policy", PagePolicy(nonce))
		} else {
			h.Set("Cache-Control", "no-cache")
			h.Set("ETag", a.etag)
			if name == runnerName {
				h.Set("Content-Security-Policy", RunnerPolicy)
			} else {
				h.Set("Content-Security-Policy", ContentSecurityPolicy)
			}
		}
		http.ServeContent(w, r, name, modTime, bytes.NewReader(data))
	})
}

// assetName maps a request path to the embedded file it names; only the
// page's own files are served, never a directory listing.
func assetName(p string) (string, bool) {
	switch p {
	case "/", "/index.html":
		return pageName, true
	case "/app.js", "/style.css", "/favicon.svg", "/runner.js":
		return strings.TrimPrefix(p, "/"), true
	}
	rest, ok := strings.CutPrefix(p, "/client/")
	if !ok {
		return "", false
	}
	// The package's modules, and the editor bundle under dist/.
	file, _ := strings.CutPrefix(rest, "dist/")
	if file == "" || strings.ContainsAny(file, "/\\") || path.Ext(file) != ".js" || !fs.ValidPath(rest) {
		return "", false
	}
	return clientDir + rest, true
}

// pageName is the page's asset.
const pageName = "index.html"

// newNonce returns 128 random bits, base64-encoded, for one response's
// PagePolicy.
func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.StdEncoding.EncodeToString(b)
}

// clientDir prefixes the names of the client package's modules among the
// assets.
const clientDir = "client/"

// asset is one embedded file, ready to serve.
type asset struct {
	data        []byte
	contentType string
	etag        string
}

// loadAssets reads every embedded file once (the page's, and the client
// package's under clientDir) and computes its ETag, a hash of its content.
// Reading an embedded file system cannot fail, so the walk's error is not
// looked at; a missing file would show as 404 in the tests.
func loadAssets() map[string]asset {
	assets := make(map[string]asset)
	add := func(fsys fs.FS, prefix string) {
		_ = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			assets[prefix+name] = asset{
				data:        data,
				contentType: contentTypes[path.Ext(name)],
				etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
			}
			return nil
		})
	}
	add(files, "")
	add(jsclient.Modules(), clientDir)
	return assets
}
