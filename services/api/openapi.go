package api

import (
	"bytes"
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3 description of every route; the tests check
// every response they get against it.
//
//go:embed openapi.yaml
var openAPIDoc []byte

// OpenAPI returns the service's OpenAPI 3.0 document (YAML).
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(openAPIDoc)
	})
}
