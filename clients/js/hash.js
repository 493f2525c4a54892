// hash.js — the document hash the server sends with `connected`, `sync`,
// `code-ack` and `code-update`: FNV-1a 64-bit over the text's UTF-8 bytes,
// as 16 lowercase hex digits. Lone surrogates encode as U+FFFD, as the
// server stores them.

const encoder = new TextEncoder();

/**
 * fnv1a64 returns the FNV-1a 64-bit hash of text's UTF-8 encoding as 16
 * lowercase hex digits. The 64-bit state is kept in four 16-bit limbs so
 * every step is exact in double arithmetic (no BigInt on the hot path).
 */
export function fnv1a64(text) {
  const bytes = encoder.encode(text);
  // offset basis 0xcbf29ce484222325
  let h0 = 0x2325;
  let h1 = 0x8422;
  let h2 = 0x9ce4;
  let h3 = 0xcbf2;
  for (let i = 0; i < bytes.length; i++) {
    h0 ^= bytes[i];
    // h *= 0x100000001b3, i.e. h*0x1b3 + (h << 40), modulo 2^64
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3 + (t0 >>> 16);
    const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
    const t3 = h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16);
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  return [h3, h2, h1, h0].map((l) => l.toString(16).padStart(4, '0')).join('');
}
