package web

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	jsclient "github.com/pairpad/pairpad/clients/js"
)

// get sends one request to srv and returns the response with its body read.
func get(t *testing.T, srv *httptest.Server, method, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

// allowedOrigin is the one origin the tests' handler allows cross-origin.
const allowedOrigin = "http://app.example:5173"

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(func(origin, _ string) bool { return origin == allowedOrigin }))
	t.Cleanup(srv.Close)
	return srv
}

func TestHandlerServesAssets(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/app.js", "text/javascript; charset=utf-8", "bindCodeMirror"},
		{"/style.css", "text/css; charset=utf-8", ".editor"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
		{"/client/index.js", "text/javascript; charset=utf-8", "export { PairpadClient"},
		{"/client/client.js", "text/javascript; charset=utf-8", "export class PairpadClient"},
		{"/client/ot.js", "text/javascript; charset=utf-8", "export function transform"},
		{"/client/document.js", "text/javascript; charset=utf-8", "export class SyncDocument"},
		{"/client/position.js", "text/javascript; charset=utf-8", "export function indexToPosition"},
		{"/client/rest.js", "text/javascript; charset=utf-8", "export class PairpadError"},
		{"/client/textarea.js", "text/javascript; charset=utf-8", "export function bindTextarea"},
		{"/client/codemirror.js", "text/javascript; charset=utf-8", "export function bindCodeMirror"},
		{"/client/connection.js", "text/javascript; charset=utf-8", "export class Connection"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := get(t, srv, http.MethodGet, tt.path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			for k, want := range map[string]string{
				"Content-Type":            tt.contentType,
				"Cache-Control":           "no-cache",
				"Content-Security-Policy": ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
			etag := res.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			res, body = get(t, srv, http.MethodGet, tt.path, map[string]string{"If-None-Match": etag})
			if res.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("revalidation: status %d body %d bytes, want 304 and none", res.StatusCode, len(body))
			}
			res, body = get(t, srv, http.MethodHead, tt.path, nil)
			if res.StatusCode != http.StatusOK || body != "" {
				t.Errorf("HEAD: status %d body %d bytes, want 200 and none", res.StatusCode, len(body))
			}
		})
	}
}

// TestPage checks the page itself: never cached, and a policy with a fresh
// nonce per response that the page's script element carries (the editor
// hands it to the <style> elements it adds); scripts stay 'self' only.
func TestPage(t *testing.T) {
	srv := newServer(t)
	nonceAttr := regexp.MustCompile(`<script type="module" src="/app.js" nonce="([A-Za-z0-9+/=]{24})"></script>`)
	seen := map[string]bool{}
	for _, path := range []string{"/", "/index.html", "/?session=0b9d8c1e-2f1a-4c3b-9d7e-6a5b4c3d2e1f"} {
		res, body := get(t, srv, http.MethodGet, path, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if !strings.Contains(body, "<title>pairpad</title>") || !strings.Contains(body, `<div id="editor"`) {
			t.Errorf("GET %s: not the page", path)
		}
		m := nonceAttr.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("GET %s: no nonce on the script element", path)
		}
		nonce := m[1]
		if seen[nonce] {
			t.Errorf("nonce %s answered twice", nonce)
		}
		seen[nonce] = true
		if got, want := res.Header.Get("Content-Security-Policy"), PagePolicy(nonce); got != want {
			t.Errorf("policy %q, want %q", got, want)
		}
		for _, want := range []string{"script-src 'self';", "style-src-elem 'self' 'nonce-" + nonce + "'", "default-src 'none'"} {
			if !strings.Contains(res.Header.Get("Content-Security-Policy"), want) {
				t.Errorf("policy lacks %q", want)
			}
		}
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", got)
		}
		if res.Header.Get("ETag") != "" {
			t.Error("the page has an ETag, so a cached copy would reuse an old nonce")
		}
		if strings.Contains(body, "__STYLE_NONCE__") {
			t.Error("the placeholder was left in the page")
		}
	}
}

// TestEditorBundle checks that the editor bundle is served, with the
// modules' headers, exactly when the build put it into the embedding.
func TestEditorBundle(t *testing.T) {
	srv := newServer(t)
	_, statErr := fs.Stat(jsclient.Modules(), "dist/editor.js")
	res, body := get(t, srv, http.MethodGet, "/client/dist/editor.js", map[string]string{"Origin": allowedOrigin})
	if statErr != nil {
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("no bundle was built, yet GET answered %d", res.StatusCode)
		}
		return
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("status %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, "bindCodeMirror") && !strings.Contains(body, "createEditor") {
		t.Error("the bundle does not export the editor")
	}
	if res.Header.Get("Access-Control-Allow-Origin") != allowedOrigin || res.Header.Get("ETag") == "" {
		t.Errorf("headers %v", res.Header)
	}
}

