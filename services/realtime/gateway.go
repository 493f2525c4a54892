package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime/internal/wsconn"
	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/protocol"
)

// slot is the connection slot a handshake holds for its client's address:
// the handler releases it when it returns (done), unless it has handed it
// to the connection's goroutine (hand), which releases it when the
// connection ends.
type slot struct {
	ip      string
	release func()
	handed  bool
}

// hand passes the slot on and returns its release.
func (sl *slot) hand() func() {
	sl.handed = true
	return sl.release
}

// done releases the slot unless it was handed on.
func (sl *slot) done() {
	if !sl.handed {
		sl.release()
	}
}

// takeSlot takes a connection slot for r's client and checks that NATS is
// there; a refusal is answered on w at once, and ok is false.
func (s *Service) takeSlot(w http.ResponseWriter, r *http.Request) (sl *slot, ok bool) {
	ip := s.clientIP(r)
	release, err := s.slots.take(ip)
	if err != nil {
		s.refuse(w, err)
		return nil, false
	}
	if err := s.natsDown(); err != nil {
		release()
		s.refuse(w, err) // rather than a handshake that waits for NATS
		return nil, false
	}
	return &slot{ip: ip, release: release}, true
}

// handlePlain serves GET /ws: every check runs before the upgrade, so a
// refusal is a plain HTTP answer with the protocol's error body.
func (s *Service) handlePlain() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r, "/ws")
		if !websocket.IsWebSocketUpgrade(r) {
			s.refuse(w, protocol.Errorf(protocol.CodeInvalidRequest, "GET /ws expects a WebSocket upgrade"))
			return
		}
		sl, ok := s.takeSlot(w, r)
		if !ok {
			return
		}
		defer sl.done()
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WSHandshakeTimeout)
		a, err := s.admit(ctx, handshakeFrom(r))
		cancel()
		if err != nil {
			s.refuse(w, err)
			return
		}
		ws, err := s.upgrader.Upgrade(w, r, nil)
		if err != nil {
			a.cancel(s) // the upgrader answered the client
			return
		}
		go s.serveAndRelease(newClient(&s.clients, ws, wsconn.Plain{}, newID(), sl.ip), a, sl.hand())
	})
}

// handleSocketIO serves GET /socket.io/: Engine.IO 4 over WebSocket only.
// The transport is checked before the upgrade; the session checks wait for
// the CONNECT packet and are answered with CONNECT_ERROR, which
// socket.io-client reports as connect_error with err.data.error the code.
func (s *Service) handleSocketIO() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r, sio.Path)
		if r.Method != http.MethodGet {
			s.refuse(w, protocol.Errorf(protocol.CodeInvalidRequest,
				"Only the websocket transport is supported (no HTTP long-polling): connect with transports: [\"websocket\"]"))
			return
		}
		if err := sio.CheckHandshake(r.URL.Query()); err != nil {
			s.refuse(w, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err))
			return
		}
		if !websocket.IsWebSocketUpgrade(r) {
			s.refuse(w, protocol.Errorf(protocol.CodeInvalidRequest,
				"Only the websocket transport is supported: this request is not a WebSocket upgrade"))
			return
		}
		sl, ok := s.takeSlot(w, r)
		if !ok {
			return
		}
		defer sl.done()
		ws, err := s.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := newClient(&s.clients, ws, wsconn.SocketIO{}, newID(), sl.ip)
		a, err := s.sioHandshake(r, c)
		if err != nil {
			err = handshakeFailure(err)
			if protocol.ErrorCode(err) == protocol.CodeInternal {
				s.log.Error("handshake failed", "err", err)
			}
			s.metrics.refused("handshake", err)
			_ = c.ws.WriteNow(sio.EncodeConnectError(sio.MainNamespace, err))
			c.ws.Refuse(websocket.CloseNormalClosure, "connection refused")
			return
		}
		c.ws.Send(wsconn.Frame{Data: sio.EncodeConnect(sio.MainNamespace, c.id)})
		go s.serveAndRelease(c, a, sl.hand())
	})
}

// sioHandshake sends the Engine.IO open packet and admits the CONNECT that
// must follow within WS_HANDSHAKE_TIMEOUT.
func (s *Service) sioHandshake(r *http.Request, c *client) (*admission, error) {
	ping := s.cfg.PresenceTimeout / 3
	if err := c.ws.WriteNow(sio.OpenPacket(newID(), ping, ping, s.cfg.WSMaxFrameBytes)); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(s.cfg.WSHandshakeTimeout)
	for {
		mt, data, err := c.ws.ReadBefore(deadline)
		if err != nil {
			return nil, protocol.Wrap(protocol.CodeInvalidRequest, "No CONNECT packet arrived in time", err)
		}
		h, ok, reply, err := connectFrame(handshakeFrom(r), mt, data)
		switch {
		case err != nil:
			return nil, err
		case reply != nil:
			_ = c.ws.WriteNow(reply)
		case ok:
			ctx, cancel := context.WithDeadline(r.Context(), deadline)
			defer cancel()
			return s.admit(ctx, h)
		}
	}
}

// connectFrame looks at one frame a Socket.IO client sent before its
// CONNECT. ok reports the CONNECT to the main namespace, whose auth object
// completed h; reply answers a CONNECT to another namespace; pongs, noops
// and garbage are ignored until the deadline; any other packet first is
// INVALID_REQUEST, as is an auth object that is not one.
func connectFrame(h handshake, mt int, data []byte) (out handshake, ok bool, reply []byte, err error) {
	if mt != websocket.TextMessage {
		return h, false, nil, nil
	}
	p, err := sio.Parse(data)
	if err != nil || p.EIO != sio.EIOMessage {
		return h, false, nil, nil
	}
	if p.Type != sio.TypeConnect {
		return h, false, nil, protocol.Errorf(protocol.CodeInvalidRequest, "The first Socket.IO packet must be CONNECT")
	}
	if p.Namespace != sio.MainNamespace {
		return h, false, sio.EncodeConnectError(p.Namespace, "Invalid namespace"), nil
	}
	if err := h.mergeAuth(p.Data); err != nil {
		return h, false, nil, err
	}
	return h, true, nil, nil
}

