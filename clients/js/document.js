// document.js — the client side of operational transformation: a local text
// kept in step with the server's document through the usual three states
// (synchronized, awaiting an ack, awaiting an ack with a buffer). It knows
// nothing about sockets, so it can be tested and reused on its own.

import { apply, compose, diff, isNoop, normalize, transform, validate } from './ot.js';

/** Names of the three OT client states, as reported by SyncDocument.state. */
export const States = Object.freeze({
  SYNCHRONIZED: 'synchronized',
  AWAITING_ACK: 'awaiting-ack',
  AWAITING_WITH_BUFFER: 'awaiting-with-buffer',
});

/**
 * SyncDocument holds the local text and what the server has confirmed.
 *
 * - `confirmed` is the server's text at `version`;
 * - `outstanding` ({op, opId}) is the one update sent (or about to be sent)
 *   and not yet acknowledged, an op on `confirmed`;
 * - `buffer` is every later local edit composed into one op, on
 *   apply(confirmed, outstanding.op);
 * - `text` is apply(apply(confirmed, outstanding), buffer): what the user sees.
 */
export class SyncDocument {
  /**
   * @param {string} text the server's text at version
   * @param {number} version the server's version
   * @param {() => string} newOpId returns a fresh, unique opId
   */
  constructor(text, version, newOpId) {
    this.confirmed = text;
    this.text = text;
    this.version = version;
    this.outstanding = null;
    this.buffer = null;
    this.newOpId = newOpId;
  }

  /** state is one of States. */
  get state() {
    if (this.outstanding === null) return States.SYNCHRONIZED;
    return this.buffer === null ? States.AWAITING_ACK : States.AWAITING_WITH_BUFFER;
  }

  /** hasPending reports whether some local edit is not acknowledged yet. */
  get hasPending() {
    return this.outstanding !== null;
  }

  /**
   * applyLocal applies a local edit (an op on `text`) and queues it. It
   * returns true when the edit became the new outstanding update, which the
   * caller should send now.
   */
  applyLocal(op) {
    validate(op);
    if (isNoop(op)) return false;
    this.text = apply(this.text, op);
    if (this.outstanding === null) {
      this.outstanding = { op, opId: this.newOpId() };
      return true;
    }
    this.buffer = this.buffer === null ? op : compose(this.buffer, op);
    return false;
  }

  /**
   * applyRemote applies an update the server applied as version
   * this.version + 1 (an op on `confirmed`) and returns the op that was
   * applied to `text` to keep the local edits on top of it. The remote op
   * was applied first, so it wins ties against the local edits.
   */
  applyRemote(op) {
    validate(op);
    const confirmed = apply(this.confirmed, op);
    let local = op;
    let outstanding = this.outstanding;
    let buffer = this.buffer;
    if (outstanding !== null) {
      const [l, o] = transform(local, outstanding.op);
      local = l;
      outstanding = { ...outstanding, op: o };
    }
    if (buffer !== null) {
      const [l, b] = transform(local, buffer);
      local = l;
      buffer = b;
    }
    const text = apply(this.text, local);
    // Commit only once everything succeeded, so a bad op leaves the state intact.
    this.confirmed = confirmed;
    this.outstanding = outstanding;
    this.buffer = buffer;
    this.text = text;
    this.version++;
    return local;
  }

  /**
   * ack acknowledges the outstanding update as applied at version
   * this.version + 1; the buffer, if any, becomes the new outstanding
   * update. It returns true when there is a new outstanding update to send.
   */
  ack() {
    if (this.outstanding === null) throw new Error('pairpad: ack without an outstanding update');
    this.confirmed = apply(this.confirmed, this.outstanding.op);
    this.version++;
    this.outstanding = null;
    if (this.buffer !== null) {
      this.outstanding = { op: this.buffer, opId: this.newOpId() };
      this.buffer = null;
      return true;
    }
    return false;
  }

  /**
   * rebase moves the document onto the server's (code, version) while
   * keeping the local edits: the difference between `confirmed` and code is
   * treated as one remote update. It returns the op applied to `text`.
   * Used after a `sync`, when the updates in between are not known.
   */
  rebase(code, version) {
    const local = this.applyRemote(diff(this.confirmed, code));
    this.version = version;
    return local;
  }

  /**
   * dropOutstanding handles the ack of an update that is already part of
   * `confirmed` (a sync that included it arrived before its ack, and the
   * rebase put it on top a second time): it takes the outstanding update
   * out of `text` and keeps the buffer, the edits typed since, as the new
   * outstanding update. It returns the op applied to `text`.
   */
  dropOutstanding() {
    if (this.outstanding === null) throw new Error('pairpad: no outstanding update to drop');
    const undo = invert(this.outstanding.op, this.confirmed); // on apply(confirmed, outstanding)
    let local = undo;
    let next = null;
    if (this.buffer !== null) {
      const [u, b] = transform(undo, this.buffer);
      local = u;
      if (!isNoop(b)) next = { op: b, opId: this.newOpId() };
    }
    const text = apply(this.text, local);
    this.outstanding = next;
    this.buffer = null;
    this.text = text;
    return local;
  }

  /**
   * reset drops every local edit and adopts the server's (code, version).
   * It returns the op that turns the old `text` into the new one.
   */
  reset(code, version) {
    const op = diff(this.text, code);
    this.confirmed = code;
    this.text = code;
    this.version = version;
    this.outstanding = null;
    this.buffer = null;
    return op;
  }
}

// invert returns the op that undoes op, an op on text.
function invert(op, text) {
  const out = [];
  let pos = 0;
  for (const c of op) {
    if (typeof c === 'string') out.push(-c.length);
    else if (c > 0) {
      out.push(c);
      pos += c;
    } else {
      out.push(text.slice(pos, pos - c));
      pos -= c;
    }
  }
  const rest = text.length - pos;
  if (rest > 0) out.push(rest);
  return normalize(out);
}