func TestHandlerErrors(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/nope", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/missing.js", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/ot.go", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/sub/ot.js", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/dist/", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/dist/README.md", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/dist/sub/editor.js", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/dist/../ot.js", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/go.mod", 404, "NOT_FOUND"},
		{http.MethodGet, "/client/..%2fweb.go", 404, "NOT_FOUND"},
		{http.MethodGet, "/web.go", 404, "NOT_FOUND"},
		{http.MethodGet, "/testdata/ot_vectors.json", 404, "NOT_FOUND"},
		{http.MethodPost, "/", 405, "METHOD_NOT_ALLOWED"},
		{http.MethodDelete, "/client/ot.js", 405, "METHOD_NOT_ALLOWED"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res, body := get(t, srv, tt.method, tt.path, nil)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			var e struct {
				Error      string `json:"error"`
				Message    string `json:"message"`
				StatusCode int    `json:"statusCode"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if e.Error != tt.code || e.StatusCode != tt.status || e.Message == "" {
				t.Errorf("body %+v, want error %s statusCode %d and a message", e, tt.code, tt.status)
			}
		})
	}
}

// TestPageLoadsOnlyItsOwnFiles checks that every script, stylesheet, icon
// and module import the page uses is served here and nothing points at
// another host, so the page works offline under the CSP.
func TestPageLoadsOnlyItsOwnFiles(t *testing.T) {
	srv := newServer(t)
	_, page := get(t, srv, http.MethodGet, "/", nil)
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("found %d references in the page, want the script, stylesheet and icon", len(refs))
	}
	if regexp.MustCompile(`<script>|\sstyle=|\son[a-z]+=`).MatchString(page) {
		t.Error("the page has inline script, style or event handlers, which the CSP blocks")
	}
	paths := []string{}
	for _, m := range refs {
		paths = append(paths, m[1])
	}
	imports := regexp.MustCompile(`from '\./([a-z]+\.js)'|from '\./client/([a-z]+\.js)'`)
	scripts := []string{"/app.js"}
	clientFiles, err := fs.Glob(jsclient.Modules(), "*.js")
	if err != nil || len(clientFiles) < 5 {
		t.Fatalf("client modules %v: %v", clientFiles, err)
	}
	for _, f := range clientFiles {
		scripts = append(scripts, "/client/"+f)
	}
	for _, js := range scripts {
		_, body := get(t, srv, http.MethodGet, js, nil)
		dir := js[:strings.LastIndex(js, "/")+1]
		for _, m := range imports.FindAllStringSubmatch(body, -1) {
			if m[1] != "" {
				paths = append(paths, dir+m[1])
			} else {
				paths = append(paths, "/client/"+m[2])
			}
		}
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
			t.Errorf("reference %q is not a path on this origin", p)
			continue
		}
		if res, _ := get(t, srv, http.MethodGet, p, nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", p, res.StatusCode)
		}
	}
}

// TestClientModulesCORS checks that the client modules, and only they,
// answer an allowed Origin with Access-Control-Allow-Origin, so a page on a
// FRONTEND_URL origin can import() them; other origins get no CORS header.
func TestClientModulesCORS(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		path, origin, want string
	}{
		{"/client/index.js", allowedOrigin, allowedOrigin},
		{"/client/ot.js", allowedOrigin, allowedOrigin},
		{"/client/index.js", "http://evil.example", ""},
		{"/client/index.js", "", ""},
		{"/app.js", allowedOrigin, ""},
		{"/", allowedOrigin, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.origin, func(t *testing.T) {
			res, _ := get(t, srv, http.MethodGet, tt.path, map[string]string{"Origin": tt.origin})
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != tt.want {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.want)
			}
			if strings.HasPrefix(tt.path, "/client/") && !slices.Contains(res.Header.Values("Vary"), "Origin") {
				t.Errorf("Vary = %q, want Origin (the answer depends on it)", res.Header.Values("Vary"))
			}
		})
	}
}

// The worker that runs the page's JavaScript may evaluate code and do
// nothing else: its policy allows no connection, no import, no image.
func TestRunnerHasItsOwnPolicy(t *testing.T) {
	srv := newServer(t)
	res, body := get(t, srv, http.MethodGet, "/runner.js", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	if got := res.Header.Get("Content-Security-Policy"); got != RunnerPolicy {
		t.Errorf("Content-Security-Policy = %q, want %q", got, RunnerPolicy)
	}
	if got := res.Header.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	for _, want := range []string{"AsyncFunction", "'fetch'", "'WebSocket'", "postMessage"} {
		if !strings.Contains(body, want) {
			t.Errorf("runner.js lacks %q", want)
		}
	}
	if strings.Contains(RunnerPolicy, "connect-src") || !strings.HasPrefix(RunnerPolicy, "default-src 'none';") {
		t.Errorf("RunnerPolicy %q must leave connect-src to default-src 'none'", RunnerPolicy)
	}
}
