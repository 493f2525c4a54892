// refusal.js — what the client does when the server refuses its pending
// update (code-update or notes-update), shared by the code and the notes.

import { normalize, validate, wellFormed } from './ot.js';

// Errors after which the refused update is resent (the server deduplicates
// by opId, so a resend never applies an edit twice).
const RETRYABLE = new Set(['RATE_LIMIT_EXCEEDED', 'INTERNAL_SERVER_ERROR', 'INVALID_PAYLOAD']);

/** MAX_RESENDS is how often a retryable refusal is resent before the edit is dropped. */
export const MAX_RESENDS = 3;

/**
 * refusal decides about an `error` e ({error, details}) for the pending
 * update: {action: 'drop'} (refused for good: take the server's state and
 * drop the edit), {action: 'resend', wait, counts} (resend after wait ms;
 * counts says whether it counts against MAX_RESENDS) or {action: 'ignore'}.
 * resends is the count so far, this refusal not included.
 */
export function refusal(e, resends, forGood = ['DOCUMENT_TOO_LARGE']) {
  const d = e.details || {};
  const after = Number.isFinite(d.retryAfterMs) && d.retryAfterMs > 0 ? Math.min(d.retryAfterMs, 10000) : 0;
  if (forGood.includes(e.error)) return { action: 'drop' };
  // The server lost NATS for a while: the update is kept and resent until
  // it is back, and never counts against MAX_RESENDS (that would drop it).
  if (e.error === 'SERVICE_UNAVAILABLE') return { action: 'resend', wait: after || 1000, counts: false };
  if (!RETRYABLE.has(e.error)) return { action: 'ignore' };
  if (resends + 1 > MAX_RESENDS) return { action: 'drop' };
  return { action: 'resend', wait: after || 1000 * (resends + 1), counts: true };
}

/** canonicalEdit checks a local edit and returns it in the canonical form the server requires (lone surrogates mended). */
export function canonicalEdit(op) {
  validate(op);
  return normalize(op.map((c) => (typeof c === 'string' ? wellFormed(c) : c)));
}
