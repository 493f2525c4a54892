package realtime_test

import (
	"net/url"
	"testing"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestNonCanonicalOps: where an insert sits next to a delete its order
// decides ties in transform, so an op that is not in canonical form is
// refused with INVALID_PAYLOAD naming the rule, never applied; the same
// edit in canonical form is applied.
func TestNonCanonicalOps(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	inst := cl.start()
	sid := cl.newSession(protocol.LangPython).ID
	c := connectPlain(t, inst.url, user{sid: sid, id: "u1", name: "U1", query: url.Values{"deltaFormat": {"ops"}}})
	c.waitFor(t, protocol.TypeConnected)
	c.send(t, protocol.TypeCodeUpdate, fullCode("abcdef", 0, "base"))
	c.waitFor(t, protocol.TypeCodeAck)

	ops := func(opID string, comps ...any) map[string]any {
		return map[string]any{"delta": map[string]any{"ops": comps}, "version": 1, "opId": opID}
	}
	for _, tc := range []struct {
		name  string
		ops   []any
		rule  string
		index int
	}{
		{"delete before insert", []any{2, -3, "x", 1}, ot.RuleInsertFirst, 2},
		{"insert, delete, insert", []any{"a", -3, "b", 3}, ot.RuleInsertFirst, 2},
		{"two retains", []any{2, 4}, ot.RuleMerged, 1},
		{"two inserts", []any{"a", "b", 6}, ot.RuleMerged, 1},
		{"two deletes", []any{-1, -2, 3}, ot.RuleMerged, 1},
	} {
		c.send(t, protocol.TypeCodeUpdate, ops(tc.name, tc.ops...))
		e := c.waitError(t)
		if e.Error != protocol.CodeInvalidPayload || e.Details["rule"] != tc.rule || e.Details["component"] != float64(tc.index) ||
			e.Details["opId"] != tc.name {
			t.Fatalf("%s %v: %+v, want INVALID_PAYLOAD rule %s at %d", tc.name, tc.ops, e, tc.rule, tc.index)
		}
	}
	c.send(t, protocol.TypeCodeUpdate, ops("canonical", 2, "x", -3, 1))
	if a := decode[protocol.CodeAck](t, c.waitFor(t, protocol.TypeCodeAck).Payload); a.Version != 2 || a.OpID != "canonical" {
		t.Fatalf("ack %+v", a)
	}
	c.send(t, protocol.TypeSync, nil)
	if s := decode[protocol.Sync](t, c.waitFor(t, protocol.TypeSync).Payload); s.Code != "abxf" || s.Version != 2 {
		t.Fatalf("sync %+v: a refused op was applied", s)
	}
}
