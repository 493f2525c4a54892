package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/token"
)

func TestHistory(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	clk := newClock(start)
	a := newAPI(t, in, baseEnv(), clk)
	s := a.createSession(t, "python")
	other := a.createSession(t, "python")

	// Three applied updates: "hi" -> "hi😀" -> "h😀".
	ops := []string{`["hi"]`, `[2,"😀"]`, `[1,-1,2]`}
	var seq uint64
	for i, raw := range ops {
		op, err := ot.Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		e := oplog.Entry{Version: int64(i + 1), UserID: "u-1", Timestamp: start.UnixMilli() + int64(i), Ops: op}
		if i == 1 {
			e.OpID = "op-2"
		}
		if seq, err = oplog.Append(ctx, in.JS, s.ID, e, seq); err != nil {
			t.Fatal(err)
		}
	}
	join := func(id string) string {
		r := a.do(t, req{method: http.MethodPost, path: "/api/sessions/" + id + "/join", body: `{"userId":"u-1","userName":"Ada"}`})
		var j protocol.JoinResponse
		r.json(t, &j)
		return j.Token
	}
	mine, theirs := join(s.ID), join(other.ID)
	expired := token.Sign([]byte(tokenSecret), token.Claims{SessionID: s.ID, UserID: "u-1", UserName: "Ada", Expiry: clk.Now().Add(-time.Second).Unix()})
	forged := token.Sign([]byte("another secret"), token.Claims{SessionID: s.ID, UserID: "u-1", UserName: "Ada", Expiry: clk.Now().Add(time.Hour).Unix()})

	next := func(v int64) *int64 { return &v }
	tests := []struct {
		name     string
		id       string
		query    string
		header   map[string]string
		status   int
		code     protocol.Code
		versions []int64
		next     *int64
	}{
		{"join token, all", s.ID, "", bearerHeader(mine), 200, "", []int64{1, 2, 3}, nil},
		{"admin token", s.ID, "", bearerHeader(adminToken), 200, "", []int64{1, 2, 3}, nil},
		{"a page", s.ID, "?limit=2", bearerHeader(mine), 200, "", []int64{1, 2}, next(3)},
		{"next page", s.ID, "?from=3&limit=2", bearerHeader(mine), 200, "", []int64{3}, nil},
		{"from the middle", s.ID, "?from=2", bearerHeader(mine), 200, "", []int64{2, 3}, nil},
		{"past the end", s.ID, "?from=10", bearerHeader(mine), 200, "", nil, nil},
		{"empty log", other.ID, "", bearerHeader(theirs), 200, "", nil, nil},
		{"no token", s.ID, "", nil, 401, protocol.CodeUnauthorized, nil, nil},
		{"token of another session", s.ID, "", bearerHeader(theirs), 401, protocol.CodeUnauthorized, nil, nil},
		{"expired token", s.ID, "", bearerHeader(expired), 401, protocol.CodeUnauthorized, nil, nil},
		{"forged token", s.ID, "", bearerHeader(forged), 401, protocol.CodeUnauthorized, nil, nil},
		{"garbage token", s.ID, "", bearerHeader("v1.garbage"), 401, protocol.CodeUnauthorized, nil, nil},
		{"from=0", s.ID, "?from=0", bearerHeader(mine), 400, protocol.CodeInvalidRequest, nil, nil},
		{"from=x", s.ID, "?from=x", bearerHeader(mine), 400, protocol.CodeInvalidRequest, nil, nil},
		{"limit=0", s.ID, "?limit=0", bearerHeader(mine), 400, protocol.CodeInvalidRequest, nil, nil},
		{"limit=1001", s.ID, "?limit=1001", bearerHeader(mine), 400, protocol.CodeInvalidRequest, nil, nil},
		{"unknown session", "0b5e3b6e-2f5d-4c1e-9a53-5a8f1f0b7c11", "", bearerHeader(adminToken), 404, protocol.CodeSessionNotFound, nil, nil},
		{"non-uuid session", "abc", "", bearerHeader(adminToken), 404, protocol.CodeSessionNotFound, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(t, req{method: http.MethodGet, path: "/api/sessions/" + tc.id + "/history" + tc.query, header: tc.header})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.code != "" {
				if b := r.errorBody(t); b.Error != tc.code {
					t.Errorf("code %s, want %s", b.Error, tc.code)
				}
				return
			}
			var h struct {
				SessionID string `json:"sessionId"`
				Updates   []struct {
					Version   int64           `json:"version"`
					UserID    string          `json:"userId"`
					OpID      string          `json:"opId"`
					Timestamp int64           `json:"timestamp"`
					Ops       json.RawMessage `json:"ops"`
				} `json:"updates"`
				Next *int64 `json:"next"`
			}
			r.json(t, &h)
			if h.SessionID != tc.id || len(h.Updates) != len(tc.versions) {
				t.Fatalf("history %s", r.body)
			}
			for i, u := range h.Updates {
				v := tc.versions[i]
				wantOp := ""
				if v == 2 {
					wantOp = "op-2"
				}
				if u.Version != v || u.UserID != "u-1" || u.OpID != wantOp || u.Timestamp != start.UnixMilli()+v-1 || string(u.Ops) != ops[v-1] {
					t.Errorf("update %d = %+v ops %s, want version %d ops %s", i, u, u.Ops, v, ops[v-1])
				}
			}
			if (h.Next == nil) != (tc.next == nil) || h.Next != nil && *h.Next != *tc.next {
				t.Errorf("next = %v, want %v", h.Next, tc.next)
			}
		})
	}
}

// A log of 256 KiB updates is served in pages of at most 1 MiB of updates,
// linked by next, instead of one answer of every update asked for.
func TestHistoryBoundsBytes(t *testing.T) {
	ctx := context.Background()
	_, in := startNATS(t)
	a := newAPI(t, in, baseEnv(), newClock(start))
	s := a.createSession(t, "python")
	big := strings.Repeat("y", 256<<10)
	const n = 10
	var seq uint64
	for v := 1; v <= n; v++ {
		op := ot.Op{ot.Insert(big)}
		if v > 1 {
			op = ot.Op{ot.Insert(big), ot.Delete(len(big))}
		}
		var err error
		if seq, err = oplog.Append(ctx, in.JS, s.ID, oplog.Entry{Version: int64(v), UserID: "u", Ops: op}, seq); err != nil {
			t.Fatal(err)
		}
	}
	var versions []int64
	pages := 0
	for from := int64(1); ; pages++ {
		r := a.do(t, req{method: http.MethodGet, path: fmt.Sprintf("/api/sessions/%s/history?from=%d", s.ID, from),
			header: bearerHeader(adminToken)})
		if r.status != http.StatusOK {
			t.Fatalf("page %d: status %d", pages, r.status)
		}
		if len(r.body) > 1<<20+64<<10 {
			t.Fatalf("page %d: %d bytes, more than 1 MiB of updates", pages, len(r.body))
		}
		var h protocol.History
		r.json(t, &h)
		if len(h.Updates) == 0 {
			t.Fatalf("page %d from %d: no updates", pages, from)
		}
		for _, u := range h.Updates {
			versions = append(versions, u.Version)
		}
		if h.Next == nil {
			break
		}
		from = *h.Next
	}
	if pages < 1 || len(versions) != n { // pages counts the pages after the first
		t.Fatalf("%d pages, %d updates, want several pages of %d", pages+1, len(versions), n)
	}
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("versions %v", versions)
		}
	}
}
