package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// editor is a simulated user's copy of the document: the usual OT client
// (synchronized, awaiting an ack, awaiting an ack with a buffer), so its
// text converges with the server's. Each user types into its own line,
// "// <userId>: abc...", cycling through an alphabet so that no two
// consecutive characters repeat (a repeat would make a fullCode diff
// ambiguous), and clears the line when it gets long, so documents stay small.
//
// In fullCode mode the update sent is the whole text; the op kept as
// outstanding is then ot.Diff(server, text), exactly what the server derives
// from it, and a received fullCode replaces the known server text outright.
//
// In legacy mode there are no acks to wait for: every edit is sent at once
// with the last version seen, and a received fullCode replaces the text.
//
// An editor is not safe for concurrent use; its user holds a mutex.
type editor struct {
	ops    bool // deltaFormat=ops (else fullCode)
	legacy bool
	tag    string

	rev    int64  // the server version the editor is synchronized with
	server string // the server's text at rev
	text   string // server + outstanding + buffer

	outstanding ot.Op  // sent, not acknowledged; nil when none
	outOpID     string // its opId
	buffer      ot.Op  // edited since, not sent; nil when none
	dirty       bool   // legacy: edited since the last send
	next        int    // alphabet position
}

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// maxTyped is how long a user's line grows before it is cleared.
const maxTyped = 40

// Sentinel errors of the editor.
var (
	// errGap is a code-update or ack whose version skips one.
	errGap = errors.New("code-update out of order")
	// errStaleAck is an ack for no outstanding update: one dropped by a
	// resynchronization. Harmless.
	errStaleAck = errors.New("code-ack for no outstanding update")
)

func newEditor(userID string, ops, legacy bool) *editor {
	return &editor{ops: ops, legacy: legacy, tag: "// " + userID + ":"}
}

// reset adopts the server state of connected or sync, dropping anything
// pending (a refused update, or a resynchronization).
func (e *editor) reset(code string, version int64) {
	e.rev, e.server, e.text = version, code, code
	e.outstanding, e.outOpID, e.buffer = nil, "", nil
}

// pending reports whether an update waits for its ack.
func (e *editor) pending() bool { return e.outstanding != nil }

// edit types one character (or clears the line) into the local text.
func (e *editor) edit() error {
	op := e.nextOp()
	text, err := ot.Apply(e.text, op)
	if err != nil {
		return fmt.Errorf("local edit: %w", err)
	}
	e.text = text
	if e.legacy {
		e.server, e.dirty = text, true
		return nil
	}
	if e.buffer == nil {
		e.buffer = op
		return nil
	}
	if e.buffer, err = ot.Compose(e.buffer, op); err != nil {
		return fmt.Errorf("buffer edit: %w", err)
	}
	return nil
}

// nextOp is the keystroke: append a character to the user's line, start the
// line, or clear it.
func (e *editor) nextOp() ot.Op {
	c := alphabet[e.next%len(alphabet) : e.next%len(alphabet)+1]
	e.next++
	i := strings.Index(e.text, e.tag)
	if i < 0 {
		prefix := ""
		if e.text != "" && !strings.HasSuffix(e.text, "\n") {
			prefix = "\n"
		}
		return ot.Op{ot.Retain(u16(e.text)), ot.Insert(prefix + e.tag + " " + c + "\n")}.Normalize()
	}
	start := i + len(e.tag) + 1 // after "tag "
	start = min(start, len(e.text))
	end := strings.IndexByte(e.text[start:], '\n')
	if end < 0 {
		end = len(e.text)
	} else {
		end += start
	}
	if end-start >= maxTyped {
		return ot.Op{ot.Retain(u16(e.text[:start])), ot.Insert(c), ot.Delete(u16(e.text[start:end])),
			ot.Retain(u16(e.text[end:]))}.Normalize()
	}
	return ot.Op{ot.Retain(u16(e.text[:end])), ot.Insert(c), ot.Retain(u16(e.text[end:]))}.Normalize()
}

func u16(s string) int { return ot.UTF16Len(s) }

// take returns the update to send now, if any: the buffer, when nothing
// is outstanding (always, in legacy mode).
func (e *editor) take(opID string) (protocol.CodeUpdate, bool, error) {
	if e.legacy {
		if !e.dirty {
			return protocol.CodeUpdate{}, false, nil
		}
		e.dirty = false
		code := e.text
		return protocol.CodeUpdate{Delta: protocol.Delta{FullCode: &code}, Version: e.rev, OpID: opID}, true, nil
	}
	if e.outstanding != nil || e.buffer == nil {
		return protocol.CodeUpdate{}, false, nil
	}
	op := e.buffer
	e.buffer = nil
	upd := protocol.CodeUpdate{Version: e.rev, OpID: opID}
	if e.ops {
		raw, err := json.Marshal(op)
		if err != nil {
			return protocol.CodeUpdate{}, false, fmt.Errorf("encode ops: %w", err)
		}
		upd.Delta.Ops = raw
	} else {
		full, err := ot.Apply(e.server, op)
		if err != nil {
			return protocol.CodeUpdate{}, false, fmt.Errorf("fullCode: %w", err)
		}
		op = ot.Diff(e.server, full) // what the server will derive
		upd.Delta.FullCode = &full
	}
	e.outstanding, e.outOpID = op, opID
	return upd, true, nil
}

