package loadgen

import (
	"encoding/json"
	"testing"

	"github.com/pairpad/pairpad/shared/protocol"
)

// TestResyncAfterReconnectCovers: a user that reconnects from version 5
// to a server at version 9 that cannot replay gets connected, then sync;
// the four versions the sync stands for were delivered to it, folded into
// the sync, not lost.
func TestResyncAfterReconnectCovers(t *testing.T) {
	f := newFleet("test", Options{APIURL: "http://127.0.0.1:1", WSURLs: []string{"ws://127.0.0.1:1"}})
	defer f.close()
	u := newUser(f, &session{id: "s"}, 0, "ws://127.0.0.1:1")
	event := func(typ string, payload any) Event {
		raw, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		return Event{Type: typ, Payload: raw}
	}
	u.handle(event(protocol.TypeConnected, protocol.Connected{Sync: protocol.Sync{Code: "abc", Version: 5}}))
	u.handle(event(protocol.TypeConnected, protocol.Connected{Sync: protocol.Sync{Code: "abcdefg", Version: 9}}))
	if !u.returning() {
		t.Fatal("a resumption behind the server should wait for the replay or a sync")
	}
	u.handle(event(protocol.TypeSync, protocol.Sync{Code: "abcdefg", Version: 9}))
	st, _, _ := u.harvest()
	if st.recv[kindCode] != 4 || st.errors["info:RECONNECT_RESYNC"] != 1 {
		t.Errorf("code receipts %d (want the 4 versions the sync covers), errors %v", st.recv[kindCode], st.errors)
	}
	if u.returning() || u.ed.rev != 9 || u.ed.text != "abcdefg" {
		t.Errorf("after the sync: returning %v, editor at v%d %q", u.returning(), u.ed.rev, u.ed.text)
	}
}
