// codemirror.js — binds a CodeMirror 6 EditorView to a PairpadClient:
// local changes become ops, remote ops become editor changes that stay out
// of the undo history (so Ctrl+Z undoes only the local user's own edits, and
// the history maps them through remote ones), remote carets and selections
// are drawn in the text in their owner's colour with a name flag, and a
// language change switches the editor's language. CodeMirror shows every
// line end as "\n"; a CRLF document keeps its line ends (offsets and ops are
// mapped, lineends.js). Needs @codemirror/state and @codemirror/view (peer
// dependencies).

import { Annotation, Compartment, EditorSelection, StateEffect, StateField, Transaction } from '@codemirror/state';
import { Decoration, EditorView, RectangleMarker, WidgetType, layer } from '@codemirror/view';

import { baseLength, normalize } from './ot.js';
import { crlfPairs, rawOp, shownText, toRaw, toShown } from './lineends.js';
import { indexToPosition, positionToIndex } from './position.js';

// remote marks the transactions that carry the server's changes.
const remote = Annotation.define();

// setRemote replaces the remote cursors: [{userId, name, color, head, from, to}].
const setRemote = StateEffect.define();

// remoteCursors holds the remote cursors, mapped through every change
// until the client's next exact positions arrive.
const remoteCursors = StateField.define({
  create: () => [],
  update(cursors, tr) {
    for (const e of tr.effects) if (e.is(setRemote)) return e.value;
    if (!tr.docChanged || cursors.length === 0) return cursors;
    return cursors.map((c) => ({
      ...c,
      head: tr.changes.mapPos(c.head, 1),
      from: tr.changes.mapPos(c.from, 1),
      to: tr.changes.mapPos(c.to, -1),
    }));
  },
});

/**
 * CaretWidget is a remote caret: a coloured bar in the text with its
 * owner's name on a flag. The flag covers the line above (below on the
 * first line), so it shows only when its owner moves or types (each time
 * `stamp` changes the caret is drawn anew and the flag's CSS animation
 * fades it out after 2 s) and while the pointer is on the caret.
 */
class CaretWidget extends WidgetType {
  constructor(userId, name, color, stamp) {
    super();
    this.userId = userId;
    this.name = name;
    this.color = color;
    this.stamp = stamp;
  }

  eq(other) {
    return other.userId === this.userId && other.name === this.name && other.color === this.color && other.stamp === this.stamp;
  }

  toDOM() {
    const caret = document.createElement('span');
    caret.className = 'cm-remote-caret';
    caret.setAttribute('data-remote-cursor', this.userId);
    caret.setAttribute('aria-hidden', 'true');
    caret.style.borderLeftColor = this.color; // CSSOM, which a strict style-src allows
    const flag = document.createElement('span');
    flag.className = 'cm-remote-flag';
    flag.textContent = this.name; // a user's name is text, never markup
    flag.style.backgroundColor = this.color;
    caret.appendChild(flag);
    return caret;
  }

  ignoreEvent() {
    return false; // a click on a remote caret places the local one, as on the text beside it
  }
}

// caretDecorations draws every remote caret as a widget in the text.
const caretDecorations = EditorView.decorations.compute([remoteCursors], (state) => {
  const len = state.doc.length;
  const widgets = state
    .field(remoteCursors)
    .map((c) => Decoration.widget({ widget: new CaretWidget(c.userId, c.name, c.color, c.stamp), side: 1 }).range(Math.min(c.head, len)));
  return Decoration.set(widgets, true);
});

/** ColoredMarker is a selection rectangle in its owner's colour. */
class ColoredMarker {
  constructor(inner, color) {
    this.inner = inner;
    this.color = color;
  }

  draw() {
    const el = this.inner.draw();
    el.style.backgroundColor = this.color;
    return el;
  }

  update(dom, prev) {
    if (!(prev instanceof ColoredMarker) || prev.color !== this.color) return false;
    return this.inner.update(dom, prev.inner);
  }

  eq(other) {
    return other instanceof ColoredMarker && other.color === this.color && this.inner.eq(other.inner);
  }
}

