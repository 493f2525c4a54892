package document

import (
	"sync/atomic"
	"unsafe"

	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// histLimits bound one session's window of recent updates. The window
// serves stale submissions (transform), fullCode submissions (the text at
// their version), since replays and the hashes of recent versions. It is
// bounded by versions and by bytes (see entrySize); the engine's
// DOC_MEMORY_BUDGET bounds the sum over its sessions (Engine.trim).
type histLimits struct {
	versions int // versions kept
	bytes    int // bytes kept: the base text, the texts kept and the updates
	every    int // a text is kept every this many versions
	// recent is how many of the newest versions keep their text as well:
	// a fullCode update is nearly always based on one of them, and
	// rebuilding its base from the last checkpoint re-applied up to every-1
	// ops per update (9 % of the server's CPU in the interview benchmark).
	recent int
}

// defaultHistLimits keep at most 1024 versions and 1 MiB per session: for
// a 2 KiB document about 16 + 2 texts and the updates.
var defaultHistLimits = histLimits{versions: 1024, bytes: 1 << 20, every: 64, recent: 2}

// replayMaxBytes bounds the texts (Applied.Code) one replay may build.
const replayMaxBytes = 32 << 20

// history is the window of recent updates: entries[i] has version
// baseVersion+1+i, base is the text at baseVersion.
type history struct {
	lim         histLimits
	base        string
	baseVersion int64
	entries     []histEntry
	// bytes is what the window holds (entrySize of each entry, plus the
	// base text while there are entries: without them it is the session's
	// current text); total is the engine's sum over its sessions, nil once
	// the session released its window.
	bytes int
	total *atomic.Int64
	slack int // bytes of entries' capacity beyond its length, in bytes
}

type histEntry struct {
	a       Applied // Code is set only when hasCode
	hasCode bool
}

// appliedSize is what an entry costs beyond its strings and ops.
const appliedSize = int(unsafe.Sizeof(histEntry{}))

// entrySize is the memory an entry holds (the session id is shared).
func entrySize(he histEntry) int {
	n := appliedSize + opBytes(he.a.Ops) + len(he.a.UserID) + len(he.a.OpID) + len(he.a.ConnID) + len(he.a.Hash)
	if he.hasCode {
		n += len(he.a.Code)
	}
	return n
}

// reset starts an empty window at text (version); total is the engine's
// counter (nil in unit tests).
func (h *history) reset(lim histLimits, text string, version int64, total *atomic.Int64) {
	h.account(-h.bytes)
	*h = history{lim: lim, base: text, baseVersion: version, total: total}
}

// clear empties the window, keeping only the current text (version).
func (h *history) clear(text string, version int64) {
	h.reset(h.lim, text, version, h.total)
}

// release gives the window's bytes back to the engine for good.
func (h *history) release(text string, version int64) {
	h.clear(text, version)
	h.total = nil
}

// account adds d to the window's bytes and the engine's total.
func (h *history) account(d int) {
	h.bytes += d
	if h.total != nil {
		h.total.Add(int64(d))
	}
}

// push appends the update a (with its full Code) and evicts old versions.
func (h *history) push(a Applied) {
	he := histEntry{a: a, hasCode: true}
	if h.lim.recent == 0 && !h.checkpoint(a.Version) {
		he.hasCode, he.a.Code = false, ""
	}
	d := entrySize(he)
	if len(h.entries) == 0 {
		d += len(h.base)
	}
	h.entries = append(h.entries, he)
	if i := len(h.entries) - 1 - h.lim.recent; h.lim.recent > 0 && i >= 0 && !h.checkpoint(h.entries[i].a.Version) && h.entries[i].hasCode {
		// No longer among the newest: only checkpoints keep their text.
		d -= len(h.entries[i].a.Code)
		h.entries[i].hasCode, h.entries[i].a.Code = false, ""
	}
	h.account(d)
	h.fitSlack()
	if len(h.entries) > h.lim.versions+h.lim.every || h.bytes > h.lim.bytes {
		h.evict()
	}
}

// evict drops the oldest versions up to an entry that kept its text, so
// the new base is a text we already hold and eviction never re-applies
// ops: the first one that brings the window within both bounds, else the
// newest one.
func (h *history) evict() {
	drop, left := -1, 0
	rest := h.bytes - len(h.base) - h.slack // the entries' bytes
	for i, he := range h.entries {
		rest -= entrySize(he)
		if !he.hasCode {
			continue
		}
		drop, left = i, rest
		if i < len(h.entries)-1 {
			left += len(he.a.Code) // the new base
		}
		if len(h.entries)-(i+1) <= h.lim.versions && left <= h.lim.bytes {
			break
		}
	}
	if drop < 0 {
		return
	}
	h.base, h.baseVersion = h.entries[drop].a.Code, h.entries[drop].a.Version
	h.entries = append([]histEntry(nil), h.entries[drop+1:]...)
	h.account(left - h.bytes)
	h.slack = 0
	h.fitSlack()
}

// shrink drops all but the newest keep versions when the text before them
// is held (the newest versions keep theirs, see recent), else all of them:
// what the engine does to the least recently active windows when it is
// over its memory budget. text is the current text, at version.
func (h *history) shrink(keep int, text string, version int64) {
	i := len(h.entries) - keep - 1
	if i < 0 {
		return
	}
	if !h.entries[i].hasCode {
		h.clear(text, version)
		return
	}
	rest := 0
	for _, he := range h.entries[i+1:] {
		rest += entrySize(he)
	}
	if keep > 0 {
		rest += len(h.entries[i].a.Code)
	}
	h.base, h.baseVersion = h.entries[i].a.Code, h.entries[i].a.Version
	h.entries = append([]histEntry(nil), h.entries[i+1:]...)
	h.account(rest - h.bytes)
	h.slack = 0
	h.fitSlack()
}

// fitSlack counts the entries' spare capacity, which append doubles.
func (h *history) fitSlack() {
	n := (cap(h.entries) - len(h.entries)) * appliedSize
	h.account(n - h.slack)
	h.slack = n
}

// checkpoint reports whether version v keeps its text for as long as it is
// in the window.
func (h *history) checkpoint(v int64) bool {
	return v%int64(h.lim.every) == 0
}

// componentSize is what one component of an op costs besides its text.
const componentSize = int(unsafe.Sizeof(ot.Component{}))

func opBytes(o ot.Op) int {
	n := componentSize * cap(o)
	for _, c := range o {
		n += len(c.S)
	}
	return n
}

// holds reports whether the window can give the text at version v
// (current is the session's newest version).
func (h *history) holds(v, current int64) bool {
	return v >= h.baseVersion && v <= current
}

// after returns the updates after version v (which holds must accept).
func (h *history) after(v int64) []histEntry {
	return h.entries[v-h.baseVersion:]
}

// find returns the version of the update (user, op) among the updates
// after version v (current is the session's newest) that the window
// holds.
func (h *history) find(v, current int64, user, op string) (int64, bool) {
	if v >= current {
		return 0, false
	}
	for _, he := range h.entries[max(v, h.baseVersion)-h.baseVersion:] {
		if he.a.OpID == op && he.a.UserID == user {
			return he.a.Version, true
		}
	}
	return 0, false
}

// lenAt returns the UTF-16 length of the text at version v < current: the
// base length of the op that followed it.
func (h *history) lenAt(v int64) int {
	return h.entries[v-h.baseVersion].a.Ops.BaseLen()
}

// textAt rebuilds the text at version v from the nearest checkpoint.
func (h *history) textAt(v int64) (string, error) {
	text, at := h.base, h.baseVersion
	for i := v - h.baseVersion - 1; i >= 0; i-- {
		if h.entries[i].hasCode {
			text, at = h.entries[i].a.Code, h.entries[i].a.Version
			break
		}
	}
	for _, he := range h.entries[at-h.baseVersion : v-h.baseVersion] {
		t, err := ot.Apply(text, he.a.Ops)
		if err != nil {
			return "", err
		}
		text = t
	}
	return text, nil
}

// replay returns the updates since+1..upto (upto <= current, the
// session's newest version) with their texts, or false when the window
// does not reach back to since, since is past upto, upto is past current,
// or the texts would exceed replayMaxBytes (the client then takes a full
// sync).
func (h *history) replay(since, upto, current int64) ([]Applied, bool) {
	if since == upto && upto <= current {
		return nil, true
	}
	if since > upto || upto > current || !h.holds(since, current) {
		return nil, false
	}
	t, err := h.textAt(since)
	if err != nil {
		return nil, false
	}
	ents := h.entries[since-h.baseVersion : upto-h.baseVersion]
	out := make([]Applied, 0, len(ents))
	size := 0
	for _, he := range ents {
		a := he.a
		if !he.hasCode {
			if a.Code, err = ot.Apply(t, a.Ops); err != nil {
				return nil, false
			}
		}
		if a.Hash == "" {
			a.Hash = protocol.DocumentHash(a.Code) // a version integrated while loading
		}
		t = a.Code
		if size += len(t); size > replayMaxBytes {
			return nil, false
		}
		out = append(out, a)
	}
	return out, true
}

// hashAt returns the hash of the text at version v, a version the window
// holds before current, or "" when it no longer holds it.
func (h *history) hashAt(v, current int64) string {
	if v >= current || !h.holds(v, current) {
		return ""
	}
	if v > h.baseVersion {
		if he := h.entries[v-h.baseVersion-1]; he.a.Hash != "" {
			return he.a.Hash
		}
	}
	t, err := h.textAt(v)
	if err != nil {
		return ""
	}
	return protocol.DocumentHash(t)
}

// internMax bounds the ids an interner remembers; past it, it starts over.
const internMax = 256

// interner hands out one copy of each string it has seen.
type interner map[string]string

func (n *interner) intern(s string) string {
	if c, ok := (*n)[s]; ok {
		return c
	}
	if *n == nil || len(*n) >= internMax {
		*n = interner{}
	}
	(*n)[s] = s
	return s
}
