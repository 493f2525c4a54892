package loadgen

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The client's side of the WebSocket opening handshake (RFC 6455 section
// 4), done here rather than by gorilla's Dialer so that the frames a server
// sends right after its 101 answer, already read into the HTTP reader's
// buffer, are handed to the connection's own frame reader (wsReader)
// instead of being lost in gorilla's.

// wsAcceptGUID is the RFC's constant of Sec-WebSocket-Accept.
const wsAcceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgradeAnswer bounds the bytes read of a refused upgrade's body.
const upgradeAnswer = 64 << 10

// upgrade opens a TCP connection to rawURL (ws://host[:port]/path?query)
// and upgrades it to a WebSocket by deadline. It returns the connection and
// the bytes the server sent after its answer. A refused upgrade is a
// *RefusedError with the protocol's error code of its body.
func (d *Dialer) upgrade(ctx context.Context, rawURL string, deadline time.Time) (*net.TCPConn, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket url %q: %w", rawURL, err)
	}
	if u.Scheme != "ws" {
		return nil, nil, fmt.Errorf("websocket url %q: scheme %q (the generator speaks ws only)", rawURL, u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := d.dialTCP(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, nil, errors.New("not a TCP connection")
	}
	stop := context.AfterFunc(ctx, func() { _ = tc.SetDeadline(time.Now()) }) // cancellation ends the exchange
	rest, err := handshakeHTTP(tc, u, deadline)
	if !stop() || ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		tc.Close()
		var re *RefusedError
		if errors.As(err, &re) {
			return nil, nil, re
		}
		return nil, nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, rest, nil
}

// handshakeHTTP sends the upgrade request for u on conn and reads the
// answer.
func handshakeHTTP(conn *net.TCPConn, u *url.URL, deadline time.Time) ([]byte, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	_ = conn.SetDeadline(deadline)
	// The headers gorilla's Dialer wrote.
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: Go-http-client/1.1\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, refusal(resp.StatusCode, io.NopCloser(io.LimitReader(resp.Body, upgradeAnswer)))
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !headerHas(resp.Header, "Connection", "upgrade") {
		return nil, errors.New("websocket: bad handshake: the answer does not upgrade to websocket")
	}
	sum := sha1.Sum([]byte(key + wsAcceptGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, errors.New("websocket: bad handshake: wrong Sec-WebSocket-Accept")
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return nil, fmt.Errorf("websocket: bad handshake: extension %q was not asked for", ext)
	}
	rest, _ := br.Peek(br.Buffered())
	return append([]byte(nil), rest...), nil
}

// headerHas reports whether a comma-separated header lists token.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
