package janitor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/session"
)

// TestEndedInterviewRetention: an interview ended with POST .../end is kept,
// readable, for SESSION_RETENTION, however long nobody has been active in it
// (never expired as idle before), and purged with everything it held at the
// first sweep after; an active session beside it follows the idle rule.
func TestEndedInterviewRetention(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	j := newJanitor(t, e, jopts{now: clk.Now, ready: true, env: map[string]string{"SESSION_RETENTION": "2h"}})
	st := session.NewStore(e.in.Sessions)
	ctx := context.Background()

	ended := seed(t, e.in, clk.Now(), false)
	idle := seed(t, e.in, clk.Now(), false)
	seenEmpty(t, e.in, idle.ID, clk.Now())
	if _, err := e.in.Participants.Put(ctx, ended.ID, []byte(`{"users":{}}`)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	if _, err := st.EndInterview(ctx, ended.ID, clk.Now()); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		advance   time.Duration // from the end
		wantKept  bool
		wantInRep bool
	}{
		{advance: 31 * time.Minute, wantKept: true},                             // past the idle timeout, nobody connected
		{advance: 2*time.Hour - time.Second, wantKept: true},                    // just inside the retention
		{advance: 2 * time.Hour, wantKept: false, wantInRep: true},              // the retention has passed
		{advance: 2*time.Hour + time.Minute, wantKept: false, wantInRep: false}, // gone: nothing more to do
	}
	endAt := clk.Now()
	for _, s := range steps {
		clk.Advance(endAt.Add(s.advance).Sub(clk.Now()))
		rep, err := j.Sweep(ctx)
		if err != nil {
			t.Fatalf("sweep at end+%s: %v", s.advance, err)
		}
		if s.advance == steps[0].advance && !slices.Contains(rep.Expired, idle.ID) {
			t.Errorf("the idle active session was not expired: %+v", rep)
		}
		if got := slices.Contains(rep.Expired, ended.ID); got != s.wantInRep {
			t.Errorf("at end+%s: in the report's expired %v, want %v", s.advance, got, s.wantInRep)
		}
		h := holdingsOf(t, e.in, ended.ID)
		if s.wantKept {
			rec, _, err := st.Get(ctx, ended.ID)
			if err != nil || !rec.Ended() || !h.record || !h.document || !h.opLog || !exists(t, e.in.Participants, ended.ID) {
				t.Fatalf("at end+%s: %+v, %v, holdings %+v; want the ended session kept whole", s.advance, rec, err, h)
			}
			continue
		}
		if h != (holdings{}) || exists(t, e.in.Participants, ended.ID) {
			t.Fatalf("at end+%s: left behind %+v (participants %v)", s.advance, h, exists(t, e.in.Participants, ended.ID))
		}
	}
}
