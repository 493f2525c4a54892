package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/protocol"
)

func TestMicro(t *testing.T) {
	srv, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	s := a.createSession(t, "typescript")
	nc := natstest.Connect(t, srv) // a separate client, as `nats req` would be

	tests := []struct {
		name, subject, data string
		code                string // micro error code (the HTTP status); "" for success
		errCode             protocol.Code
		check               func(t *testing.T, data []byte)
	}{
		{"get", "pairpad.api.sessions.get", s.ID, "", "", func(t *testing.T, data []byte) {
			var got protocol.Session
			if err := json.Unmarshal(data, &got); err != nil || got.ID != s.ID || got.Language != protocol.LangTypeScript {
				t.Errorf("session %s (%v)", data, err)
			}
		}},
		{"get unknown", "pairpad.api.sessions.get", "0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11", "404", protocol.CodeSessionNotFound, nil},
		{"get non-uuid", "pairpad.api.sessions.get", "nope", "404", protocol.CodeSessionNotFound, nil},
		{"list", "pairpad.api.sessions.list", "", "", "", func(t *testing.T, data []byte) {
			var l protocol.SessionList
			if err := json.Unmarshal(data, &l); err != nil || l.Total != 1 || l.Limit != 20 || len(l.Sessions) != 1 {
				t.Errorf("list %s (%v)", data, err)
			}
		}},
		{"list page", "pairpad.api.sessions.list", `{"limit":1,"offset":1}`, "", "", func(t *testing.T, data []byte) {
			var l protocol.SessionList
			if err := json.Unmarshal(data, &l); err != nil || l.Total != 1 || len(l.Sessions) != 0 || l.Offset != 1 {
				t.Errorf("list %s (%v)", data, err)
			}
		}},
		{"list bad limit", "pairpad.api.sessions.list", `{"limit":0}`, "400", protocol.CodeInvalidRequest, nil},
		{"list unknown field", "pairpad.api.sessions.list", `{"page":2}`, "400", protocol.CodeInvalidRequest, nil},
		{"create", "pairpad.api.sessions.create", `{"language":"python"}`, "", "", func(t *testing.T, data []byte) {
			var got protocol.Session
			if err := json.Unmarshal(data, &got); err != nil || !protocol.ValidSessionID(got.ID) || got.Language != protocol.LangPython {
				t.Errorf("created %s (%v)", data, err)
			}
			if r := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + got.ID}); r.status != 200 {
				t.Errorf("session created over NATS not visible over REST: %d", r.status)
			}
		}},
		{"create bad language", "pairpad.api.sessions.create", `{"language":"cobol"}`, "400", protocol.CodeInvalidRequest, nil},
		{"create malformed", "pairpad.api.sessions.create", `{`, "400", protocol.CodeInvalidRequest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := nc.Request(tc.subject, []byte(tc.data), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			gotCode := m.Header.Get(micro.ErrorCodeHeader)
			if gotCode != tc.code {
				t.Fatalf("error code %q, want %q (data %s)", gotCode, tc.code, m.Data)
			}
			if tc.code != "" {
				var b protocol.ErrorBody
				if err := json.Unmarshal(m.Data, &b); err != nil || b.Error != tc.errCode || m.Header.Get(micro.ErrorHeader) != string(tc.errCode) {
					t.Errorf("error %s / %q, want %s", m.Data, m.Header.Get(micro.ErrorHeader), tc.errCode)
				}
				return
			}
			tc.check(t, m.Data)
		})
	}

	t.Run("discoverable", func(t *testing.T) {
		subj, err := micro.ControlSubject(micro.InfoVerb, "api", "")
		if err != nil {
			t.Fatal(err)
		}
		m, err := nc.Request(subj, nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var info micro.Info
		if err := json.Unmarshal(m.Data, &info); err != nil {
			t.Fatal(err)
		}
		subjects := map[string]bool{}
		for _, e := range info.Endpoints {
			subjects[e.Subject] = true
		}
		for _, want := range []string{"pairpad.api.sessions.get", "pairpad.api.sessions.list", "pairpad.api.sessions.create"} {
			if !subjects[want] {
				t.Errorf("endpoint %s missing from %+v", want, info.Endpoints)
			}
		}
		if info.Name != "api" || info.Version == "" {
			t.Errorf("info %+v", info.ServiceIdentity)
		}
	})

	t.Run("stopped by Shutdown", func(t *testing.T) {
		if err := a.svc.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, err := nc.Request("pairpad.api.sessions.get", []byte(s.ID), 500*time.Millisecond)
		if err != nats.ErrNoResponders && err != nats.ErrTimeout {
			t.Errorf("after Shutdown: %v, want no responders", err)
		}
	})
}
