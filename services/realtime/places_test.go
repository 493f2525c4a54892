package realtime

import (
	"testing"

	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// TestPlaces: held places count distinct users against SESSION_MAX_USERS
// (a user may hold several), each release gives one back, and a room
// whose places are all released or joined keeps no map for them. Not
// parallel: TestShutdown counts the binary's goroutines, and a parallel
// test waiting for its turn is one.
func TestPlaces(t *testing.T) {
	rm := newRoom(&roomDeps{maxUsers: 2, remote: func(string) []presence.Entry { return nil }}, "s1")
	steps := []struct {
		hold, release string
		wantCode      protocol.Code // the refusal's code, "" when it is held
		wantPlaces    int           // distinct users holding places afterwards
	}{
		{hold: "a", wantPlaces: 1},
		{hold: "a", wantPlaces: 1}, // a second tab of a
		{hold: "b", wantPlaces: 2},
		{hold: "c", wantCode: protocol.CodeSessionFull, wantPlaces: 2},
		{release: "a", wantPlaces: 2},
		{release: "a", wantPlaces: 1},
		{hold: "c", wantPlaces: 2},
		{release: "b", wantPlaces: 1},
		{release: "c", wantPlaces: 0},
	}
	for i, st := range steps {
		if st.hold != "" {
			err := rm.holdPlace(st.hold)
			if got := protocol.ErrorCode(err); err != nil && got != st.wantCode || err == nil && st.wantCode != "" {
				t.Fatalf("step %d: hold %s: %v, want code %q", i, st.hold, err, st.wantCode)
			}
		} else {
			rm.releasePlace(st.release)
		}
		if len(rm.places) != st.wantPlaces {
			t.Fatalf("step %d: %d users hold places, want %d", i, len(rm.places), st.wantPlaces)
		}
	}
	if rm.places != nil {
		t.Fatal("a room with no places held keeps their map")
	}
}
