package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// Dial opens a connection and, except in legacy mode, waits for the
// connected event, which it returns. A refusal is a *RefusedError.
func Dial(ctx context.Context, d *Dialer, clock Clock, cfg ConnConfig) (*Conn, Event, error) {
	u, err := connURL(cfg)
	if err != nil {
		return nil, Event{}, err
	}
	deadline := time.Now().Add(d.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	nc, rest, err := d.upgrade(ctx, u, deadline)
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			return nil, Event{}, err
		}
		return nil, Event{}, fmt.Errorf("dial %s: %w", cfg.URL, err)
	}
	raw, err := nc.SyscallConn()
	if err != nil {
		nc.Close()
		return nil, Event{}, fmt.Errorf("dial %s: %w", cfg.URL, err)
	}
	c := &Conn{nc: nc, raw: raw, rd: newWSReader(d.reads), framing: cfg.Framing, session: cfg.SessionID, clock: clock,
		loops: d.loops, polled: d.loops != nil,
		done: make(chan struct{}), queue: make(chan []byte, sendQueue), quit: make(chan struct{}), writer: make(chan struct{})}
	if len(rest) > 0 {
		// The server's first frames, read with its answer.
		c.rd.filled(copy(c.rd.space(), rest))
	}
	deadline = time.Now().Add(d.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = nc.SetReadDeadline(deadline)
	ev, err := c.handshake(cfg)
	if err != nil {
		c.rd.release()
		nc.Close()
		return nil, Event{}, err
	}
	_ = nc.SetReadDeadline(time.Time{})
	c.rd.idle()
	return c, ev, nil
}

// connURL builds the handshake URL of cfg.
func connURL(cfg ConnConfig) (string, error) {
	base, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil {
		return "", fmt.Errorf("websocket url %q: %w", cfg.URL, err)
	}
	q := url.Values{}
	q.Set("sessionId", cfg.SessionID)
	q.Set("userId", cfg.UserID)
	q.Set("userName", cfg.UserName)
	if !cfg.Legacy {
		if cfg.DeltaFormat != "" {
			q.Set("deltaFormat", cfg.DeltaFormat)
		}
		if cfg.Resume {
			q.Set("since", strconv.FormatInt(cfg.Since, 10))
		}
		if cfg.Framing == FramingPlain && cfg.Token != "" {
			q.Set("token", cfg.Token)
		}
	}
	switch cfg.Framing {
	case FramingPlain:
		base.Path += "/ws"
	case FramingSocketIO:
		base.Path += "/socket.io/"
		q.Set("EIO", "4")
		q.Set("transport", "websocket")
	default:
		return "", fmt.Errorf("unknown framing %q", cfg.Framing)
	}
	base.RawQuery = q.Encode()
	return base.String(), nil
}

// refusal reads the protocol error body of a refused upgrade.
func refusal(status int, body io.ReadCloser) error {
	defer body.Close()
	var b struct {
		Error string `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	if json.Unmarshal(raw, &b) != nil || b.Error == "" {
		b.Error = fmt.Sprintf("HTTP_%d", status)
	}
	return &RefusedError{Status: status, Code: b.Error}
}

// handshake reads until the connection is usable: the connected event, or
// in legacy Socket.IO the CONNECT answer.
func (c *Conn) handshake(cfg ConnConfig) (Event, error) {
	connectSent := false
	for {
		data, err := c.readMessage()
		if err != nil {
			return Event{}, fmt.Errorf("handshake: %w", err)
		}
		if c.framing == FramingPlain {
			env, err := decodeEnvelope("", data)
			if err != nil {
				return Event{}, err
			}
			if ev := c.event(env); ev.Type == protocol.TypeConnected {
				return ev, nil
			} else if ev.Type == protocol.TypeError {
				return Event{}, &RefusedError{Code: errorCode(ev.Payload)}
			}
			continue
		}
		f, err := ParseServerFrame(data)
		if err != nil {
			return Event{}, err
		}
		switch f.Kind {
		case FrameOpen:
			if connectSent {
				continue
			}
			var auth any
			if !cfg.Legacy && cfg.Token != "" {
				auth = map[string]string{"token": cfg.Token}
			}
			frame, err := EncodeConnect(auth)
			if err != nil {
				return Event{}, err
			}
			if err := c.write(frame); err != nil {
				return Event{}, err
			}
			connectSent = true
		case FramePing:
			if err := c.write([]byte(PongFrame)); err != nil {
				return Event{}, err
			}
		case FrameConnectError:
			return Event{}, &RefusedError{Code: ConnectErrorCode(f.Data)}
		case FrameConnect:
			if cfg.Legacy {
				return Event{}, nil
			}
		case FrameClose, FrameDisconnect:
			return Event{}, errors.New("handshake: the server closed the session")
		case FrameEvent:
			env, err := decodeEnvelope(f.Name, f.Arg)
			if err != nil {
				return Event{}, err
			}
			if ev := c.event(env); ev.Type == protocol.TypeConnected {
				return ev, nil
			}
		}
	}
}

func (c *Conn) event(env envelope) Event {
	return Event{Type: env.Type, SessionID: env.SessionID, UserID: env.UserID, Payload: env.Payload, At: c.clock.Now(),
		decoded: env.decoded, code: env.code}
}

// errorCode returns the code of an error event's payload.
func errorCode(payload json.RawMessage) string {
	code, _ := errorWhich(payload)
	return code
}

// errorWhich returns the code of an error event's payload and which limit
// or event it names (details.limit, else details.type), if any.
func errorWhich(payload json.RawMessage) (code, which string) {
	var p struct {
		Error   string `json:"error"`
		Details struct {
			Limit any `json:"limit"`
			Type  any `json:"type"`
		} `json:"details"`
	}
	if json.Unmarshal(payload, &p) != nil || p.Error == "" {
		return "UNKNOWN_ERROR", ""
	}
	for _, v := range []any{p.Details.Limit, p.Details.Type} {
		if s, ok := v.(string); ok && s != "" {
			return p.Error, s
		}
	}
	return p.Error, ""
}

// readMessage reads the next data message before Run, waiting for the
// socket, and answers the control frames before it. The message is the
// caller's.
func (c *Conn) readMessage() ([]byte, error) {
	for {
		op, payload, ok, err := c.rd.next()
		if err != nil {
			return nil, err
		}
		if ok {
			switch op {
			case opText, opBinary:
				return append([]byte(nil), payload...), nil
			case opPing:
				if err := c.writeFrame(clientFrame(opPong, payload)); err != nil {
					return nil, err
				}
			case opClose:
				_ = c.writeFrame(clientFrame(opClose, closeEcho(payload)))
				return nil, closeError(payload)
			}
			continue
		}
		buf := c.rd.space()
		n, err := c.nc.Read(buf)
		c.rd.filled(n)
		if err != nil {
			return nil, err
		}
	}
}
