// track.js — one OT document of the protocol client, kept in step with the
// server: the code and the interviewers' notes are each one Track. A Track
// owns the client states (a SyncDocument: synchronized, awaiting an ack,
// awaiting an ack with a buffer), sends the outstanding update when it may,
// takes acks and other people's updates, checks the server's hash, answers
// refusals (refusal.js: resend, rebase on a sync, or stop and report) and
// adopts the server's state from a `connected` or `sync`. The events and
// frames it uses are named by its kind; the owner (PairpadClient) decides
// when it may send (goLive) and brings the frames.

import { diff } from './ot.js';
import { canonicalEdit, refusal } from './refusal.js';
import { SyncDocument } from './document.js';
import { fnv1a64 } from './hash.js';

/** Kinds of Track: the frames and events of each document. */
export const Kinds = Object.freeze({
  code: Object.freeze({ document: 'code', update: 'code-update', text: 'text', ack: 'ack', timer: 'resend', whose: 'document' }),
  notes: Object.freeze({ document: 'notes', update: 'notes-update', text: 'notes', ack: 'notes-ack', timer: 'notesResend', whose: 'notes' }),
});

const noRefusals = () => ({ resends: 0, rebases: 0 });

/**
 * Track is one document. hooks: send(type, payload) → boolean,
 * emit(type, detail), askSync() (sends a `sync`), newOpId(), timers (a
 * Timers) and, optionally, moved(op, userId) (an op was applied to the
 * local text: userId's, or null for a local edit or the server's state).
 */
export class Track {
  #kind;
  #send;
  #emit;
  #askSync;
  #newOpId;
  #timers;
  #moved;
  #doc = null;
  #live = false; // updates may go out
  #discardOnSync = false; // the next sync drops the local edits (refused for good)
  #resending = false; // reconnected without a replay: the resent update's ack comes first, then a sync
  #refusals = noRefusals(); // of the outstanding update, for refusal()
  #divergences = 0;

  constructor(kind, { send, emit, askSync, newOpId, timers, moved = () => {} }) {
    this.#kind = kind;
    this.#send = send;
    this.#emit = emit;
    this.#askSync = askSync;
    this.#newOpId = newOpId;
    this.#timers = timers;
    this.#moved = moved;
  }

  get loaded() {
    return this.#doc !== null;
  }

  get text() {
    return this.#doc ? this.#doc.text : '';
  }

  get version() {
    return this.#doc ? this.#doc.version : 0;
  }

  get state() {
    return this.#doc ? this.#doc.state : 'synchronized';
  }

  get divergences() {
    return this.#divergences;
  }

  /** discarding reports whether the next sync drops the local edits. */
  get discarding() {
    return this.#discardOnSync;
  }

  /** resending reports whether the update resent after a reconnect waits for its ack. */
  get resending() {
    return this.#resending;
  }

  /** matches reports whether the server's (text, version) is what the track holds as confirmed. */
  matches(text, version) {
    return this.#doc !== null && this.#doc.confirmed === text && this.#doc.version === version;
  }

  /** applyLocal applies a local edit (an op on text), sends it when it may, and returns the new text. */
  applyLocal(op) {
    const doc = this.#need();
    const clean = canonicalEdit(op); // the canonical form the server requires (docs/protocol.md)
    if (doc.applyLocal(clean)) this.#sendOutstanding();
    this.#moved(clean, null);
    this.#emit(this.#kind.text, { text: doc.text, op: clean, remote: false });
    return doc.text;
  }

  /** setText replaces the text with newText as one local edit (a diff). */
  setText(newText) {
    const doc = this.#need();
    const op = diff(doc.text, newText);
    if (op.length > 1 || typeof op[0] === 'string' || op[0] < 0) this.applyLocal(op);
    return doc.text;
  }

