package document

import (
	"encoding/binary"
	"math"
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
	// ids bounds the users and connections the window names, maxIDs when
	// 0 (tests lower it).
	ids int
}

// defaultHistLimits keep at most DefaultWindowVersions (Options.
// WindowVersions) and 1 MiB per session: for a 2 KiB document the base, 2
// checkpoints, the newest 2 texts and the updates, some 27 KB
// (BenchmarkWindowMemory; 195 KB at the 1024 versions it used to keep with
// wider entries).
var defaultHistLimits = histLimits{versions: DefaultWindowVersions, bytes: 1 << 20, every: 64, recent: 2}

// replayMaxBytes bounds the texts (Applied.Code) one replay may build.
const replayMaxBytes = 32 << 20

// history is the window of recent updates: entries[i] has version
// baseVersion+1+i, base is the text at baseVersion.
//
// The window is the largest thing a loaded instance keeps (up to
// DOC_MEMORY_BUDGET), and the garbage collector marks all of it every
// cycle: so each entry is flat. Its opId and op live in the window's arena,
// one noscan byte slice, its user and connection are indexes into ids, and
// its hash is a number; its only pointer is the text a checkpoint keeps. An update used to cost four or five heap objects for as
// long as it stayed in the window (opId, hash, op, inserted text).
type history struct {
	lim         histLimits
	sid         string // the session's id, for the Applied it rebuilds
	base        string
	baseVersion int64
	entries     []histEntry
	arena       []byte   // every entry's opId and encoded op, in order
	ids         []string // the user and connection ids the entries name
	// bytes is what the window holds (entrySize of each entry, plus the
	// base text while there are entries: without them it is the session's
	// current text); total is the engine's sum over its sessions, nil once
	// the session released its window.
	bytes int
	total *atomic.Int64
	slack int // bytes of entries' and arena's capacity beyond their length
}

// histEntry is one update of the window. Its fields are as narrow as their bounds allow (56 bytes, was 72): an
// opId is at most protocol.MaxOpIDLen characters (256 bytes), and a window
// names fewer than maxIDs users and connections (two per entry at most,
// and it holds at most lim.versions+lim.every+1 entries, DOC_WINDOW_VERSIONS
// is at most 16384; push starts the window over otherwise).
type histEntry struct {
	code       string // the text after it, set only when hasCode
	timestamp  int64
	hash       uint64 // protocol.DocumentHash's value, when hasHash
	baseLen    uint32 // UTF-16 length of the text before it
	off        uint32 // its bytes in the arena: the opId, then the op
	opLen      uint32 // bytes of the encoded op
	comps      uint32 // components of the op
	user, conn uint16 // in ids
	opIDLen    uint16
	hasCode    bool
	hasHash    bool
}

// maxIDs bounds the ids one window names (histEntry.user and conn).
const maxIDs = 1 << 16

// appliedSize is what an entry costs beyond its bytes in the arena and its
// text.
const appliedSize = int(unsafe.Sizeof(histEntry{}))

// entrySize is the memory an entry holds (the ids are shared, and few).
func entrySize(he histEntry) int {
	n := appliedSize + int(he.opIDLen) + int(he.opLen)
	if he.hasCode {
		n += len(he.code)
	}
	return n
}

// reset starts an empty window at text (version); total is the engine's
// counter (nil in unit tests).
func (h *history) reset(lim histLimits, text string, version int64, total *atomic.Int64) {
	h.account(-h.bytes)
	*h = history{lim: lim, sid: h.sid, base: text, baseVersion: version, total: total}
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
	h.sid = a.SessionID
	ids := h.lim.ids
	if ids == 0 {
		ids = maxIDs
	}
	if len(h.ids) > ids-2 || len(a.OpID) > math.MaxUint16 {
		// Beyond what an entry can name: start over at a (never reached
		// within the limits above, see histEntry).
		h.clear(a.Code, a.Version)
		return
	}
	he := histEntry{code: a.Code, timestamp: a.Timestamp, baseLen: uint32(a.Ops.BaseLen()), off: uint32(len(h.arena)),
		opIDLen: uint16(len(a.OpID)), comps: uint32(len(a.Ops)), user: h.id(a.UserID), conn: h.id(a.ConnID), hasCode: true}
	he.hash, he.hasHash = parseHash(a.Hash)
	h.arena = append(h.arena, a.OpID...)
	n := len(h.arena)
	h.arena = appendOp(h.arena, a.Ops)
	he.opLen = uint32(len(h.arena) - n)
	if h.lim.recent == 0 && !h.checkpoint(a.Version) {
		he.hasCode, he.code = false, ""
	}
	d := entrySize(he)
	if len(h.entries) == 0 {
		d += len(h.base)
	}
	h.entries = append(h.entries, he)
	if i := len(h.entries) - 1 - h.lim.recent; h.lim.recent > 0 && i >= 0 && !h.checkpoint(h.version(i)) && h.entries[i].hasCode {
		// No longer among the newest: only checkpoints keep their text.
		d -= len(h.entries[i].code)
		h.entries[i].hasCode, h.entries[i].code = false, ""
	}
	h.account(d)
	h.fitSlack()
	if len(h.entries) > h.lim.versions+h.lim.every || h.bytes > h.lim.bytes {
		h.evict()
	}
}

