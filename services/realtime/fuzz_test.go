package realtime

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/pairpad/pairpad/services/realtime/internal/wsconn"
	"github.com/pairpad/pairpad/services/realtime/sio"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/token"
)

// Fuzz targets of what a client controls before and after the handshake:
// every frame (both framings, every event type), the handshake query and
// the Socket.IO CONNECT auth object. They check properties, not only the
// absence of panics: a refusal carries one of the protocol's codes for
// that stage, and whatever is accepted means what the client sent.
// Seeds: testdata/fuzz/<Target>; run with, for example,
// go test -run '^$' -fuzz '^FuzzDecodeFrame$' -fuzztime 60s -fuzzminimizetime 3s .

const (
	fuzzSID    = "6a1f0a34-0cf6-4c1e-9a57-3c8e3b1b2d4f"
	fuzzSecret = "fuzz-secret"
)

// fuzzNow is the fuzzers' clock: fixed, so a seed's token never expires.
var fuzzNow = time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)

// frameCodes are the refusals a client frame may get from decoding.
var frameCodes = map[protocol.Code]bool{
	protocol.CodeInvalidPayload: true, protocol.CodeInvalidSession: true,
	protocol.CodeInvalidLanguage: true, protocol.CodeDocumentTooLarge: true, protocol.CodePayloadTooLarge: true,
}

// handshakeCodes are the refusals of a handshake's parameters.
var handshakeCodes = map[protocol.Code]bool{
	protocol.CodeInvalidRequest: true, protocol.CodeSessionNotFound: true, protocol.CodeUnauthorized: true,
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []struct {
		sio   bool
		frame string
	}{
		{false, `{"type":"code-update","payload":{"delta":{"fullCode":"hi"},"version":0,"opId":"a1"}}`},
		{false, `{"type":"code-update","sessionId":"` + fuzzSID + `","payload":{"delta":{"ops":[2,"x",-1]},"version":3}}`},
		{false, `{"type":"cursor-update","payload":{"position":{"line":1,"column":4},"selection":{"start":{"line":0,"column":0},"end":{"line":1,"column":4}}}}`},
		{false, `{"type":"language-changed","payload":"python"}`},
		{false, `{"type":"language-changed","payload":{"language":"typescript"}}`},
		{false, `{"type":"sync"}`},
		{false, `{"type":"notes-update","payload":{"delta":{"fullCode":"strong hire"},"version":0,"opId":"n1"}}`},
		{true, `42["notes-update",{"delta":{"ops":[3,"!"]},"version":2}]`},
		{false, `{"type":"run-output","payload":{"runId":"r1","language":"python","stdout":"4\n","stderr":"","exitCode":0,"durationMs":12}}`},
		{true, `42["run-output",{"runId":"r2","language":"go","stdout":"","stderr":"panic","exitCode":2,"durationMs":0}]`},
		{false, `{"type":"code-update","sessionId":"other","payload":{}}`},
		{false, `{not json`},
		{true, `42["code-update",{"payload":{"delta":{"fullCode":"😀"},"version":1,"opId":"b"}}]`},
		{true, `421["language-changed","python"]`},
		{true, `42["cursor-update",{"position":{"line":0,"column":0}}]`},
		{true, `42["sync"]`},
		{true, `3`},
		{true, `41`},
		{true, `42/admin,["sync"]`},
		{false, `{"type":"code-update","payload":{"delta":{"fullCode":"hi"},"version":0,"opId":"k\ud800"}}`},
		{false, `{"type":"code-update","payload":{"delta":{"fullCode":"hi"},"version":0,"opId":"k\udc00"}}`},
		{true, `42["code-update",{"delta":{"fullCode":"hi"},"version":0,"opId":"k\ud83d\ude00"}]`},
		{false, "{\"type\":\"code-update\",\"payload\":{\"delta\":{\"fullCode\":\"hi\"},\"version\":0,\"opId\":\"k\xff\"}}"},
	} {
		f.Add(s.sio, false, []byte(s.frame))
	}
	f.Fuzz(func(t *testing.T, useSIO, binary bool, data []byte) {
		var fr wsconn.Framing = wsconn.Plain{}
		if useSIO {
			fr = wsconn.SocketIO{}
		}
		mt := websocket.TextMessage
		if binary {
			mt = websocket.BinaryMessage
		}
		in, err := decodeFrame(fr, mt, data, fuzzSID)
		if in.ackID != nil {
			checkAck(t, fr, *in.ackID, err)
		}
		if err != nil {
			checkRefusal(t, frameCodes, err)
			pe := asError(t, err)
			if in.env.Type != "" && pe.Details["type"] != protocol.Truncate(in.env.Type, maxTypeEcho) {
				t.Fatalf("refusal of a %q event has details %v", in.env.Type, pe.Details)
			}
			// details.opId, when there, names the refused update, nothing else.
			if id, ok := pe.Details["opId"]; ok && (id != probeOpID(in.env) || id == "") {
				t.Fatalf("refusal of %q has details.opId %q", data, id)
			}
			return
		}
		if in.kind != inEvent {
			return
		}
		if in.env.SessionID != "" && in.env.SessionID != fuzzSID {
			t.Fatalf("accepted an envelope of session %q", in.env.SessionID)
		}
		if in.ev.typ != in.env.Type {
			t.Fatalf("event type %q from envelope type %q", in.ev.typ, in.env.Type)
		}
		checkEvent(t, fr, in.env.Payload, in.ev)
	})
}