  /** load takes the first server state (text at version); it returns false when the track had one already. */
  load(text, version, reason) {
    if (this.#doc) return false;
    this.#doc = new SyncDocument(text, version, this.#newOpId);
    this.#emit(this.#kind.text, { text, op: diff('', text), remote: true, reason });
    return true;
  }

  /**
   * adopt moves the track to the server's (text, version): the local edits
   * stay on top of it (rebase), or are dropped after a refusal for good.
   */
  adopt(text, version, reason) {
    const op = this.#discardOnSync ? this.#doc.reset(text, version) : this.#doc.rebase(text, version);
    this.#discardOnSync = false;
    this.#moved(op, null);
    this.#emit(this.#kind.text, { text: this.#doc.text, op, remote: true, reason });
  }

  /**
   * checkAnswer checks the hash of a `connected` or `sync` the track was
   * just set from. The client cannot do better than the server's own text,
   * so a mismatch is reported, not answered with another sync.
   */
  checkAnswer(text, hash) {
    if (typeof hash !== 'string' || this.#doc.confirmed !== text) return;
    const actual = fnv1a64(text);
    if (actual !== hash.toLowerCase()) {
      this.#emit('error', { error: 'CLIENT_HASH_MISMATCH', message: `the server's ${this.#kind.whose} hash ${hash} does not match its text (${actual})` });
    }
  }

  /**
   * resendFirst is for a new connection without a replay of this document
   * while an update was in flight: the server may or may not have applied
   * it, so it is resent first (on its old version; the server acknowledges
   * it again when it had it, by opId), and once acknowledged a sync brings
   * the rest. It returns false when there is nothing to resend.
   */
  resendFirst() {
    if (!this.#doc || !this.#doc.outstanding || this.#discardOnSync) return false;
    this.#resending = true;
    this.goLive();
    return true;
  }

  /** goLive lets updates go out and sends the outstanding one. */
  goLive() {
    this.#live = true;
    this.#sendOutstanding();
  }

  /** pause stops sending (the connection is down, or the state is being caught up). */
  pause() {
    this.#live = false;
    this.#resending = false;
    this.#timers.clear(this.#kind.timer);
  }

  /** requestSync stops sending until the server's state arrives in a `sync`; discard drops the local edits then. */
  requestSync(discard) {
    this.#discardOnSync = this.#discardOnSync || discard;
    this.#live = false;
    this.#timers.clear(this.#kind.timer);
    this.#askSync();
  }

  /**
   * update handles another connection's update (live or replayed) of this
   * document, or this client's own one replayed after a reconnect (its
   * ack). It returns true when the track moved on and its hash agreed.
   */
  update(from, p, self) {
    if (this.#resending) return false; // the sync after the resent update's ack brings these
    if (!this.#doc || !p || !Number.isInteger(p.version) || p.version <= this.#doc.version) return false;
    const out = this.#doc.outstanding;
    if (out && from === self && p.opId === out.opId) return this.#acknowledge(p.version, p.hash);
    if (p.version !== this.#doc.version + 1) {
      this.requestSync(false);
      return false;
    }
    let op;
    if (p.delta && Array.isArray(p.delta.ops)) op = p.delta.ops;
    else if (p.delta && typeof p.delta.fullCode === 'string') op = diff(this.#doc.confirmed, p.delta.fullCode);
    else throw new Error(`${this.#kind.update} without delta`);
    const local = this.#doc.applyRemote(op);
    this.#moved(local, from);
    this.#emit(this.#kind.text, { text: this.#doc.text, op: local, remote: true, userId: from, version: p.version });
    return this.#checkHash(p.hash);
  }

  /** ack handles an ack of this document; it returns true when the track moved on and its hash agreed. */
  ack(p) {
    const out = this.#doc && this.#doc.outstanding;
    if (!out || !p || p.opId !== out.opId) return false; // a duplicate ack of an earlier update
    return this.#acknowledge(p.version, p.hash);
  }

  /** error handles an `error` event e ({error, message, details}); only a refusal of the outstanding update concerns the track. */
  error(e) {
    const out = this.#doc && this.#doc.outstanding;
    if (!out || !this.#live) return;
    const d = e.details || {};
    // Errors that name another event or another update are not about ours.
    if (typeof d.opId === 'string' && d.opId !== out.opId) return;
    if (typeof d.type === 'string' ? d.type !== this.#kind.update : this.#kind.update !== 'code-update') return;
    const r = refusal(e, this.#refusals);
    if (r.action === 'stop') {
      // Refused for good: the server's text replaces the edits, which the page is told about.
      this.#refusals = noRefusals();
      this.#emit('refused', { document: this.#kind.document, error: e.error, message: e.message, text: this.#doc.text });
      this.#resending = false;
      this.requestSync(true);
    } else if (r.action === 'rebase') {
      // Not applied: the edits are rebased on the server's text (the sync
      // that follows, or one asked for) and resent. An update resent after
      // a reconnect is not in the server's text either: its ack is no
      // longer waited for.
      if (r.counts) this.#refusals.rebases++;
      this.#resending = false;
      if (r.ask) {
        this.requestSync(false);
      } else {
        this.#live = false;
        this.#timers.clear(this.#kind.timer);
      }
    } else if (r.action === 'resend') {
      this.#refusals.resends++;
      this.#timers.set(this.#kind.timer, r.wait, () => this.#sendOutstanding());
    }
  }

  #need() {
    if (this.#doc) return this.#doc;
    if (this.#kind.document === 'notes') throw new Error('pairpad: the notes have not arrived (only interviewers and observers have them)');
    throw new Error('pairpad: the document has not arrived yet');
  }

  #acknowledge(version, hash) {
    if (!Number.isInteger(version)) throw new Error(`${this.#kind.ack} without a version`);
    if (this.#resending) {
      // The resent update is in the server's text now; the edits typed
      // since wait (as the next outstanding update) for the sync to rebase on.
      this.#resending = false;
      this.#confirm(version);
      this.requestSync(false);
      return false;
    }
    if (version <= this.#doc.version) {
      // Already part of the state we rebased on after a sync: our copy on
      // top of it is a duplicate. Take it out; the edits typed since stay
      // and go out next.
      const op = this.#doc.dropOutstanding();
      this.#refusals = noRefusals();
      this.#timers.clear(this.#kind.timer);
      this.#moved(op, null);
      this.#emit(this.#kind.text, { text: this.#doc.text, op, remote: true, reason: 'sync' });
      this.#sendOutstanding();
      return false;
    }
    if (version !== this.#doc.version + 1) {
      this.requestSync(false);
      return false;
    }
    const next = this.#confirm(version);
    if (!this.#checkHash(hash)) return false;
    if (next) this.#sendOutstanding();
    return true;
  }

  // #confirm applies the ack of the outstanding update at version; it
  // returns true when buffered edits became the next outstanding update.
  #confirm(version) {
    this.#refusals = noRefusals();
    this.#timers.clear(this.#kind.timer);
    const opId = this.#doc.outstanding.opId;
    const next = this.#doc.ack();
    this.#emit(this.#kind.ack, { version, opId, state: this.#doc.state });
    return next;
  }

  // #checkHash compares the server's hash of its text at the version the
  // track just reached with the hash of what it holds as the server's text.
  // A mismatch means the two have diverged: the track asks for a sync,
  // which replaces the text with the server's (local edits not yet
  // acknowledged stay on top), and counts it. Without a hash (an older
  // server) there is nothing to compare.
  #checkHash(hash) {
    if (typeof hash !== 'string') return true;
    const actual = fnv1a64(this.#doc.confirmed);
    if (actual === hash.toLowerCase()) return true;
    this.#divergences++;
    const detail = { version: this.#doc.version, expected: hash, actual, count: this.#divergences };
    if (this.#kind.document !== 'code') detail.document = this.#kind.document;
    this.#emit('divergence', detail);
    this.requestSync(false);
    return false;
  }

  #sendOutstanding() {
    const out = this.#doc && this.#doc.outstanding;
    if (!out || !this.#live) return;
    this.#send(this.#kind.update, { delta: { ops: out.op }, version: this.#doc.version, opId: out.opId });
  }
}
