package realtime_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/token"
)

// TestTokenExpiryDuringConnection: a join token is checked at the
// handshake. A connection whose token expires afterwards stays open and
// keeps editing (it was authorised when it opened); a new handshake with
// the expired token is refused with 401, so a reconnect needs a fresh
// token from join.
func TestTokenExpiryDuringConnection(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	clk := &clock{t: time.Now()}
	inst := cl.start(instanceOpts{now: clk.now})
	sid := cl.newSession(protocol.LangPython).ID
	tok := token.Sign([]byte(testSecret), token.Claims{SessionID: sid, UserID: "u", UserName: "U",
		Expiry: clk.now().Add(time.Minute).Unix()})
	u := user{sid: sid, id: "u", name: "U", noToken: true, query: url.Values{"token": {tok}}}
	c := connectPlain(t, inst.url, u)
	c.waitFor(t, protocol.TypeConnected)

	clk.advance(2 * time.Minute) // the token has expired
	c.send(t, protocol.TypeCodeUpdate, fullCode("still here", 0, "after-expiry"))
	if a := decode[protocol.CodeAck](t, c.waitFor(t, protocol.TypeCodeAck).Payload); a.Version != 1 {
		t.Fatalf("ack %+v", a)
	}
	_, resp, err := tryPlain(t, inst.url, u)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("handshake with the expired token: %v, %v", err, resp)
	}
	if b := decode[protocol.ErrorBody](t, readAll(t, resp)); b.Error != protocol.CodeUnauthorized {
		t.Fatalf("handshake with the expired token: %+v", b)
	}
	c.send(t, protocol.TypeSync, nil)
	if s := decode[protocol.Sync](t, c.waitFor(t, protocol.TypeSync).Payload); s.Code != "still here" {
		t.Fatalf("sync %+v", s)
	}
}
