// ot.js — the text-operation algebra of the pairpad wire format, in plain
// JavaScript with no dependencies. It mirrors the server's Go package
// shared/ot item for item, so a client and the server agree on every result.
//
// An operation is an array whose items are a positive integer (retain that
// many units), a non-empty string (insert it) or a negative integer (delete
// that many units). Lengths and positions count UTF-16 code units, which is
// what a JavaScript string's length counts. The retains and deletes of an
// operation cover the whole base text.

/** Largest retain or delete count the server accepts (int32). */
export const MAX_COUNT = 2147483647;

/** Most components the server accepts in one operation. */
export const MAX_COMPONENTS = 10000;

/**
 * OTError is thrown for an operation that is malformed, that does not fit
 * the text (or the other operation) it is used with, or whose boundary would
 * split a surrogate pair. `kind` is "malformed", "base-length" or "surrogate",
 * matching the Go sentinel errors ErrMalformed, ErrBaseLength, ErrSurrogate.
 */
export class OTError extends Error {
  constructor(kind, message) {
    super(`ot: ${message}`);
    this.name = 'OTError';
    this.kind = kind;
  }
}

/** isRetain reports whether component c retains text. */
export function isRetain(c) {
  return typeof c === 'number' && c > 0;
}

/** isDelete reports whether component c deletes text. */
export function isDelete(c) {
  return typeof c === 'number' && c < 0;
}

/** isInsert reports whether component c inserts text. */
export function isInsert(c) {
  return typeof c === 'string' && c.length > 0;
}

const isHigh = (code) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code) => code >= 0xdc00 && code <= 0xdfff;

/**
 * splitsPair reports whether offset i of s falls between the two halves of a
 * surrogate pair, where no edit may start or end.
 */
export function splitsPair(s, i) {
  return i > 0 && i < s.length && isHigh(s.charCodeAt(i - 1)) && isLow(s.charCodeAt(i));
}

/**
 * wellFormed replaces every lone surrogate of s with U+FFFD, as the server's
 * JSON decoder does, so text a client inserts is the text the server keeps.
 */
export function wellFormed(s) {
  let out = null;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isHigh(c) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) {
      if (out !== null) out.push(s[i], s[i + 1]);
      i++;
      continue;
    }
    if (isHigh(c) || isLow(c)) {
      if (out === null) out = [s.slice(0, i)];
      out.push('\ufffd');
      continue;
    }
    if (out !== null) out.push(s[i]);
  }
  return out === null ? s : out.join('');
}

/**
 * validate throws an OTError unless op is an array whose every item is a
 * non-zero integer within ±MAX_COUNT or a non-empty string.
 */
export function validate(op) {
  if (!Array.isArray(op)) throw new OTError('malformed', 'an operation must be an array');
  for (let i = 0; i < op.length; i++) {
    const c = op[i];
    if (typeof c === 'string') {
      if (c.length === 0) throw new OTError('malformed', `component ${i} is an empty insert`);
    } else if (typeof c === 'number') {
      if (!Number.isInteger(c) || c === 0 || c > MAX_COUNT || c < -MAX_COUNT) {
        throw new OTError('malformed', `component ${i} (${c}) is not a non-zero integer within ±${MAX_COUNT}`);
      }
    } else {
      throw new OTError('malformed', `component ${i} is ${c === null ? 'null' : typeof c}, want an integer or a string`);
    }
  }
}

/** baseLength returns the length of the text op applies to. */
export function baseLength(op) {
  let n = 0;
  for (const c of op) if (typeof c === 'number') n += Math.abs(c);
  return n;
}

/** targetLength returns the length of the text op produces. */
export function targetLength(op) {
  let n = 0;
  for (const c of op) {
    if (typeof c === 'string') n += c.length;
    else if (c > 0) n += c;
  }
  return n;
}

/** isNoop reports whether op leaves every text unchanged (it only retains). */
export function isNoop(op) {
  return op.every((c) => typeof c === 'number' && c > 0);
}

// Builder accumulates components into a normalized op: between two retains,
// inserts and deletes are merged into at most one insert followed by at most
// one delete, as the Go builder does.
class Builder {
  constructor() {
    this.out = [];
    this.ins = '';
    this.del = 0;
  }