// selectionLayer draws the remote selections under the text.
const selectionLayer = layer({
  above: false,
  class: 'cm-remote-selections',
  markers(view) {
    const len = view.state.doc.length;
    const out = [];
    for (const c of view.state.field(remoteCursors)) {
      const from = Math.min(c.from, len);
      const to = Math.min(c.to, len);
      if (from >= to) continue;
      for (const m of RectangleMarker.forRange(view, 'cm-remote-selection', EditorSelection.range(from, to))) out.push(new ColoredMarker(m, c.color));
    }
    return out;
  },
  update(update) {
    return update.docChanged || update.viewportChanged || update.geometryChanged || update.startState.field(remoteCursors) !== update.state.field(remoteCursors);
  },
});

const theme = EditorView.baseTheme({
  '.cm-remote-caret': {
    position: 'relative',
    borderLeft: '2px solid',
    marginLeft: '-1px',
    marginRight: '-1px',
  },
  // A few pixels either side of the bar to hover (showing the flag again).
  '.cm-remote-caret::before': { content: '""', position: 'absolute', top: '0', bottom: '0', left: '-4px', width: '7px' },
  '.cm-remote-caret:hover .cm-remote-flag': { animation: 'none', opacity: '1' },
  '@keyframes cm-remote-flag-fade': { '0%': { opacity: '1' }, '80%': { opacity: '1' }, '100%': { opacity: '0', visibility: 'hidden' } },
  '.cm-remote-flag': {
    position: 'absolute',
    bottom: '100%',
    left: '-2px',
    padding: '0 4px',
    borderRadius: '3px 3px 3px 0',
    color: '#fff',
    fontSize: '11px',
    lineHeight: '1.4',
    fontFamily: 'system-ui, sans-serif',
    whiteSpace: 'nowrap',
    userSelect: 'none',
    pointerEvents: 'none',
    zIndex: '10',
    animation: 'cm-remote-flag-fade 2.5s linear forwards',
  },
  '.cm-line:first-child .cm-remote-flag': { bottom: 'auto', top: '100%', borderRadius: '0 3px 3px 3px' },
  '.cm-remote-selection': { opacity: '0.25' },
});

/** changesToOp turns a CodeMirror ChangeSet into an op on the text it applies to. */
export function changesToOp(changes) {
  const op = [];
  let pos = 0;
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    if (fromA > pos) op.push(fromA - pos);
    const text = inserted.toString();
    if (text) op.push(text);
    if (toA > fromA) op.push(-(toA - fromA));
    pos = toA;
  });
  if (changes.length > pos) op.push(changes.length - pos);
  return normalize(op);
}

/**
 * opToChanges turns an op on a document text into CodeMirror change specs
 * on its shown text; pairs are the text's CRLFs (crlfPairs), none by default.
 */
export function opToChanges(op, pairs = []) {
  const changes = [];
  let pos = 0;
  for (const c of op) {
    if (typeof c === 'string') changes.push({ from: toShown(pairs, pos), insert: shownText(c) });
    else if (c > 0) pos += c;
    else {
      changes.push({ from: toShown(pairs, pos), to: toShown(pairs, pos - c) });
      pos -= c;
    }
  }
  return changes;
}

/**
 * bindCodeMirror keeps view and client in step and returns unbind(). Bind
 * before client.join() so the document shows as soon as it arrives, or
 * after: the editor then takes the client's text.
 *
 * options.language(name) returns the editor extension for a session
 * language (see codemirror-languages.js); without it the language is left
 * alone. options.shareCursor (default true) sends the local caret and
 * selection.
 */