// checkEvent: an accepted event re-encodes to a payload that decodes to the
// same value, that value is what a plain JSON reading of the client's
// payload says, and the event the server would send on is well framed.
func checkEvent(t *testing.T, fr wsconn.Framing, payload json.RawMessage, ev clientEvent) {
	t.Helper()
	var out any
	switch ev.typ {
	case protocol.TypeRunOutput:
		again, err := protocol.DecodeRunOutput(mustJSON(t, ev.run))
		if err != nil || again != ev.run || !ev.run.Language.Valid() || ev.run.RunID == "" || ev.run.DurationMs < 0 ||
			ev.run.UserID != "" || ev.run.Timestamp != 0 || len(payload) > protocol.MaxRunOutputBytes {
			t.Fatalf("run-output %s accepted as %+v, re-decoded %+v, %v", payload, ev.run, again, err)
		}
		out = ev.run
	case protocol.TypeCodeUpdate, protocol.TypeNotesUpdate:
		again, err := protocol.DecodeCodeUpdate(mustJSON(t, ev.code))
		if err != nil || !sameCodeUpdate(again, ev.code) {
			t.Fatalf("code-update %+v re-encoded decodes to %+v, %v", ev.code, again, err)
		}
		var plain struct {
			Delta struct {
				FullCode *string `json:"fullCode"`
			} `json:"delta"`
			Version json.Number `json:"version"`
			OpID    *string     `json:"opId"`
		}
		if err := json.Unmarshal(payload, &plain); err != nil {
			t.Fatalf("accepted code-update %s is not plain JSON: %v", payload, err)
		}
		if v, err := strconv.ParseInt(plain.Version.String(), 10, 64); err != nil || v != ev.code.Version || v < 0 {
			t.Fatalf("version %q accepted as %d", plain.Version, ev.code.Version)
		}
		if plain.OpID != nil && *plain.OpID != ev.code.OpID || utf8Len(ev.code.OpID) > protocol.MaxOpIDLen {
			t.Fatalf("opId %v accepted as %q", plain.OpID, ev.code.OpID)
		}
		if rewritten(payload, ev.code.OpID) {
			t.Fatalf("opId of %s accepted as %q: decoding rewrote it", payload, ev.code.OpID)
		}
		if (ev.code.Delta.FullCode == nil) == (len(ev.code.Delta.Ops) == 0) {
			t.Fatalf("code-update %s accepted with a delta of neither or both kinds", payload)
		}
		if ev.code.Delta.FullCode != nil && (plain.Delta.FullCode == nil || *plain.Delta.FullCode != *ev.code.Delta.FullCode) {
			t.Fatalf("fullCode %v accepted as %q", plain.Delta.FullCode, *ev.code.Delta.FullCode)
		}
		if len(ev.code.Delta.Ops) > 0 && ev.code.Delta.Ops[0] != '[' {
			t.Fatalf("ops %s accepted: not an array", ev.code.Delta.Ops)
		}
		out = protocol.CodeAck{Version: ev.code.Version, OpID: ev.code.OpID}
	case protocol.TypeCursorUpdate:
		again, err := protocol.DecodeCursorUpdate(mustJSON(t, ev.cursor))
		if err != nil || !reflect.DeepEqual(again, ev.cursor) {
			t.Fatalf("cursor %+v re-encoded decodes to %+v, %v", ev.cursor, again, err)
		}
		for _, p := range positions(ev.cursor) {
			if p.Line < 0 || p.Column < 0 || p.Line > protocol.MaxCursorValue || p.Column > protocol.MaxCursorValue {
				t.Fatalf("cursor %+v accepted", ev.cursor)
			}
		}
		var plain struct {
			Position struct{ Line, Column json.Number } `json:"position"`
		}
		if err := json.Unmarshal(payload, &plain); err != nil || plain.Position.Line.String() != strconv.Itoa(ev.cursor.Position.Line) &&
			plain.Position.Line.String() != "-0" {
			t.Fatalf("position %+v accepted as %+v (%v)", plain.Position, ev.cursor.Position, err)
		}
		out = ev.cursor
	case protocol.TypeLanguageChanged:
		again, err := protocol.DecodeLanguage(mustJSON(t, ev.lang))
		if err != nil || again != ev.lang || !ev.lang.Valid() {
			t.Fatalf("language %q accepted, re-decoded %q, %v", ev.lang, again, err)
		}
		out = ev.lang
	case protocol.TypeSync:
		out = protocol.Sync{Users: []protocol.User{}}
	default:
		t.Fatalf("accepted an event of type %q", ev.typ)
	}
	// What the server sends on (the relayed cursor, the language, an ack…)
	// is one valid frame of the connection's framing.
	e := newEvent(ev.typ, fuzzSID, "user", out, fuzzNow)
	checkOutFrame(t, fr, ev.typ, e.Frame(fr))
}