  retain(n) {
    if (n <= 0) return;
    this.flush();
    const k = this.out.length - 1;
    if (k >= 0 && typeof this.out[k] === 'number' && this.out[k] > 0) this.out[k] += n;
    else this.out.push(n);
  }

  insert(s) {
    this.ins += s;
  }

  delete(n) {
    if (n > 0) this.del += n;
  }

  flush() {
    if (this.ins !== '') this.out.push(this.ins);
    if (this.del > 0) this.out.push(-this.del);
    this.ins = '';
    this.del = 0;
  }

  op() {
    this.flush();
    return this.out;
  }
}

/**
 * normalize returns the canonical form of op: empty components dropped,
 * neighbours of one kind merged, an insert placed before a delete at the same
 * position. It keeps the trailing retain, which the wire format needs.
 */
export function normalize(op) {
  const b = new Builder();
  for (const c of op) {
    if (typeof c === 'string') b.insert(c);
    else if (c > 0) b.retain(c);
    else if (c < 0) b.delete(-c);
  }
  return b.op();
}

/**
 * apply returns text with op applied. It throws an OTError if op is
 * malformed, does not cover exactly text.length units, or has a boundary
 * inside a surrogate pair (the server refuses such an op).
 */
export function apply(text, op) {
  validate(op);
  const parts = [];
  let pos = 0;
  for (let i = 0; i < op.length; i++) {
    const c = op[i];
    if (typeof c === 'string') {
      parts.push(c);
      continue;
    }
    const end = pos + Math.abs(c);
    if (end > text.length) {
      throw new OTError('base-length', `component ${i} (${c}) runs past the end; op covers ${baseLength(op)} units, text has ${text.length}`);
    }
    if (splitsPair(text, end)) {
      throw new OTError('surrogate', `component ${i} (${c}) ends inside a surrogate pair at offset ${end - 1}`);
    }
    if (c > 0) parts.push(text.slice(pos, end));
    pos = end;
  }
  if (pos !== text.length) {
    throw new OTError('base-length', `op covers ${pos} units, text has ${text.length}`);
  }
  return parts.join('');
}

// Iter walks an op component by component, consuming retains, deletes and
// (for compose) inserts partially.
class Iter {
  constructor(op) {
    this.op = op;
    this.i = -1;
    this.n = 0; // what is left of the current retain or delete
    this.s = ''; // what is left of the current insert
    this.next();
  }

  next() {
    this.n = 0;
    this.s = '';
    for (this.i++; this.i < this.op.length; this.i++) {
      const c = this.op[this.i];
      if (typeof c === 'string' && c !== '') {
        this.s = c;
        return;
      }
      if (typeof c === 'number' && c !== 0) {
        this.n = Math.abs(c);
        return;
      }
    }
  }

  done() {
    return this.i >= this.op.length;
  }

  isInsert() {
    return !this.done() && this.s !== '';
  }

  isRetain() {
    return !this.done() && this.s === '' && this.op[this.i] > 0;
  }

  isDelete() {
    return !this.done() && this.s === '' && this.op[this.i] < 0;
  }

  length() {
    return this.s !== '' ? this.s.length : this.n;
  }

  take(k) {
    this.n -= k;
    if (this.n === 0) this.next();
  }

  takeInsert(k) {
    if (k === this.s.length) {
      const s = this.s;
      this.next();
      return s;
    }
    if (splitsPair(this.s, k)) return null;
    const head = this.s.slice(0, k);
    this.s = this.s.slice(k);
    return head;
  }
}

/**
 * transform rebases two concurrent ops on the same text against each other
 * and returns [a2, b2] with apply(apply(t, a), b2) === apply(apply(t, b), a2).
 * a is the op applied first (the lower version) and wins ties: when both
 * insert at the same position, a's text comes first. Results are normalized.
 */
