// lineends.js — editors that show every line end as "\n" (a textarea's
// value, CodeMirror's document) over a document that may hold CRLF line
// ends: the shown text, and offsets and ops mapped between the two, so a
// CRLF document keeps its line ends.

/** shownText returns text as such an editor shows it (CRLF and a lone CR become LF). */
export function shownText(text) {
  return text.replace(/\r\n?/g, '\n');
}

/** crlfPairs lists the offsets of the "\r" of every CRLF in text. */
export function crlfPairs(text) {
  const out = [];
  for (let i = text.indexOf('\r\n'); i !== -1; i = text.indexOf('\r\n', i + 2)) out.push(i);
  return out;
}

/** toShown maps an offset in the document text to the shown text. */
export function toShown(pairs, i) {
  let n = 0;
  while (n < pairs.length && pairs[n] < i) n++;
  return i - n;
}

/**
 * toRaw maps an offset in the shown text to the document text; an
 * offset before a line end lands before its "\r".
 */
export function toRaw(pairs, i) {
  let n = 0;
  while (n < pairs.length && pairs[n] - n < i) n++;
  return i + n;
}

/** rawOp turns an op on the shown text into the same edit on the document text. */
export function rawOp(op, pairs) {
  if (pairs.length === 0) return op;
  const out = [];
  let pos = 0;
  for (const c of op) {
    if (typeof c === 'string') {
      out.push(c);
      continue;
    }
    const n = Math.abs(c);
    const len = toRaw(pairs, pos + n) - toRaw(pairs, pos);
    out.push(c > 0 ? len : -len);
    pos += n;
  }
  return out;
}
