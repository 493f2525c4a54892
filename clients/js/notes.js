// notes.js — the interviewers' notes inside the protocol client: a second
// document with the same OT client states as the code (a SyncDocument:
// synchronized, awaiting an ack, awaiting an ack with a buffer), its own
// version line (`notesVersion`) and hash (`notesHash`), exchanged as
// `notes-update` / `notes-ack`. Only interviewer and observer connections
// get notes; for a candidate the `connected` payload has none and the track
// stays empty. The server has no replay for the notes, so a reconnect with
// an update in flight first resends that update (the server applies it, or
// acknowledges it again when it already had it: by (userId, opId)), and
// only once it is acknowledged asks for a `sync` and rebases the edits typed
// since on the server's notes: nothing is applied twice, nothing typed is
// dropped.

import { diff } from './ot.js';
import { canonicalEdit, refusal } from './refusal.js';
import { SyncDocument } from './document.js';
import { fnv1a64 } from './hash.js';

const RESEND = 'notesResend';

/**
 * NotesTrack keeps the notes document of one client in step with the
 * server. Its owner (PairpadClient) passes the frames and these hooks:
 * send(type, payload) → boolean, emit(type, detail), askSync() (sends a
 * `sync`), newOpId() and the client's Timers.
 */
export class NotesTrack {
  #send;
  #emit;
  #askSync;
  #newOpId;
  #timers;
  #doc = null;
  #live = false; // the connection is up and the notes arrived: updates go out
  #recovering = false; // reconnected with an update in flight: its ack comes first, then a sync
  #discardOnSync = false; // the next connected/sync drops the local notes edits
  #refusals = { resends: 0, rebases: 0 };
  #divergences = 0;

  constructor({ send, emit, askSync, newOpId, timers }) {
    this.#send = send;
    this.#emit = emit;
    this.#askSync = askSync;
    this.#newOpId = newOpId;
    this.#timers = timers;
  }

  /** loaded reports whether this connection's role reads the notes and they arrived. */
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