export function transform(a, b) {
  validate(a);
  validate(b);
  const al = baseLength(a);
  const bl = baseLength(b);
  if (al !== bl) throw new OTError('base-length', `transform: first op covers ${al} units, second ${bl}`);
  const ap = new Builder();
  const bp = new Builder();
  const ia = new Iter(a);
  const ib = new Iter(b);
  while (!ia.done() || !ib.done()) {
    if (ia.isInsert()) {
      ap.insert(ia.s);
      bp.retain(ia.s.length);
      ia.next();
      continue;
    }
    if (ib.isInsert()) {
      ap.retain(ib.s.length);
      bp.insert(ib.s);
      ib.next();
      continue;
    }
    const k = Math.min(ia.length(), ib.length());
    if (ia.isRetain() && ib.isRetain()) {
      ap.retain(k);
      bp.retain(k);
    } else if (ia.isDelete() && ib.isRetain()) {
      ap.delete(k);
    } else if (ia.isRetain() && ib.isDelete()) {
      bp.delete(k);
    }
    // Both deleting: the text is gone either way.
    ia.take(k);
    ib.take(k);
  }
  return [ap.op(), bp.op()];
}

/**
 * compose merges a and then b into one op with
 * apply(t, compose(a, b)) === apply(apply(t, a), b). It needs
 * targetLength(a) === baseLength(b); the result is normalized.
 */
export function compose(a, b) {
  validate(a);
  validate(b);
  const at = targetLength(a);
  const bl = baseLength(b);
  if (at !== bl) throw new OTError('base-length', `compose: first op produces ${at} units, second covers ${bl}`);
  const out = new Builder();
  const ia = new Iter(a);
  const ib = new Iter(b);
  while (!ia.done() || !ib.done()) {
    if (ia.isDelete()) {
      out.delete(ia.n);
      ia.next();
      continue;
    }
    if (ib.isInsert()) {
      out.insert(ib.s);
      ib.next();
      continue;
    }
    const k = Math.min(ia.length(), ib.length());
    if (ia.isRetain() && ib.isRetain()) {
      out.retain(k);
      ia.take(k);
    } else if (ia.isRetain() && ib.isDelete()) {
      out.delete(k);
      ia.take(k);
    } else if (ia.isInsert()) {
      const bi = ib.i;
      const s = ia.takeInsert(k);
      if (s === null) {
        throw new OTError('surrogate', `compose: second op component ${bi} (${b[bi]}) ends inside a character the first op inserted`);
      }
      if (ib.isRetain()) out.insert(s);
    }
    ib.take(k);
  }
  return out.op();
}

/**
 * diff returns an op turning oldText into newText: it keeps the longest
 * common prefix and suffix (never cut inside a surrogate pair) and replaces
 * the middle with one insert and one delete. Lone surrogates in newText are
 * inserted as U+FFFD, as the server would store them.
 */
export function diff(oldText, newText) {
  const n = Math.min(oldText.length, newText.length);
  let p = 0;
  while (p < n && oldText.charCodeAt(p) === newText.charCodeAt(p)) p++;
  while (p > 0 && (splitsPair(oldText, p) || splitsPair(newText, p))) p--;
  let s = 0;
  while (s < n - p && oldText.charCodeAt(oldText.length - 1 - s) === newText.charCodeAt(newText.length - 1 - s)) s++;
  while (s > 0 && (splitsPair(oldText, oldText.length - s) || splitsPair(newText, newText.length - s))) s--;
  const b = new Builder();
  b.retain(p);
  const mid = newText.slice(p, newText.length - s);
  if (mid !== '') b.insert(wellFormed(mid));
  b.delete(oldText.length - s - p);
  b.retain(s);
  return b.op();
}

/**
 * transformIndex moves position idx of op's base text to where it belongs in
 * op's result, so carets and remote cursors follow edits. Inserts before idx
 * push it right; an insert exactly at idx pushes it only when own is true
 * (the op is the caret owner's, who typed it); a delete spanning idx pulls it
 * to the delete's start. idx is clamped to [0, baseLength(op)] first.
 */
export function transformIndex(op, idx, own = false) {
  idx = Math.max(0, Math.min(idx, baseLength(op)));
  let pos = 0;
  let shift = 0;
  for (const c of op) {
    if (typeof c === 'string') {
      if (pos < idx || (pos === idx && own)) shift += c.length;
    } else if (c > 0) {
      pos += c;
    } else if (c < 0 && pos < idx) {
      const d = Math.min(-c, idx - pos);
      shift -= d;
      pos += d;
    }
    if (pos > idx) break;
  }
  return idx + shift;
}
