package api_test

import (
	"net/http"
	"testing"
)

// TestSpecCheckCatchesDrift makes sure the checker every test goes through
// would notice a response the document does not describe.
func TestSpecCheckCatchesDrift(t *testing.T) {
	spec := loadSpec(t)
	const id = "0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11"
	jsonHdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	session := `{"id":"` + id + `","createdAt":"2025-03-01T10:00:30Z","language":"python","participantCount":0,"status":"active"}`
	tests := []struct {
		name, method, path string
		r                  response
		ok                 bool
	}{
		{"valid session", "GET", "/api/sessions/" + id, response{200, jsonHdr, []byte(session)}, true},
		{"extra field", "GET", "/api/sessions/" + id, response{200, jsonHdr, []byte(session[:len(session)-1] + `,"x":1}`)}, false},
		{"bad language", "GET", "/api/sessions/" + id, response{200, jsonHdr, []byte(`{"id":"` + id + `","createdAt":"2025-03-01T10:00:30Z","language":"cobol","participantCount":0}`)}, false},
		{"undocumented status", "GET", "/api/sessions/" + id, response{409, jsonHdr, []byte(`{"error":"SESSION_FULL","message":"x","statusCode":409}`)}, false},
		{"error body without code", "GET", "/api/sessions/" + id, response{404, jsonHdr, []byte(`{"message":"x","statusCode":404}`)}, false},
		{"status and code disagree", "GET", "/api/sessions/" + id, response{404, jsonHdr, []byte(`{"error":"NOT_FOUND","message":"x","statusCode":400}`)}, false},
		{"429 without Retry-After", "POST", "/api/sessions", response{429, jsonHdr, []byte(`{"error":"RATE_LIMIT_EXCEEDED","message":"x","statusCode":429}`)}, false},
		{"204 with a body", "DELETE", "/api/sessions/" + id, response{204, http.Header{}, []byte(`{}`)}, false},
		{"405 without Allow", "PUT", "/api/sessions", response{405, jsonHdr, []byte(`{"error":"METHOD_NOT_ALLOWED","message":"x","statusCode":405}`)}, false},
		{"unknown path answered 200", "GET", "/api/nope", response{200, jsonHdr, []byte(`{}`)}, false},
		{"unknown path answered 404", "GET", "/api/nope", response{404, jsonHdr, []byte(`{"error":"NOT_FOUND","message":"x","statusCode":404}`)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hr, _ := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, nil)
			err := spec.verify(hr, tc.r)
			if (err == nil) != tc.ok {
				t.Errorf("verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