  /** applyLocal applies a local edit of the notes (an op on text) and sends it; it returns the new text. */
  applyLocal(op) {
    if (!this.#doc) throw new Error('pairpad: the notes have not arrived (only interviewers and observers have them)');
    const clean = canonicalEdit(op);
    if (this.#doc.applyLocal(clean)) this.#sendOutstanding();
    this.#emit('notes', { text: this.#doc.text, op: clean, remote: false });
    return this.#doc.text;
  }

  /** setText replaces the notes with newText as one local edit. */
  setText(newText) {
    if (!this.#doc) throw new Error('pairpad: the notes have not arrived (only interviewers and observers have them)');
    const op = diff(this.#doc.text, newText);
    if (op.length > 1 || typeof op[0] === 'string' || op[0] < 0) this.applyLocal(op);
    return this.#doc.text;
  }

  /** take takes the notes of a `connected` or `sync` payload (nothing when it has none). */
  take(p, reason) {
    if (typeof p.notes !== 'string' || !Number.isInteger(p.notesVersion)) return;
    if (this.#recovering) return; // the resent update's ack, then a sync, bring the notes
    if (!this.#doc) {
      this.#doc = new SyncDocument(p.notes, p.notesVersion, this.#newOpId);
      this.#emit('notes', { text: p.notes, op: diff('', p.notes), remote: true, reason });
    } else if (reason === 'connected' && this.#doc.outstanding && !this.#discardOnSync) {
      // A new connection while an update was in flight: the server may or
      // may not have applied it. Resend it first (on its old version).
      this.#recovering = true;
      this.#live = true;
      this.#sendOutstanding();
      return;
    } else if (this.#discardOnSync || this.#doc.confirmed !== p.notes || this.#doc.version !== p.notesVersion) {
      const op = this.#discardOnSync ? this.#doc.reset(p.notes, p.notesVersion) : this.#doc.rebase(p.notes, p.notesVersion);
      this.#emit('notes', { text: this.#doc.text, op, remote: true, reason });
    }
    this.#discardOnSync = false;
    if (typeof p.notesHash === 'string' && this.#doc.confirmed === p.notes && fnv1a64(p.notes) !== p.notesHash.toLowerCase()) {
      this.#emit('error', { error: 'CLIENT_HASH_MISMATCH', message: `the server's notes hash ${p.notesHash} does not match their text` });
    }
    this.#live = true;
    this.#sendOutstanding();
  }

  /** drop pauses the track while the connection is down. */
  drop() {
    this.#live = false;
    this.#recovering = false;
    this.#timers.clear(RESEND);
  }

  /** update handles another connection's notes-update. */
  update(from, p, self) {
    if (this.#recovering) return; // the sync after the resent update's ack brings these
    if (!this.#doc || !p || !Number.isInteger(p.version) || p.version <= this.#doc.version) return;
    const out = this.#doc.outstanding;
    if (out && from === self && p.opId === out.opId) {
      this.#acknowledge(p.version, p.hash);
      return;
    }
    if (p.version !== this.#doc.version + 1) {
      this.#sync(false);
      return;
    }
    let op;
    if (p.delta && Array.isArray(p.delta.ops)) op = p.delta.ops;
    else if (p.delta && typeof p.delta.fullCode === 'string') op = diff(this.#doc.confirmed, p.delta.fullCode);
    else throw new Error('notes-update without delta');
    const local = this.#doc.applyRemote(op);
    this.#emit('notes', { text: this.#doc.text, op: local, remote: true, userId: from, version: p.version });
    this.#checkHash(p.hash);
  }

  /** ack handles a notes-ack. */
  ack(p) {
    const out = this.#doc && this.#doc.outstanding;
    if (!out || !p || p.opId !== out.opId) return;
    this.#acknowledge(p.version, p.hash);
  }

  /** error handles an `error` event; only those naming a notes-update concern the track. */
  error(e) {
    const out = this.#doc && this.#doc.outstanding;
    const d = e.details || {};
    if (!out || !this.#live || d.type !== 'notes-update') return;
    if (typeof d.opId === 'string' && d.opId !== out.opId) return;
    const r = refusal(e, this.#refusals);
    if (r.action === 'stop') {
      // Refused for good: the server's notes replace the edits, which the page is told about.
      this.#refusals = { resends: 0, rebases: 0 };
      this.#emit('refused', { document: 'notes', error: e.error, message: e.message, text: this.#doc.text });
      this.#recovering = false;
      this.#sync(true);
    } else if (r.action === 'rebase') {
      // Not applied: the edits are rebased on the server's notes (the sync
      // that follows, or one asked for) and resent. A resend after a
      // reconnect is not in the server's notes either: it is no longer
      // waited for.
      if (r.counts) this.#refusals.rebases++;
      this.#recovering = false;
      this.#live = false;
      this.#timers.clear(RESEND);
      if (r.ask) this.#askSync();
    } else if (r.action === 'resend') {
      this.#refusals.resends++;
      this.#timers.set(RESEND, r.wait, () => this.#sendOutstanding());
    }
  }

  #acknowledge(version, hash) {
    if (!Number.isInteger(version)) throw new Error('notes-ack without a version');
    if (this.#recovering) {
      // The resent update is in the server's notes now; the edits typed
      // since wait (as the next outstanding update) for the sync to rebase on.
      this.#recovering = false;
      const opId = this.#doc.outstanding.opId;
      this.#refusals = { resends: 0, rebases: 0 };
      this.#timers.clear(RESEND);
      this.#doc.ack();
      this.#emit('notes-ack', { version, opId, state: this.#doc.state });
      this.#sync(false);
      return;
    }
    if (version <= this.#doc.version) {
      this.#emit('error', { error: 'CLIENT_RESYNC', message: 'a notes update was applied before the last sync; resynchronizing the notes' });
      this.#sync(true);
      return;
    }
    if (version !== this.#doc.version + 1) {
      this.#sync(false);
      return;
    }
    this.#refusals = { resends: 0, rebases: 0 };
    this.#timers.clear(RESEND);
    const opId = this.#doc.outstanding.opId;
    const next = this.#doc.ack();
    this.#emit('notes-ack', { version, opId, state: this.#doc.state });
    if (!this.#checkHash(hash)) return;
    if (next) this.#sendOutstanding();
  }

  #checkHash(hash) {
    if (typeof hash !== 'string') return true;
    const actual = fnv1a64(this.#doc.confirmed);
    if (actual === hash.toLowerCase()) return true;
    this.#divergences++;
    this.#emit('divergence', { document: 'notes', version: this.#doc.version, expected: hash, actual, count: this.#divergences });
    this.#sync(false);
    return false;
  }

  // #sync stops sending until the server's notes arrive in a `sync`.
  #sync(discard) {
    this.#discardOnSync = this.#discardOnSync || discard;
    this.#live = false;
    this.#timers.clear(RESEND);
    this.#askSync();
  }

  #sendOutstanding() {
    const out = this.#doc && this.#doc.outstanding;
    if (!out || !this.#live) return;
    this.#send('notes-update', { delta: { ops: out.op }, version: this.#doc.version, opId: out.opId });
  }
}
