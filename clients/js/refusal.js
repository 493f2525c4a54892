// refusal.js — what the client does when the server refuses its pending
// update (code-update or notes-update), shared by the code and the notes.
// What a person typed is never dropped silently: a refusal is answered by a
// resend, or by rebasing the edits on the server's text and resending; only
// a refusal that can never succeed stops them, and the client then reports
// it with a `refused` event carrying the text that was not kept.

import { normalize, validate, wellFormed } from './ot.js';

// Errors after which the refused update is resent as it is (the server
// deduplicates by opId, so a resend never applies an edit twice).
const RESEND = new Set(['RATE_LIMIT_EXCEEDED', 'INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE']);

/** Errors after which an update can never be accepted, whatever the client does. */
export const FOR_GOOD = Object.freeze(['DOCUMENT_TOO_LARGE', 'FORBIDDEN']);

/**
 * MAX_REBASES is how often an update the server could not read
 * (INVALID_PAYLOAD without `details.sync`) is rebased on the server's text
 * and resent before the client stops it: the same refusal after that many
 * fresh rebases can never succeed.
 */
export const MAX_REBASES = 3;

/** MAX_WAIT is the longest wait in ms before a resend. */
const MAX_WAIT = 10000;

/**
 * refusal decides about an `error` e ({error, details}) for the pending
 * update; count is {resends, rebases}: this update's refusals so far of
 * each kind (this one not included):
 * - {action: 'resend', wait}: resend it unchanged after wait ms;
 * - {action: 'rebase', ask, counts}: take the server's text in a `sync`
 *   (ask: the client asks for it; otherwise the server sends it after this
 *   refusal), rebase the pending edits on it and resend them; counts says
 *   whether it counts against MAX_REBASES;
 * - {action: 'stop'}: refused for good: take the server's text, drop the
 *   edits and report them;
 * - {action: 'ignore'}: not about the update.
 */
export function refusal(e, count, forGood = FOR_GOOD) {
  const d = e.details || {};
  const after = Number.isFinite(d.retryAfterMs) && d.retryAfterMs > 0 ? Math.min(d.retryAfterMs, MAX_WAIT) : 0;
  if (forGood.includes(e.error)) return { action: 'stop' };
  // "sync and resend": the server sends its state next; nothing was applied.
  if (d.sync === true) return { action: 'rebase', ask: false, counts: false };
  // Kept and resent until the server takes it (SERVICE_UNAVAILABLE: NATS
  // is back; the others pace themselves with a growing wait).
  if (RESEND.has(e.error)) return { action: 'resend', wait: after || Math.min(1000 * (count.resends + 1), MAX_WAIT) };
  if (e.error === 'INVALID_PAYLOAD') {
    if (count.rebases + 1 > MAX_REBASES) return { action: 'stop' };
    return { action: 'rebase', ask: true, counts: true };
  }
  return { action: 'ignore' };
}

/** canonicalEdit checks a local edit and returns it in the canonical form the server requires (lone surrogates mended). */
export function canonicalEdit(op) {
  validate(op);
  return normalize(op.map((c) => (typeof c === 'string' ? wellFormed(c) : c)));
}