// resend returns the outstanding update again, with its opId, against the
// version the editor holds now: what a reconnected client sends.
func (e *editor) resend() (protocol.CodeUpdate, error) {
	upd := protocol.CodeUpdate{Version: e.rev, OpID: e.outOpID}
	if e.ops {
		raw, err := json.Marshal(e.outstanding)
		if err != nil {
			return protocol.CodeUpdate{}, fmt.Errorf("encode ops: %w", err)
		}
		upd.Delta.Ops = raw
		return upd, nil
	}
	full, err := ot.Apply(e.server, e.outstanding)
	if err != nil {
		return protocol.CodeUpdate{}, fmt.Errorf("fullCode: %w", err)
	}
	upd.Delta.FullCode = &full
	return upd, nil
}

// ack records the server's acknowledgement of the outstanding update.
func (e *editor) ack(a protocol.CodeAck) error {
	if e.legacy {
		e.rev = max(e.rev, a.Version)
		return nil
	}
	if e.outstanding == nil || a.OpID != e.outOpID {
		return fmt.Errorf("%w: %d %q", errStaleAck, a.Version, a.OpID)
	}
	if a.Version != e.rev+1 {
		return fmt.Errorf("%w: ack for version %d after %d", errGap, a.Version, e.rev)
	}
	server, err := ot.Apply(e.server, e.outstanding)
	if err != nil {
		return fmt.Errorf("apply acknowledged update: %w", err)
	}
	e.rev, e.server = a.Version, server
	e.outstanding, e.outOpID = nil, ""
	return nil
}

// remote applies another user's update, transformed over what is pending.
func (e *editor) remote(u protocol.CodeUpdate) error {
	if e.legacy {
		if u.Delta.FullCode != nil && u.Version >= e.rev {
			e.rev, e.server, e.text = u.Version, *u.Delta.FullCode, *u.Delta.FullCode
		}
		return nil
	}
	if u.Version <= e.rev {
		return nil // already in the state a sync answer gave
	}
	if u.Version != e.rev+1 {
		return fmt.Errorf("%w: version %d after %d", errGap, u.Version, e.rev)
	}
	var op ot.Op
	var server string
	switch {
	case u.Delta.FullCode != nil:
		server = *u.Delta.FullCode
		if e.outstanding == nil && e.buffer == nil && e.text == e.server {
			// Nothing pending: onTop would apply the diff from the
			// server text to that very text, which gives the new
			// server text (most receipts of the heavy interview).
			e.rev, e.server, e.text = u.Version, server, server
			return nil
		}
		op = ot.Diff(e.server, server)
	case u.Delta.Ops != nil:
		var err error
		if op, err = ot.Decode(u.Delta.Ops); err != nil {
			return fmt.Errorf("remote ops: %w", err)
		}
		if server, err = ot.Apply(e.server, op); err != nil {
			return fmt.Errorf("apply remote ops: %w", err)
		}
	default:
		return errors.New("code-update without a delta")
	}
	return e.onTop(op, server, u.Version)
}

// catchUp takes the state of a sync the editor did not ask for: a server
// catching up a reader that lagged behind replaces the updates it had
// queued by one sync. Without an outstanding update the editor moves onto
// it, the buffer (not sent yet) rebased on top: the difference from the
// server text it holds is one remote update. With one, resync is true and
// nothing changes: the server applies the outstanding update over the
// updates the sync stands for, which a diff cannot reproduce exactly, so
// the caller asks for a sync, answered after that update.
func (e *editor) catchUp(code string, version int64) (resync bool, err error) {
	if e.legacy {
		if version >= e.rev {
			e.rev, e.server, e.text = version, code, code
		}
		return false, nil
	}
	if e.outstanding != nil {
		return true, nil
	}
	if version <= e.rev {
		return false, nil
	}
	return false, e.onTop(ot.Diff(e.server, code), code, version)
}

// onTop applies op, the server's move from e.server to server (at
// version), keeping what is pending on top of it.
func (e *editor) onTop(op ot.Op, server string, version int64) error {
	var err error
	if e.outstanding != nil {
		// The server applied op first: it wins ties.
		if op, e.outstanding, err = ot.Transform(op, e.outstanding); err != nil {
			return fmt.Errorf("transform over outstanding: %w", err)
		}
	}
	if e.buffer != nil {
		if op, e.buffer, err = ot.Transform(op, e.buffer); err != nil {
			return fmt.Errorf("transform over buffer: %w", err)
		}
	}
	text, err := ot.Apply(e.text, op)
	if err != nil {
		return fmt.Errorf("apply transformed remote: %w", err)
	}
	e.rev, e.server, e.text = version, server, text
	return nil
}
