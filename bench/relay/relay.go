// Package relay is the floor the benchmarks compare pairpad with: a bare
// Socket.IO v4 room relay over the WebSocket transport. It speaks exactly
// as much of the protocol as the load generator uses (the Engine.IO open,
// the namespace CONNECT, events, a sync answer) and nothing else: no NATS,
// no validation, no persistence, no limits. A code-update gets the room's
// next version number, a code-ack to its sender and a broadcast to the
// other members; a cursor-update is broadcast; sync answers the room's
// text. A fullCode update is relayed as sent and becomes the text; an ops
// update (the crowd's deltaFormat) is transformed over the ops the room
// applied since its base version and applied to the text, the least any
// server of concurrent ops must do for its clients to converge (a fullCode
// floor would send the whole document to every member on each keystroke).
// The REST calls the generator makes (create a session, join it) are
// answered locally; a handshake for a session created elsewhere opens its
// room, so several relays can share a load whose sessions each stay on one.
//
// Its latency is what a room broadcast costs in Go on the same machine, so
// a pairpad figure can be read as a ratio to it.
package relay

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// writeTimeout bounds one frame's write to a member that stopped reading.
const writeTimeout = 10 * time.Second

// Server is the relay: rooms by session id, and the connections it holds.
type Server struct {
	up websocket.Upgrader

	mu     sync.Mutex
	rooms  map[string]*room
	peers  map[*peer]struct{}
	closed bool
	wg     sync.WaitGroup // one per connection's reader
	nextID atomic.Uint64
}

// keepOps is how many of the last ops a room keeps to transform a
// concurrent ops update over: one based on an older version is refused.
const keepOps = 4096

// room is one session: its members, its text and the ops it applied last.
type room struct {
	mu      sync.Mutex // held while a broadcast is written: members see one order
	members map[*peer]struct{}
	version int64
	code    string
	// ops[i] made version opsFrom+i+1; a fullCode update starts them over.
	ops     []ot.Op
	opsFrom int64
}

// peer is one member's WebSocket.
type peer struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	session string
	user    string
}

// New returns a relay with no rooms.
func New() *Server {
	return &Server{
		up: websocket.Upgrader{ReadBufferSize: 0, WriteBufferSize: 0, WriteBufferPool: &sync.Pool{},
			CheckOrigin: func(*http.Request) bool { return true }},
		rooms: map[string]*room{},
		peers: map[*peer]struct{}{},
	}
}

// Handler serves /readyz, the two REST calls and /socket.io/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /api/sessions", s.create)
	mux.HandleFunc("POST /api/sessions/{id}/join", s.join)
	mux.HandleFunc("GET /socket.io/", s.socket)
	return mux
}

// Close ends every connection and waits for their readers.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for p := range s.peers {
		_ = p.ws.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": code, "message": msg, "statusCode": status})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Language protocol.Language `json:"language"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "the body is not a JSON object: "+err.Error())
		return
	}
	id := newID()
	s.mu.Lock()
	s.rooms[id] = &room{members: map[*peer]struct{}{}}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, protocol.Session{ID: id, CreatedAt: time.Now().UTC(), Language: body.Language,
		Status: protocol.StatusActive})
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var body protocol.JoinRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "the body is not a JSON object: "+err.Error())
		return
	}
	id := r.PathValue("id")
	if s.room(id) == nil {
		writeError(w, http.StatusNotFound, "SESSION_NOT_FOUND", "no session "+id)
		return
	}
	writeJSON(w, http.StatusOK, protocol.JoinResponse{SessionID: id, UserID: body.UserID, Token: "relay",
		Role: protocol.RoleCandidate})
}

func (s *Server) room(id string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

// socket upgrades a Socket.IO v4 WebSocket-transport handshake.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" || q.Get("transport") != "websocket" {
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "only EIO=4 over transport=websocket")
		return
	}
	id := q.Get("sessionId")
	if id == "" {
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "sessionId is required")
		return
	}
	since := int64(-1)
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "since must be an integer ≥ 0")
			return
		}
		since = n
	}
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	p := &peer{ws: ws, session: id, user: q.Get("userId")}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	// A session another relay created opens its room here: several relays
	// side by side (the floor of idle50k) each hold the sessions whose
	// members dial them.
	rm := s.rooms[id]
	if rm == nil {
		rm = &room{members: map[*peer]struct{}{}}
		s.rooms[id] = rm
	}
	s.peers[p] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.serve(p, rm, since) // the handler returns: net/http frees the request
}

