// textarea.js — binds a PairpadClient to a <textarea>: edits become ops (a
// diff of the text before and after each input event), remote ops replace
// the text while the caret and the selection stay on the same characters,
// and the caret is shared as a cursor-update.
//
// A textarea's value normalizes line ends (CRLF and a lone CR read back as
// LF), so the binding shows that form and maps offsets between it and the
// document's own text; a document with CRLF line ends keeps them.

import { diff, transform, transformIndex } from './ot.js';
import { crlfPairs, rawOp, shownText, toRaw, toShown } from './lineends.js';
import { indexToPosition } from './position.js';

export { shownText };

/**
 * bindTextarea keeps textarea and client in step and returns
 * {destroy()}. Bind before client.join() so the document shows as soon as
 * it arrives.
 */
export function bindTextarea(client, textarea, { shareCursor = true } = {}) {
  let raw = client.text;
  let pairs = crlfPairs(raw);
  let lastCursor = '';

  const set = (text) => {
    raw = text;
    pairs = crlfPairs(raw);
  };

  const sendCursor = () => {
    if (!shareCursor || !client.loaded || textarea.value !== shownText(raw)) return;
    const { selectionStart: s, selectionEnd: e, selectionDirection: d } = textarea;
    const position = indexToPosition(raw, toRaw(pairs, d === 'backward' ? s : e));
    const selection = s === e ? undefined : { start: indexToPosition(raw, toRaw(pairs, s)), end: indexToPosition(raw, toRaw(pairs, e)) };
    const key = JSON.stringify([position, selection]);
    if (key === lastCursor) return;
    lastCursor = key;
    client.sendCursor(position, selection);
  };

  let typing = false; // the text event under way comes from our own input
  const onInput = () => {
    if (!client.loaded) return;
    const typed = textarea.value;
    if (typed === shownText(raw)) return;
    typing = true;
    try {
      client.applyLocal(rawOp(diff(shownText(raw), typed), pairs));
    } finally {
      typing = false;
    }
    if (shownText(raw) !== typed) {
      // The client replaced a broken character: show what everyone else sees.
      const caret = textarea.selectionEnd;
      textarea.value = shownText(raw);
      textarea.setSelectionRange(caret, caret);
    }
    sendCursor();
  };

  // onText shows every change that did not come from this textarea: remote
  // ops, a sync, and edits a script made through the client.
  const onText = ({ detail }) => {
    const { text, op } = detail;
    if (typing) {
      set(text);
      return;
    }
    const { selectionStart, selectionEnd, selectionDirection, scrollTop, scrollLeft } = textarea;
    // An edit the input event has not reported yet (a script changed the
    // value) is kept: rebased over the remote op and applied after it.
    const unsent = textarea.value === shownText(raw) ? null : rawOp(diff(shownText(raw), textarea.value), pairs);
    const start = transformIndex(op, toRaw(pairs, selectionStart), false);
    const end = transformIndex(op, toRaw(pairs, selectionEnd), false);
    set(text);
    textarea.value = shownText(raw);
    textarea.setSelectionRange(toShown(pairs, start), toShown(pairs, end), selectionDirection);
    textarea.scrollTop = scrollTop;
    textarea.scrollLeft = scrollLeft;
    if (unsent) {
      try {
        typing = true;
        client.applyLocal(transform(op, unsent)[1]);
        textarea.value = shownText(raw);
      } catch {
        // The value did not fit the old text after all; the document wins.
      } finally {
        typing = false;
      }
    }
  };

  const doc = textarea.ownerDocument;
  const onSelection = () => {
    if (doc.activeElement === textarea) sendCursor();
  };

  textarea.value = shownText(raw);
  client.addEventListener('text', onText);
  textarea.addEventListener('input', onInput);
  for (const type of ['keyup', 'mouseup', 'select', 'focus']) textarea.addEventListener(type, sendCursor);
  doc.addEventListener('selectionchange', onSelection);

  return {
    destroy() {
      client.removeEventListener('text', onText);
      textarea.removeEventListener('input', onInput);
      for (const type of ['keyup', 'mouseup', 'select', 'focus']) textarea.removeEventListener(type, sendCursor);
      doc.removeEventListener('selectionchange', onSelection);
    },
  };
}