// checkOutFrame: a server frame is a JSON envelope (plain) or an EVENT
// whose name is the envelope's type (Socket.IO).
func checkOutFrame(t *testing.T, fr wsconn.Framing, typ string, frame []byte) {
	t.Helper()
	env := frame
	if fr.Kind() == wsconn.KindSocketIO {
		p, err := sio.Parse(frame)
		if err != nil {
			t.Fatalf("server frame %q does not parse: %v", frame, err)
		}
		name, args, err := sio.Event(p)
		if err != nil || name != typ || len(args) != 1 {
			t.Fatalf("server frame %q: event %q %d args, %v", frame, name, len(args), err)
		}
		env = args[0]
	}
	var e protocol.Envelope
	if err := json.Unmarshal(env, &e); err != nil || e.Type != typ || e.SessionID != fuzzSID {
		t.Fatalf("server envelope %s: %+v, %v", env, e, err)
	}
}

// checkAck: a Socket.IO acknowledgement is an ACK packet with the id, whose
// one argument is the error payload when the event was refused.
func checkAck(t *testing.T, fr wsconn.Framing, id int64, err error) {
	t.Helper()
	frame := fr.Ack(id, err)
	p, perr := sio.Parse(frame)
	if perr != nil || p.Type != sio.TypeAck || p.AckID == nil || *p.AckID != id {
		t.Fatalf("ack %q for id %d: %+v, %v", frame, id, p, perr)
	}
}

// checkRefusal: err is a protocol error with one of codes and a message.
func checkRefusal(t *testing.T, codes map[protocol.Code]bool, err error) {
	t.Helper()
	pe := asError(t, err)
	if !codes[pe.Code] || pe.Message == "" {
		t.Fatalf("refusal %v: code %s not among %v, or no message", err, pe.Code, codes)
	}
	b, merr := json.Marshal(protocol.PayloadOf(err))
	if merr != nil || !json.Valid(b) {
		t.Fatalf("error payload of %v does not encode: %v", err, merr)
	}
}

func asError(t *testing.T, err error) *protocol.Error {
	t.Helper()
	pe, ok := err.(*protocol.Error)
	if !ok {
		t.Fatalf("refusal %T %v is not a *protocol.Error", err, err)
	}
	return pe
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %+v: %v", v, err)
	}
	return b
}

func sameCodeUpdate(a, b protocol.CodeUpdate) bool {
	if a.Version != b.Version || a.OpID != b.OpID || (a.Delta.FullCode == nil) != (b.Delta.FullCode == nil) {
		return false
	}
	if a.Delta.FullCode != nil && *a.Delta.FullCode != *b.Delta.FullCode {
		return false
	}
	return bytes.Equal(a.Delta.Ops, b.Delta.Ops)
}