export function bindCodeMirror(view, client, { language = null, shareCursor = true } = {}) {
  const binding = new Compartment();
  const languageConf = new Compartment();
  let lastCursor = '';
  // stamps counts, per remote user, their moves and edits: a new stamp
  // draws the caret anew, which shows its name flag again.
  const stamps = new Map();
  const touch = (userId) => {
    if (typeof userId === 'string' && userId !== client.userId) stamps.set(userId, (stamps.get(userId) ?? 0) + 1);
  };
  // The document text the editor shows (as shownText) and its CRLFs.
  let raw = client.text;
  let pairs = crlfPairs(raw);

  const showCursors = () => {
    const cursors = client.cursors.map((c) => {
      const head = toShown(pairs, Math.min(c.index, raw.length));
      let from = head;
      let to = head;
      if (c.selection) {
        const a = toShown(pairs, positionToIndex(raw, c.selection.start));
        const b = toShown(pairs, positionToIndex(raw, c.selection.end));
        from = Math.min(a, b);
        to = Math.max(a, b);
      }
      return { userId: c.userId, name: c.name, color: c.color, stamp: stamps.get(c.userId) ?? 0, head, from, to };
    });
    view.dispatch({ effects: setRemote.of(cursors), annotations: remote.of(true) });
  };

  // replaceAll makes the editor show the client's text (outside the history).
  const replaceAll = () => {
    raw = client.text;
    pairs = crlfPairs(raw);
    view.dispatch({
      changes: { from: 0, to: view.state.doc.length, insert: shownText(raw) },
      annotations: [remote.of(true), Transaction.addToHistory.of(false)],
    });
  };

  let typing = false; // the text event under way comes from the editor
  const listener = EditorView.updateListener.of((update) => {
    let moved = false;
    for (const tr of update.transactions) {
      if (tr.annotation(remote)) continue;
      if (tr.selection || tr.docChanged) moved = true;
      if (!tr.docChanged || !client.loaded) continue;
      typing = true;
      try {
        client.applyLocal(rawOp(changesToOp(tr.changes), pairs));
      } catch {
        // An edit the client cannot take as an op (it would split a
        // surrogate pair): send the editor's text as a whole instead.
        client.setText(tr.state.doc.toString());
      } finally {
        typing = false;
      }
    }
    // The client mended the edit (a lone surrogate): show what everyone sees.
    if (client.loaded && update.docChanged && update.state.doc.toString() !== shownText(raw)) queueMicrotask(replaceAll);
    if (moved && shareCursor && client.loaded) sendCursor(update.state);
  });

  const sendCursor = (state) => {
    const sel = state.selection.main;
    const position = indexToPosition(raw, toRaw(pairs, sel.head));
    const selection = sel.empty ? undefined : { start: indexToPosition(raw, toRaw(pairs, sel.from)), end: indexToPosition(raw, toRaw(pairs, sel.to)) };
    const key = JSON.stringify([position, selection]);
    if (key === lastCursor) return;
    lastCursor = key;
    client.sendCursor(position, selection);
  };

  const setLanguage = (name) => {
    if (!language || typeof name !== 'string') return;
    view.dispatch({ effects: languageConf.reconfigure(language(name) ?? []), annotations: remote.of(true) });
  };

  // onText shows every change that did not come from the editor: remote
  // ops, a sync, and edits a script made through the client.
  const onText = ({ text, op, remote: fromRemote, userId }) => {
    if (fromRemote) touch(userId);
    if (typing) {
      raw = text;
      pairs = crlfPairs(raw);
      queueMicrotask(showCursors); // inside the editor's own update: redraw after it
      return;
    }
    const oldPairs = pairs;
    raw = text;
    pairs = crlfPairs(raw);
    if (view.state.doc.length === toShown(oldPairs, baseLength(op))) {
      view.dispatch({ changes: opToChanges(op, oldPairs), annotations: [remote.of(true), Transaction.addToHistory.of(false)] });
    }
    // An op whose line ends did not map (it split a CRLF), or an editor that
    // was not on the client's text: take the text whole.
    if (view.state.doc.toString() !== shownText(raw)) replaceAll();
    showCursors();
  };

  view.dispatch({
    effects: StateEffect.appendConfig.of(binding.of([remoteCursors, caretDecorations, selectionLayer, theme, listener, languageConf.of([])])),
  });
  if (view.state.doc.toString() !== shownText(raw)) replaceAll();
  setLanguage(client.language);
  showCursors();

  const offs = [
    client.on('text', onText),
    client.on('cursor', ({ userId, cursor }) => {
      if (cursor) touch(userId);
      else stamps.delete(userId);
      showCursors();
    }),
    client.on('presence', showCursors),
    client.on('language', ({ language: name }) => setLanguage(name)),
  ];

  return function unbind() {
    for (const off of offs) off();
    view.dispatch({ effects: binding.reconfigure([]) });
  };
}