// id returns the index of s in ids, adding it if needed. A session has a
// few users and connections, and the newest are at the end.
func (h *history) id(s string) uint16 {
	for i := len(h.ids) - 1; i >= 0; i-- {
		if h.ids[i] == s {
			return uint16(i)
		}
	}
	h.ids = append(h.ids, s)
	return uint16(len(h.ids) - 1)
}

// version is the version of entries[i].
func (h *history) version(i int) int64 {
	return h.baseVersion + 1 + int64(i)
}

// evict drops the oldest versions up to an entry that kept its text, so
// the new base is a text we already hold and eviction never re-applies
// ops: the newest one that keeps at least lim.versions versions, so a
// client that many versions behind is always served; further when the
// bytes bound needs it (up to the newest one). push evicts once the window
// holds lim.versions+lim.every versions, so it holds between lim.versions
// and that many (a checkpoint every lim.every versions).
func (h *history) evict() {
	drop, left := -1, 0
	rest := h.bytes - len(h.base) - h.slack // the entries' bytes
	for i, he := range h.entries {
		rest -= entrySize(he)
		if !he.hasCode {
			continue
		}
		if drop >= 0 && left <= h.lim.bytes && len(h.entries)-(i+1) < h.lim.versions {
			break // dropping through i would keep too few versions
		}
		drop, left = i, rest
		if i < len(h.entries)-1 {
			left += len(he.code) // the new base
		}
	}
	if drop < 0 {
		return
	}
	// Room for the pushes until the next eviction (lim.versions+lim.every+1
	// entries), so that append does not double the slices past it: a
	// quarter of a window's bytes was capacity beyond its length.
	kept := len(h.entries) - (drop + 1)
	h.dropThrough(drop, left, max(kept, min(h.lim.versions, kept)+h.lim.every+1))
}

// dropThrough makes entries[i]'s text (which it keeps) the new base and
// keeps the entries after it, whose bytes (with the base's, when any entry
// is left) are left, with capacity for room entries (and their share of
// the arena).
func (h *history) dropThrough(i, left, room int) {
	h.base, h.baseVersion = h.entries[i].code, h.version(i)
	kept := h.entries[i+1:]
	entries := make([]histEntry, len(kept), room)
	var arena []byte
	var ids []string
	if len(kept) > 0 {
		first := kept[0].off
		n := len(h.arena) - int(first)
		arena = make([]byte, n, n+n/len(kept)*(room-len(kept)))
		copy(arena, h.arena[first:])
		old := h.ids
		h.ids = nil // rebuilt with the ids the kept entries name
		for j, he := range kept {
			he.off -= first
			he.user, he.conn = h.id(old[he.user]), h.id(old[he.conn])
			entries[j] = he
		}
		ids = h.ids
	}
	h.entries, h.arena, h.ids = entries, arena, ids
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
		rest += len(h.entries[i].code)
	}
	h.dropThrough(i, rest, keep)
}

// fitSlack counts the entries' and the arena's spare capacity, which
// append doubles.
func (h *history) fitSlack() {
	n := (cap(h.entries)-len(h.entries))*appliedSize + cap(h.arena) - len(h.arena)
	h.account(n - h.slack)
	h.slack = n
}

// checkpoint reports whether version v keeps its text for as long as it is
// in the window.
func (h *history) checkpoint(v int64) bool {
	return v%int64(h.lim.every) == 0
}