func positions(c protocol.CursorUpdate) []protocol.Position {
	if c.Selection == nil {
		return []protocol.Position{c.Position}
	}
	return []protocol.Position{c.Position, c.Selection.Start, c.Selection.End}
}

func utf8Len(s string) int { return len([]rune(s)) }

// fuzzService is a Service with only what the handshake checks read.
func fuzzService(anonymous bool) *Service {
	return &Service{cfg: config.Config{TokenSecret: []byte(fuzzSecret), WSAllowAnonymous: anonymous},
		now: func() time.Time { return fuzzNow }}
}

// fuzzToken signs claims with the fuzzers' secret, expiring exp seconds
// after fuzzNow (negative: already expired).
func fuzzToken(sid, uid, name string, exp int64) string {
	return token.Sign([]byte(fuzzSecret), token.Claims{SessionID: sid, UserID: uid, UserName: name, Expiry: fuzzNow.Unix() + exp})
}

func FuzzHandshakeQuery(f *testing.F) {
	tok := fuzzToken(fuzzSID, "alice", "Alice", 3600)
	for _, q := range []string{
		"sessionId=" + fuzzSID + "&token=" + tok,
		"sessionId=" + fuzzSID + "&userId=alice&token=" + tok + "&since=3&deltaFormat=ops",
		"sessionId=" + fuzzSID + "&userId=bob&token=" + tok,
		"sessionId=" + fuzzSID + "&userId=guest&userName=%20Guest%20",
		"sessionId=nope&token=x",
		"userId=u&since=-1&deltaFormat=xml",
		"sessionId=" + fuzzSID + "&since=99999999999999999999",
		"%zz&sessionId=" + fuzzSID,
	} {
		f.Add(q, false, false, "", "", "", int64(0))
		f.Add(q, true, false, "", "", "", int64(0))
	}
	f.Add("sessionId="+fuzzSID, false, true, fuzzSID, "alice", "Alice", int64(60))
	f.Add("sessionId="+fuzzSID+"&userId=alice", false, true, fuzzSID, "alice", "", int64(-1))
	f.Add("sessionId="+fuzzSID, false, true, "6a1f0a34-0cf6-4c1e-9a57-000000000000", "alice", "Alice", int64(60))
	f.Fuzz(func(t *testing.T, rawQuery string, anonymous, sign bool, sid, uid, name string, exp int64) {
		r := &http.Request{URL: &url.URL{RawQuery: rawQuery}, Header: http.Header{}, Host: "example"}
		h := handshakeFrom(r)
		if sign {
			h.Token = fuzzToken(sid, uid, name, exp)
		}
		checkIdentify(t, fuzzService(anonymous), h)
	})
}

func FuzzConnectAuth(f *testing.F) {
	tok := fuzzToken(fuzzSID, "dora", "Dora", 3600)
	for _, frame := range []string{
		`40{"sessionId":"` + fuzzSID + `","token":"` + tok + `","since":0}`,
		`40{"sessionId":"` + fuzzSID + `","userId":"dora","token":"` + tok + `","since":"7","deltaFormat":"ops"}`,
		`40{"token":42}`,
		`40{"since":1.5,"sessionId":null}`,
		`40[1,2]`,
		`40`,
		`40/admin,{"token":"x"}`,
		`42["sync"]`,
		`3`,
		`40{"sessionId":"` + fuzzSID + `","userId":"eve","token":"` + tok + `"}`,
		`40{"sessionId":"` + fuzzSID + `","userId":"d\ud800","token":"` + tok + `"}`,
		`40{"sessionId":"` + fuzzSID + `","userId":"d\udc00"}`,
		`40{"sessionId":"` + fuzzSID + `","userName":"D\ud83d\ude00"}`,
	} {
		f.Add("sessionId="+fuzzSID, false, []byte(frame))
		f.Add("", true, []byte(frame))
	}
	f.Fuzz(func(t *testing.T, rawQuery string, anonymous bool, frame []byte) {
		r := &http.Request{URL: &url.URL{RawQuery: rawQuery}, Header: http.Header{}, Host: "example"}
		h, ok, reply, err := connectFrame(handshakeFrom(r), websocket.TextMessage, frame)
		if reply != nil {
			p, perr := sio.Parse(reply)
			if perr != nil || p.Type != sio.TypeConnectError || p.Namespace == sio.MainNamespace {
				t.Fatalf("reply %q to %q: %+v, %v", reply, frame, p, perr)
			}
		}
		if err != nil {
			checkRefusal(t, map[protocol.Code]bool{protocol.CodeInvalidRequest: true}, err)
			return
		}
		if !ok {
			return
		}
		// The auth object's string fields win over the query.
		p, _ := sio.Parse(frame)
		var auth map[string]any
		if len(p.Data) > 0 && json.Unmarshal(p.Data, &auth) == nil {
			got := map[string]string{"sessionId": h.SessionID, "userId": h.UserID, "userName": h.UserName,
				"token": h.Token, "since": h.Since, "deltaFormat": h.DeltaFormat}
			for k, v := range auth {
				want, isString := v.(string)
				if have, known := got[k]; known && isString && have != want {
					t.Fatalf("auth %s=%q, handshake has %q", k, want, have)
				}
				if have, known := got[k]; known && isString && rewritten(p.Data, have) {
					t.Fatalf("auth %s of %s accepted as %q: decoding rewrote it", k, p.Data, have)
				}
			}
		}
		checkIdentify(t, fuzzService(anonymous), h)
	})
}

