package sio_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Example shows a server's side of a Socket.IO v4 connection: the frames a
// real socket.io-client sends, and the answers.
func Example() {
	// After the WebSocket upgrade, the server speaks first.
	fmt.Printf("%s\n", sio.OpenPacket("eio-1", 25*time.Second, 20*time.Second, 1_000_000))

	for _, frame := range []string{
		`40{"token":"v1.x.y"}`,
		`42["code-update",{"payload":{"delta":{"fullCode":"hi"},"version":0}}]`,
		`3`,
		`452-["bin",{"_placeholder":true,"num":0}]`,
		`41`,
	} {
		p, err := sio.Parse([]byte(frame))
		switch {
		case errors.Is(err, sio.ErrMalformed):
			fmt.Println("refused:", err)
		case p.EIO == sio.EIOPong:
			fmt.Println("pong")
		case p.Type == sio.TypeConnect:
			fmt.Printf("connect with auth %s -> %s\n", p.Data, sio.EncodeConnect("/", "sock-1"))
		case p.Type == sio.TypeEvent:
			name, args, _ := sio.Event(p)
			fmt.Printf("event %s with %d argument(s)\n", name, len(args))
		case p.Type == sio.TypeDisconnect:
			fmt.Println("the client leaves")
		}
	}

	// Broadcasts are framed once, refusals carry the protocol's code.
	fmt.Printf("%s\n", sio.EncodeEvent("/", "language-changed", json.RawMessage(`{"type":"language-changed","payload":"python"}`)))
	fmt.Printf("%s\n", sio.EncodeConnectError("/", protocol.Errorf(protocol.CodeUnauthorized, "bad token")))
	// Output:
	// 0{"sid":"eio-1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}
	// connect with auth {"token":"v1.x.y"} -> 40{"sid":"sock-1"}
	// event code-update with 1 argument(s)
	// pong
	// refused: sio: malformed packet: binary packets are not supported
	// the client leaves
	// 42["language-changed",{"type":"language-changed","payload":"python"}]
	// 44{"message":"bad token","data":{"error":"UNAUTHORIZED","message":"bad token"}}
}