// holds reports whether the window can give the text at version v
// (current is the session's newest version).
func (h *history) holds(v, current int64) bool {
	return v >= h.baseVersion && v <= current
}

// opsAfter returns the ops of the updates after version v (which holds
// must accept), in order, decoded from the arena.
func (h *history) opsAfter(v int64) []ot.Op {
	ents := h.entries[v-h.baseVersion:]
	out := make([]ot.Op, len(ents))
	for i, he := range ents {
		out[i] = h.ops(he)
	}
	return out
}

// ops decodes the op of he.
func (h *history) ops(he histEntry) ot.Op {
	start := he.off + uint32(he.opIDLen)
	return readOp(h.arena[start:start+he.opLen], int(he.comps))
}

// opID is the opId of he, aliasing the arena (compare it, do not keep it).
func (h *history) opID(he histEntry) []byte {
	return h.arena[he.off : he.off+uint32(he.opIDLen)]
}

// find returns the version of the update (user, op) among the updates
// after version v (current is the session's newest) that the window
// holds.
func (h *history) find(v, current int64, user, op string) (int64, bool) {
	if v >= current {
		return 0, false
	}
	from := max(v, h.baseVersion) - h.baseVersion
	for i, he := range h.entries[from:] {
		if h.ids[he.user] == user && string(h.opID(he)) == op {
			return h.version(int(from) + i), true
		}
	}
	return 0, false
}

// lenAt returns the UTF-16 length of the text at version v < current: the
// base length of the op that followed it.
func (h *history) lenAt(v int64) int {
	return int(h.entries[v-h.baseVersion].baseLen)
}

// textAt rebuilds the text at version v from the nearest checkpoint.
func (h *history) textAt(v int64) (string, error) {
	text, at := h.base, h.baseVersion
	for i := v - h.baseVersion - 1; i >= 0; i-- {
		if h.entries[i].hasCode {
			text, at = h.entries[i].code, h.version(int(i))
			break
		}
	}
	for _, he := range h.entries[at-h.baseVersion : v-h.baseVersion] {
		t, err := ot.Apply(text, h.ops(he))
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
	from := int(since - h.baseVersion)
	ents := h.entries[from : upto-h.baseVersion]
	out := make([]Applied, 0, len(ents))
	size := 0
	for i, he := range ents {
		a := Applied{SessionID: h.sid, Version: h.version(from + i), UserID: h.ids[he.user], OpID: string(h.opID(he)),
			ConnID: h.ids[he.conn], Timestamp: he.timestamp, Ops: h.ops(he), Code: he.code}
		if !he.hasCode {
			if a.Code, err = ot.Apply(t, a.Ops); err != nil {
				return nil, false
			}
		}
		if he.hasHash {
			a.Hash = formatHash(he.hash)
		} else {
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
		if he := h.entries[v-h.baseVersion-1]; he.hasHash {
			return formatHash(he.hash)
		}
	}
	t, err := h.textAt(v)
	if err != nil {
		return ""
	}
	return protocol.DocumentHash(t)
}

// parseHash reads a hash as protocol.DocumentHash writes it (16 lowercase
// hex digits); false for anything else, which is then not kept.
func parseHash(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// formatHash writes a hash parseHash read.
func formatHash(n uint64) string {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = "0123456789abcdef"[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

// appendOp encodes o compactly: per component a uvarint, the inserted
// text's length times two plus one followed by the text, or a retain or
// delete count zigzagged times two.
func appendOp(dst []byte, o ot.Op) []byte {
	for _, c := range o {
		if c.S != "" {
			dst = binary.AppendUvarint(dst, uint64(len(c.S))<<1|1)
			dst = append(dst, c.S...)
			continue
		}
		z := uint64(c.N) << 1
		if c.N < 0 {
			z = uint64(^c.N)<<1 | 1
		}
		dst = binary.AppendUvarint(dst, z<<1)
	}
	return dst
}

// readOp decodes the n components appendOp wrote into b.
func readOp(b []byte, n int) ot.Op {
	o := make(ot.Op, n)
	for i := range o {
		v, k := binary.Uvarint(b)
		b = b[k:]
		if v&1 == 1 {
			l := int(v >> 1)
			o[i].S = string(b[:l])
			b = b[l:]
			continue
		}
		z := v >> 1
		if z&1 == 1 {
			o[i].N = ^int(z >> 1)
		} else {
			o[i].N = int(z >> 1)
		}
	}
	return o
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