// checkIdentify: identify refuses with a handshake code, the same message
// for every bad token; what it accepts is a valid identity that the token
// (or, anonymous, the query) vouches for.
func checkIdentify(t *testing.T, s *Service, h handshake) {
	t.Helper()
	id, err := s.identify(h)
	if err != nil {
		checkRefusal(t, handshakeCodes, err)
		if pe := asError(t, err); pe.Code == protocol.CodeUnauthorized && h.Token != "" && pe.Message != errBadToken {
			t.Fatalf("a bad token is refused with %q, not the one message for every bad token", pe.Message)
		}
		return
	}
	if id.SessionID != h.SessionID || !protocol.ValidSessionID(id.SessionID) {
		t.Fatalf("session %q accepted as %q", h.SessionID, id.SessionID)
	}
	if err := protocol.ValidateUserID(id.UserID); err != nil {
		t.Fatalf("user id %q accepted: %v", id.UserID, err)
	}
	if n, err := protocol.NormalizeUserName(id.UserName); err != nil || n != id.UserName {
		t.Fatalf("user name %q accepted (%q, %v)", id.UserName, n, err)
	}
	if _, ok := parseDeltaFormat(h.DeltaFormat); !ok {
		t.Fatalf("deltaFormat %q accepted", h.DeltaFormat)
	}
	switch want, err := strconv.ParseInt(h.Since, 10, 64); {
	case h.Since == "" && id.Since != -1:
		t.Fatalf("no since, accepted as %d", id.Since)
	case h.Since != "" && (err != nil || want != id.Since || want < 0):
		t.Fatalf("since %q accepted as %d", h.Since, id.Since)
	}
	if h.Token == "" {
		if !s.cfg.WSAllowAnonymous || id.UserID != h.UserID {
			t.Fatalf("no token, anonymous %v: accepted as %q", s.cfg.WSAllowAnonymous, id.UserID)
		}
		return
	}
	c, err := token.Verify(s.cfg.TokenSecret, h.Token, s.now())
	if err != nil {
		t.Fatalf("a token that does not verify was accepted: %v", err)
	}
	if c.SessionID != id.SessionID || c.UserID != id.UserID || (h.UserID != "" && h.UserID != c.UserID) {
		t.Fatalf("token for %s/%s opened %s/%s (asked for user %q)", c.SessionID, c.UserID, id.SessionID, id.UserID, h.UserID)
	}
	if c.UserName != "" {
		if n, _ := protocol.NormalizeUserName(c.UserName); n != id.UserName {
			t.Fatalf("token name %q shown as %q", c.UserName, id.UserName)
		}
	}
}

// rewritten reports whether s holds a U+FFFD that raw, the JSON it was
// read from, did not send as one: decoding made it from invalid UTF-8 or a
// lone surrogate escape.
func rewritten(raw []byte, s string) bool {
	return strings.ContainsRune(s, utf8.RuneError) && !bytes.Contains(raw, []byte("\uFFFD")) &&
		!bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
}