// serveAndRelease is the goroutine of an upgraded connection: the HTTP
// handler returns right after the upgrade, so the request, its headers and
// the handler's deep stack are not kept for the connection's lifetime. It
// joins the connection to its room, then starts its reader and ends: the
// join's deep calls grow a stack that an idle reader would otherwise keep.
// The reader is the epoll poller's (WS_READER=epoll: no goroutine while
// the connection is idle) or a goroutine of its own; when it ends, the
// connection leaves (leave) and releases its slot, which is what Shutdown
// waits for.
func (s *Service) serveAndRelease(c *client, a *admission, release func()) {
	if !s.join(c, a) {
		s.left(c)
		release()
		return
	}
	// From here the client is all the connection keeps: the admission
	// is not held while it is idle.
	c.ws.Start(2*(s.cfg.PresenceTimeout/3), c.handleFrame, func(reason string) {
		defer release()
		defer s.left(c)
		if reason != "" {
			c.setReason(reason)
		}
		s.leave(c, c.rm)
	})
}

// join starts an admitted, upgraded connection: its writer, its presence
// entry, connected (and the replay) in the room. false: the session ended
// between admission and join, and the connection is closed.
func (s *Service) join(c *client, a *admission) bool {
	rm := a.rm
	c.ident, c.rm, c.notes = a.ident, rm, a.notes
	s.metrics.connections.WithLabelValues(c.ws.Framing().Name()).Inc()
	var pre replayed
	if since := c.ident.Since; since >= 0 {
		pre = rm.prefetchReplay(since)
	}
	c.ws.StartWriter(s.cfg.PresenceTimeout / 3)
	// The entry is durable before the client hears connected, so whoever
	// connects after it, on any instance, finds it present.
	c.lastSeen = s.now().UnixMilli() // before the room has c: nobody else reads it yet
	s.putPresence(c, c.presenceEntry(c.lastSeen))
	if err := rm.join(c, pre); err != nil {
		s.removePresence(c, protocol.LeftDisconnect)
		reason := protocol.EndedDeleted
		if protocol.ErrorCode(err) == protocol.CodeSessionEnded {
			reason = protocol.EndedByHost
		}
		c.sendEvent(newEvent(protocol.TypeSessionEnded, rm.id, "", protocol.SessionEnded{Reason: reason}, s.now()))
		c.closeAfterQueue(websocket.CloseNormalClosure, "session ended", protocol.LeftDisconnect, c.ws.Framing().Farewell()...)
		<-c.ws.WriteDone()
		return false
	}
	if s.slots.isDraining() {
		c.closeAfterQueue(websocket.CloseServiceRestart, "service restart", protocol.LeftDisconnect)
	}
	s.log.Debug("connected", "conn_id", c.id, "session_id", rm.id, "user_id", c.ident.UserID, "framing", c.ws.Framing().Name())
	return true
}

// leave ends a joined connection once its reader has ended: it leaves
// the room.
func (s *Service) leave(c *client, rm *room) {
	if n := c.dropQueued(); n > 0 {
		s.metrics.droppedEvents.Add(float64(n))
	}
	c.subWG.Wait() // the event being handled when the client went completes, as before it left

	reason := c.leaveReason()
	rm.leave(c, reason)
	s.removePresence(c, reason)
	s.toucher.request(rm) // the idle clock starts when people leave, not at their last keystroke
	<-c.ws.WriteDone()
	s.log.Debug("disconnected", "conn_id", c.id, "session_id", rm.id, "reason", reason)
}

// left releases what an admitted connection held: its room, the notes, the
// connection gauge.
func (s *Service) left(c *client) {
	if c.notes {
		c.rm.releaseNotes()
	}
	s.hub.release(c.rm)
	s.metrics.connections.WithLabelValues(c.ws.Framing().Name()).Dec()
}

// refuse answers a handshake before any upgrade with the protocol's body.
func (s *Service) refuse(w http.ResponseWriter, err error) {
	err = handshakeFailure(err)
	if protocol.ErrorCode(err) == protocol.CodeInternal {
		s.log.Error("handshake failed", "err", err)
	}
	s.metrics.refused("handshake", err)
	switch protocol.ErrorCode(err) {
	case protocol.CodeServiceUnavailable, protocol.CodeTooManyConnections:
		w.Header().Set("Retry-After", "1")
	case protocol.CodeRateLimited:
		w.Header().Set("Retry-After", retryAfter(err))
	}
	httpx.WriteError(w, err)
}

// retryAfter is a rate refusal's details.retryAfterMs in whole seconds,
// at least 1, for the Retry-After header.
func retryAfter(err error) string {
	var pe *protocol.Error
	secs := int64(1)
	if errors.As(err, &pe) {
		if ms, ok := pe.Details["retryAfterMs"].(int64); ok {
			secs = max(1, (ms+999)/1000)
		}
	}
	return strconv.FormatInt(secs, 10)
}

// upgradeError answers what the upgrader itself refuses (a bad WebSocket
// handshake) in the protocol's shape.
func (s *Service) upgradeError(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	code := protocol.CodeInvalidRequest
	if status == http.StatusMethodNotAllowed {
		code = protocol.CodeMethodNotAllowed
	}
	s.refuse(w, protocol.Errorf(code, "WebSocket handshake: %v", reason))
}

// newID returns a random id usable as a NATS key token.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