func (s *Server) serve(p *peer, rm *room, since int64) {
	defer s.wg.Done()
	defer func() {
		rm.mu.Lock()
		delete(rm.members, p)
		rm.mu.Unlock()
		s.mu.Lock()
		delete(s.peers, p)
		s.mu.Unlock()
		_ = p.ws.Close()
	}()
	sid := strconv.FormatUint(s.nextID.Add(1), 36)
	if p.write([]byte(`0{"sid":"`+sid+`","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)) != nil {
		return
	}
	for {
		_, data, err := p.ws.ReadMessage()
		if err != nil {
			return
		}
		switch {
		case len(data) == 0:
		case data[0] == '1': // Engine.IO close
			return
		case data[0] == '3' || data[0] == '2': // pong, or a client ping we need not answer over websocket
		case len(data) >= 2 && data[0] == '4' && data[1] == '0':
			if !s.connect(p, rm, sid, since) {
				return
			}
		case len(data) >= 2 && data[0] == '4' && data[1] == '1':
			return
		case len(data) >= 2 && data[0] == '4' && data[1] == '2':
			if !s.event(p, rm, data[2:]) {
				return
			}
		default:
			if !p.sendError("INVALID_PAYLOAD", "not a Socket.IO packet this relay handles") {
				return
			}
		}
	}
}

// connect answers the namespace CONNECT and sends connected (and, when the
// client resumes from a version the relay cannot replay, sync).
func (s *Server) connect(p *peer, rm *room, sid string, since int64) bool {
	if p.write([]byte(`40{"sid":"`+sid+`"}`)) != nil {
		return false
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.members[p] = struct{}{}
	st := protocol.Sync{Code: rm.code, Version: rm.version, Language: "javascript"}
	if !p.emit(protocol.TypeConnected, "", protocol.Connected{SessionID: p.session, UserID: p.user,
		Role: protocol.RoleCandidate, ConnectedAt: time.Now().UnixMilli(), Sync: st}) {
		return false
	}
	if since >= 0 && since != rm.version {
		return p.emit(protocol.TypeSync, "", st)
	}
	return true
}

// event decodes one 42[name, arg] packet and relays it.
func (s *Server) event(p *peer, rm *room, data []byte) bool {
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil || len(items) == 0 {
		return p.sendError("INVALID_PAYLOAD", "an event is a JSON array starting with its name")
	}
	var name string
	if err := json.Unmarshal(items[0], &name); err != nil {
		return p.sendError("INVALID_PAYLOAD", "the event name is not a string")
	}
	var env struct {
		Payload json.RawMessage `json:"payload"`
	}
	if len(items) > 1 {
		if err := json.Unmarshal(items[1], &env); err != nil {
			return p.sendError("INVALID_PAYLOAD", "the event argument is not an envelope")
		}
	}
	switch name {
	case protocol.TypeCodeUpdate:
		var u protocol.CodeUpdate
		if err := json.Unmarshal(env.Payload, &u); err != nil {
			return p.sendError("INVALID_PAYLOAD", "code-update: "+err.Error())
		}
		rm.mu.Lock()
		defer rm.mu.Unlock()
		delta, err := rm.apply(u)
		if err != nil {
			return p.sendError("INVALID_PAYLOAD", "code-update: "+err.Error())
		}
		out := protocol.CodeUpdate{Delta: delta, Version: rm.version, OpID: u.OpID}
		ok := p.emit(protocol.TypeCodeAck, p.user, protocol.CodeAck{Version: rm.version, OpID: u.OpID})
		rm.broadcast(p, protocol.TypeCodeUpdate, out)
		return ok
	case protocol.TypeCursorUpdate:
		rm.mu.Lock()
		defer rm.mu.Unlock()
		rm.broadcast(p, protocol.TypeCursorUpdate, env.Payload)
		return true
	case protocol.TypeSync:
		rm.mu.Lock()
		defer rm.mu.Unlock()
		return p.emit(protocol.TypeSync, "", protocol.Sync{Code: rm.code, Version: rm.version, Language: "javascript"})
	}
	return true // anything else is not relayed
}

// apply makes u the room's next version and returns the delta to relay:
// a fullCode as sent, ops transformed over those applied since u's base.
// rm.mu is held.
func (rm *room) apply(u protocol.CodeUpdate) (protocol.Delta, error) {
	if u.Delta.FullCode != nil {
		rm.version++
		rm.code = *u.Delta.FullCode
		rm.ops, rm.opsFrom = rm.ops[:0], rm.version
		return u.Delta, nil
	}
	op, err := ot.Decode(u.Delta.Ops)
	if err != nil {
		return protocol.Delta{}, err
	}
	if u.Version < rm.opsFrom || u.Version > rm.version {
		return protocol.Delta{}, fmt.Errorf("version %d is outside the %d..%d this relay can transform over", u.Version, rm.opsFrom, rm.version)
	}
	for _, done := range rm.ops[u.Version-rm.opsFrom:] {
		if _, op, err = ot.Transform(done, op); err != nil { // what the room applied first wins ties
			return protocol.Delta{}, err
		}
	}
	code, err := ot.Apply(rm.code, op)
	if err != nil {
		return protocol.Delta{}, err
	}
	raw, err := json.Marshal(op)
	if err != nil {
		return protocol.Delta{}, err
	}
	rm.version++
	rm.code = code
	if len(rm.ops) == keepOps {
		rm.ops = append(rm.ops[:0], rm.ops[keepOps/2:]...)
		rm.opsFrom += keepOps / 2
	}
	rm.ops = append(rm.ops, op)
	return protocol.Delta{Ops: raw}, nil
}

// broadcast sends one event from p to every other member; rm.mu is held.
// A member whose write fails is closed (its reader then leaves the room).
func (rm *room) broadcast(from *peer, typ string, payload any) {
	frame, err := frameOf(typ, from.session, from.user, payload)
	if err != nil {
		return
	}
	for m := range rm.members {
		if m != from && m.write(frame) != nil {
			_ = m.ws.Close()
		}
	}
}

func frameOf(typ, session, user string, payload any) ([]byte, error) {
	raw, ok := payload.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return nil, err
		}
	}
	env, err := json.Marshal(protocol.Envelope{Type: typ, SessionID: session, UserID: user, Payload: raw,
		Timestamp: time.Now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 0, len(env)+len(typ)+8)
	frame = append(frame, `42[`...)
	frame = strconv.AppendQuote(frame, typ)
	frame = append(append(append(frame, ','), env...), ']')
	return frame, nil
}

// emit sends one event to p alone; false when the write failed.
func (p *peer) emit(typ, user string, payload any) bool {
	frame, err := frameOf(typ, p.session, user, payload)
	return err == nil && p.write(frame) == nil
}

func (p *peer) sendError(code, msg string) bool {
	return p.emit(protocol.TypeError, "", map[string]string{"error": code, "message": msg})
}

func (p *peer) write(frame []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return p.ws.WriteMessage(websocket.TextMessage, frame)
}
