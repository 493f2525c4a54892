// monaco.js — binds a PairpadClient to a Monaco editor: local changes
// become ops, remote ops become model edits that keep the local carets on
// their characters and the text in view where it is, the others' carets
// (with a name flag) and selections are drawn in the text in each user's
// colour, the session's language switches the model's language, and the
// editor is read-only for an observer and once the session has ended.
//
// Undo and redo are the local user's own: remote edits never enter an undo
// stack. The binding keeps its own stack of the inverses of local ops,
// transforms it through every remote op, and takes over Ctrl+Z, Ctrl+Shift+Z
// and Ctrl+Y (Cmd on macOS) for this editor; Monaco's own stack, whose
// entries would no longer fit the text once someone else has typed, is never
// used.
//
// The model always has "\n" line ends (Monaco keeps one line end per model);
// a document with CRLF keeps it: offsets are mapped between the two forms.

import { apply, compose, diff, isNoop, normalize, transform, transformIndex } from './ot.js';
import { indexToPosition, positionToIndex } from './position.js';
import { crlfPairs, rawOp, shownText as shown, toRaw, toShown } from './lineends.js';

/** Local edits closer together than this (ms), with no caret move between them, undo as one. */
const GROUP_DELAY = 500;

/** Undo steps kept. */
const MAX_UNDO = 1000;

// Monaco's enum values, stable across releases; the namespace's own are
// used when it has them.
const EXACT = 0; // ContentWidgetPositionPreference.EXACT
const NEVER_GROWS = 1; // TrackedRangeStickiness.NeverGrowsWhenTypingAtEdges
const EOL_LF = 0; // EndOfLineSequence.LF
const EXPLICIT = 3; // CursorChangeReason.Explicit
const SCROLL_IMMEDIATE = 1; // ScrollType.Immediate

/** invert returns the op that undoes op, which applies to text. */
export function invert(op, text) {
  const out = [];
  let pos = 0;
  for (const c of op) {
    if (typeof c === 'string') {
      out.push(-c.length);
    } else if (c > 0) {
      out.push(c);
      pos += c;
    } else {
      out.push(text.slice(pos, pos - c));
      pos -= c;
    }
  }
  return normalize(out);
}

/**
 * changesToOp turns the changes of one Monaco content event ({rangeOffset,
 * rangeLength, text}, all against the text before the event, in any order)
 * into one op on that text of length length.
 */
export function changesToOp(changes, length) {
  const sorted = [...changes].sort((x, y) => x.rangeOffset - y.rangeOffset);
  const out = [];
  let pos = 0;
  for (const c of sorted) {
    if (c.rangeOffset < pos) throw new Error('pairpad: overlapping changes in one content event');
    out.push(c.rangeOffset - pos);
    if (c.text) out.push(c.text);
    out.push(-c.rangeLength);
    pos = c.rangeOffset + c.rangeLength;
  }
  out.push(length - pos);
  return normalize(out);
}

// changeEnd returns the offset in op's result just after its last change,
// where the caret goes after an undo or redo.
function changeEnd(op) {
  let pos = 0;
  let end = 0;
  for (const c of op) {
    if (typeof c === 'string') {
      pos += c.length;
      end = pos;
    } else if (c > 0) {
      pos += c;
    } else {
      end = pos;
    }
  }
  return end;
}

/**
 * LocalHistory is one person's undo and redo in a shared text: the inverses
 * of their own changes, kept applicable while others edit. Each entry
 * applies to the text the entry above it leaves; the top one to the current
 * text.
 */
export class LocalHistory {
  #undo = []; // [{op, group}]
  #redo = [];
  #last = -Infinity; // when the last change was recorded
  #moved = false;
  #groupDelay;
  #limit;
  #now;

  /**
   * groupDelay: changes closer together than this (ms), with no
   * breakGroup() between them, are one step; limit: steps kept.
   */
  constructor({ groupDelay = GROUP_DELAY, limit = MAX_UNDO, now = () => Date.now() } = {}) {
    this.#groupDelay = groupDelay;
    this.#limit = limit;
    this.#now = now;
  }

  get undoDepth() {
    return this.#undo.length;
  }

  get redoDepth() {
    return this.#redo.length;
  }

  /** record notes a change of this person's: op, applied to before. It clears the redo steps. */
  record(op, before) {
    const inverse = invert(op, before);
    const t = this.#now();
    const top = this.#undo[this.#undo.length - 1];
    if (top && top.group && !this.#moved && t - this.#last < this.#groupDelay) top.op = compose(inverse, top.op);
    else this.#undo.push({ op: inverse, group: true });
    if (this.#undo.length > this.#limit) this.#undo.splice(0, this.#undo.length - this.#limit);
    this.#last = t;
    this.#moved = false;
    this.#redo.length = 0;
  }

  /** breakGroup makes the next change a step of its own (the caret moved). */
  breakGroup() {
    this.#moved = true;
  }

  /** rebase moves every step over op, someone else's change to the current text. */
  rebase(op) {
    for (const stack of [this.#undo, this.#redo]) {
      let r = op;
      for (let i = stack.length - 1; i >= 0; i--) {
        const [u, r2] = transform(stack[i].op, r);
        stack[i].op = u;
        r = r2;
      }
    }
  }

  /** clear forgets every step (the text was replaced). */
  clear() {
    this.#undo.length = 0;
    this.#redo.length = 0;
  }

  /**
   * undo takes the newest step that still changes something and gives it to
   * applyOp(op), which applies it and returns {op, before}: the op as applied
   * and the text it applied to (it throws if op no longer fits: that step is
   * dropped). undo returns the applied op, or null when nothing is left.
   */
  undo(applyOp) {
    return this.#step(this.#undo, this.#redo, applyOp);
  }

  /** redo is undo for the steps undone since the last recorded change. */
  redo(applyOp) {
    return this.#step(this.#redo, this.#undo, applyOp);
  }

  #step(from, to, applyOp) {
    while (from.length > 0) {
      const { op } = from.pop();
      if (isNoop(op)) continue;
      let done;
      try {
        done = applyOp(op);
      } catch {
        continue;
      }
      to.push({ op: invert(done.op, done.before), group: false });
      this.#last = -Infinity;
      return done.op;
    }
    return null;
  }
}

let bindings = 0;

const COLOR = /^#(?:[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;

/** rgb returns a user's colour as #rrggbb (any alpha dropped), or grey for anything that is not a hex colour. */
export function rgb(color) {
  if (typeof color !== 'string' || !COLOR.test(color)) return '#888888';
  const hex = color.slice(1);
  return hex.length <= 4 ? `#${hex[0]}${hex[0]}${hex[1]}${hex[1]}${hex[2]}${hex[2]}` : `#${hex.slice(0, 6)}`;
}

const BASE_CSS = `
.pairpad-remote-cursor { position: relative; width: 2px; margin-left: -1px; pointer-events: none; }
.pairpad-remote-cursor .pairpad-caret { position: absolute; left: 0; top: 0; width: 2px; height: 100%; background: var(--pairpad-color); }
.pairpad-remote-cursor .pairpad-flag { position: absolute; left: 0; bottom: 100%; padding: 0 4px; border-radius: 3px 3px 3px 0;
  font: 600 11px/16px system-ui, sans-serif; color: #fff; background: var(--pairpad-color); white-space: nowrap; }
.pairpad-remote-cursor.pairpad-first-line .pairpad-flag { bottom: auto; top: 100%; border-radius: 0 3px 3px 3px; }
`;

/**
 * bindMonaco keeps a Monaco editor and a PairpadClient in step and returns
 * unbind(). Bind before client.join() so the document shows as soon as it
 * arrives; until then the model is empty and typing is discarded.
 *
 * options.monaco is the `monaco-editor` namespace (default
 * globalThis.monaco): the binding needs it to switch the model's language
 * and to bind the undo keys. options.languages maps the session's language
 * names to Monaco language ids (default: the same names).
 */
export function bindMonaco(editor, client, options = {}) {
  const monaco = options.monaco ?? globalThis.monaco;
  if (!monaco || !monaco.editor || !monaco.KeyMod) throw new TypeError('bindMonaco: pass the monaco-editor namespace as options.monaco');
  const languages = options.languages ?? {};
  const shareCursor = options.shareCursor ?? true;
  const model = editor.getModel();
  if (!model) throw new TypeError('bindMonaco: the editor has no model');
  const doc = editor.getContainerDomNode().ownerDocument;

  let raw = client.text; // the document text, as the client holds it
  let pairs = crlfPairs(raw);
  let applying = false; // the binding itself is changing the model
  let typing = false; // the client's text event under way comes from the editor
  let typedOp = null; // the op the client applied for it (inserts cleaned of lone surrogates)
  let undoing = false; // the client's text event under way is an undo or redo
  const history = new LocalHistory({ now: options.now });
  let lastCursor = '';

  const set = (text) => {
    raw = text;
    pairs = crlfPairs(raw);
  };

  // Model edits ------------------------------------------------------------

  const rangeOf = (from, to) => {
    const s = model.getPositionAt(from);
    const e = model.getPositionAt(to);
    return { startLineNumber: s.lineNumber, startColumn: s.column, endLineNumber: e.lineNumber, endColumn: e.column };
  };

  // editsFor turns an op on the model's text into Monaco edits, all against
  // the model before any of them applies.
  const editsFor = (op) => {
    const edits = [];
    let pos = 0;
    for (let i = 0; i < op.length; ) {
      if (typeof op[i] === 'number' && op[i] > 0) {
        pos += op[i++];
        continue;
      }
      let text = '';
      let del = 0;
      for (; i < op.length && !(typeof op[i] === 'number' && op[i] > 0); i++) {
        if (typeof op[i] === 'string') text += op[i];
        else del -= op[i];
      }
      edits.push({ range: rangeOf(pos, pos + del), text, forceMoveMarkers: false });
      pos += del;
    }
    return edits;
  };

  // show makes the model hold newRaw, which op turned oldRaw into. The local
  // selections stay on their characters (placeCaret, a model offset, puts
  // the caret there instead); Monaco's undo stack does not see the change.
  const show = (oldRaw, op, newRaw, placeCaret) => {
    const before = model.getValue();
    const after = shown(newRaw);
    if (before === after) return;
    let modelOp = op && !oldRaw.includes('\r') && !newRaw.includes('\r') && before === shown(oldRaw) ? op : diff(before, after);
    const sels = editor.getModel() === model ? editor.getSelections() || [] : [];
    const marks = sels.map((s) => [model.getOffsetAt(s.getSelectionStart()), model.getOffsetAt(s.getPosition())]);
    // The first line in view stays where it is on the screen: text the
    // others add or remove above it does not scroll what this person reads.
    const visible = sels.length > 0 ? editor.getVisibleRanges() : [];
    let anchor = null;
    if (visible.length > 0) {
      const line = visible[0].startLineNumber;
      anchor = { offset: model.getOffsetAt({ lineNumber: line, column: 1 }), shift: editor.getTopForLineNumber(line) - editor.getScrollTop() };
    }
    applying = true;
    try {
      model.applyEdits(editsFor(modelOp));
      if (model.getValue() !== after) {
        model.setValue(after);
        modelOp = diff(before, after);
      }
      if (anchor) {
        const line = model.getPositionAt(transformIndex(modelOp, anchor.offset, true)).lineNumber;
        editor.setScrollTop(editor.getTopForLineNumber(line) - anchor.shift, SCROLL_IMMEDIATE);
      }
      if (placeCaret !== undefined) {
        const p = model.getPositionAt(placeCaret);
        editor.setSelection({ selectionStartLineNumber: p.lineNumber, selectionStartColumn: p.column, positionLineNumber: p.lineNumber, positionColumn: p.column });
        editor.revealPositionInCenterIfOutsideViewport(p);
      } else if (marks.length > 0) {
        editor.setSelections(
          marks.map(([a, c]) => {
            const pa = model.getPositionAt(transformIndex(modelOp, a, false));
            const pc = model.getPositionAt(transformIndex(modelOp, c, false));
            return { selectionStartLineNumber: pa.lineNumber, selectionStartColumn: pa.column, positionLineNumber: pc.lineNumber, positionColumn: pc.column };
          }),
        );
      }
    } finally {
      applying = false;
    }
  };

  // Undo and redo ---------------------------------------------------------------

  // applyStep applies an undo or redo step as a local edit.
  const applyStep = (op) => {
    const before = raw;
    undoing = true;
    try {
      client.applyLocal(op);
      return { op: typedOp ?? op, before };
    } finally {
      undoing = false;
      typedOp = null;
    }
  };

  const step = (redo) => {
    if (!client.loaded) return;
    const before = raw;
    const op = redo ? history.redo(applyStep) : history.undo(applyStep);
    if (!op) return;
    show(before, op, raw, toShown(pairs, changeEnd(op)));
    sendCursor();
  };

  // Client → editor ------------------------------------------------------------

  const onText = ({ detail }) => {
    const { text, op } = detail;
    if (typing || undoing) {
      typedOp = op;
      set(text);
      return;
    }
    const before = raw;
    set(text);
    if (op && apply(before, op) === text) history.rebase(op);
    else history.clear();
    show(before, op, text);
    followRole();
    render();
  };

  // An observer reads the code and never edits it (the server refuses
  // their edits with FORBIDDEN), and nobody edits a session that has ended:
  // the editor is read-only then.
  let readOnly = false;
  let ended = false;
  const followRole = () => {
    const observer = client.role === 'observer';
    if ((observer || ended) === readOnly) return;
    readOnly = observer || ended;
    const value = ended ? 'The session has ended.' : 'You are observing: only the candidate and the interviewer edit the code.';
    editor.updateOptions({ readOnly, readOnlyMessage: { value } });
  };

  const setLanguage = (language) => {
    if (!language) return;
    const id = languages[language] ?? language;
    if (model.getLanguageId() !== id) monaco.editor.setModelLanguage(model, id);
  };

  // Remote cursors -----------------------------------------------------------------

  const sheet = new (doc.defaultView.CSSStyleSheet)();
  sheet.replaceSync(BASE_CSS);
  doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
  const binding = ++bindings; // class names of one binding's colours do not meet another's
  const classes = new Map(); // color -> class name of its selections
  const selectionClass = (color) => {
    let name = classes.get(color);
    if (!name) {
      name = `pairpad-selection-${binding}-${classes.size}`;
      classes.set(color, name);
      sheet.insertRule(`.${name} { background-color: ${color}40; }`, sheet.cssRules.length);
    }
    return name;
  };
  const widgets = new Map(); // userId -> {widget, node, flag, position}
  const selections = editor.createDecorationsCollection();

  const cursorWidget = (userId) => {
    let w = widgets.get(userId);
    if (w) return w;
    const node = doc.createElement('div');
    node.className = 'pairpad-remote-cursor';
    node.dataset.remoteCursor = userId;
    const caret = doc.createElement('div');
    caret.className = 'pairpad-caret';
    const flag = doc.createElement('div');
    flag.className = 'pairpad-flag';
    node.append(caret, flag);
    w = { node, flag, position: { lineNumber: 1, column: 1 } };
    w.widget = {
      getId: () => `pairpad.cursor.${userId}`,
      getDomNode: () => node,
      getPosition: () => ({ position: w.position, preference: [monaco.editor.ContentWidgetPositionPreference?.EXACT ?? EXACT] }),
    };
    widgets.set(userId, w);
    editor.addContentWidget(w.widget);
    return w;
  };

  const lineHeight = () => {
    const id = monaco.editor.EditorOption?.lineHeight;
    const h = id !== undefined ? editor.getOption(id) : 0;
    return h > 0 ? h : 19;
  };

  // render draws every remote caret and selection where the client has them.
  function render() {
    if (!client.loaded) return;
    const cursors = client.cursors.filter((c) => c && c.userId !== client.userId);
    const present = new Set(cursors.map((c) => c.userId));
    for (const [userId, w] of widgets) {
      if (!present.has(userId)) {
        editor.removeContentWidget(w.widget);
        widgets.delete(userId);
      }
    }
    const height = `${lineHeight()}px`;
    const decorations = [];
    for (const c of cursors) {
      const color = rgb(c.color);
      const w = cursorWidget(c.userId);
      w.position = model.getPositionAt(toShown(pairs, c.index));
      w.node.style.setProperty('--pairpad-color', color);
      w.node.style.height = height;
      w.node.classList.toggle('pairpad-first-line', w.position.lineNumber === 1);
      w.flag.textContent = c.name;
      w.node.title = c.name;
      editor.layoutContentWidget(w.widget);
      if (c.selection) {
        const s = positionToIndex(raw, c.selection.start);
        const e = positionToIndex(raw, c.selection.end);
        const a = toShown(pairs, Math.min(s, e));
        const b = toShown(pairs, Math.max(s, e));
        if (a !== b) {
          decorations.push({
            range: rangeOf(a, b),
            options: { className: `pairpad-selection ${selectionClass(color)}`, stickiness: monaco.editor.TrackedRangeStickiness?.NeverGrowsWhenTypingAtEdges ?? NEVER_GROWS },
          });
        }
      }
    }
    selections.set(decorations);
  }

  // Editor → client ------------------------------------------------------------------

  function sendCursor() {
    if (!shareCursor || !client.loaded || applying || model.getValueLength() !== raw.length - pairs.length) return;
    const sel = editor.getSelection();
    if (!sel) return;
    const active = toRaw(pairs, model.getOffsetAt(sel.getPosition()));
    const anchor = toRaw(pairs, model.getOffsetAt(sel.getSelectionStart()));
    const position = indexToPosition(raw, active);
    const selection = active === anchor ? undefined : { start: indexToPosition(raw, Math.min(active, anchor)), end: indexToPosition(raw, Math.max(active, anchor)) };
    const key = JSON.stringify([position, selection]);
    if (key === lastCursor) return;
    lastCursor = key;
    client.sendCursor(position, selection);
  }

  const onContent = (e) => {
    if (applying) return;
    const before = shown(raw);
    const after = model.getValue();
    if (!client.loaded) {
      // Nothing to edit yet: the document replaces whatever was typed.
      if (after !== before) {
        applying = true;
        try {
          model.setValue(before);
        } finally {
          applying = false;
        }
      }
      return;
    }
    let op;
    try {
      op = changesToOp(e.changes, before.length);
      if (apply(before, op) !== after) op = diff(before, after);
    } catch {
      op = diff(before, after);
    }
    if (isNoop(op)) return;
    const oldRaw = raw;
    const edit = rawOp(op, pairs);
    typing = true;
    try {
      client.applyLocal(edit);
      history.record(typedOp ?? edit, oldRaw);
    } catch {
      // The edit does not fit the document (it split a character): show the document again.
    } finally {
      typing = false;
      typedOp = null;
    }
    if (shown(raw) !== model.getValue()) show(oldRaw, diff(oldRaw, raw), raw);
    sendCursor();
  };

  // Wiring -------------------------------------------------------------------------------

  const disposables = [];
  applying = true;
  try {
    model.setEOL(monaco.editor.EndOfLineSequence?.LF ?? EOL_LF);
    if (model.getValue() !== shown(raw)) model.setValue(shown(raw));
  } finally {
    applying = false;
  }
  setLanguage(client.language);
  followRole();
  disposables.push(model.onDidChangeContent(onContent));
  disposables.push(
    editor.onDidChangeCursorSelection((e) => {
      if (e.reason === (monaco.editor.CursorChangeReason?.Explicit ?? EXPLICIT)) history.breakGroup();
      sendCursor();
    }),
  );
  disposables.push(editor.onDidFocusEditorText(() => sendCursor()));
  const { KeyMod, KeyCode } = monaco;
  disposables.push(
    editor.addAction({
      id: 'pairpad.undo',
      label: 'Undo your last change',
      keybindings: [KeyMod.CtrlCmd | KeyCode.KeyZ],
      run: () => {
        step(false);
      },
    }),
  );
  disposables.push(
    editor.addAction({
      id: 'pairpad.redo',
      label: 'Redo your last undone change',
      keybindings: [KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.KeyZ, KeyMod.CtrlCmd | KeyCode.KeyY],
      run: () => {
        step(true);
      },
    }),
  );

  const offText = listen(client, 'text', onText);
  const offLanguage = listen(client, 'language', ({ detail }) => setLanguage(detail.language));
  const offCursor = listen(client, 'cursor', () => render());
  const offPresence = listen(client, 'presence', () => render());
  // The server relays a cursor at once, so it can reach the others before the
  // edits typed ahead of it, and land on the wrong character there: once
  // every edit is acknowledged, the caret goes out again.
  const offEnded = listen(client, 'session-ended', () => {
    ended = true;
    followRole();
  });
  const offAck = listen(client, 'ack', ({ detail }) => {
    if (detail.state !== 'synchronized') return;
    lastCursor = '';
    sendCursor();
  });
  render();

  let bound = true;
  return function unbind() {
    if (!bound) return;
    bound = false;
    offText();
    offLanguage();
    offCursor();
    offPresence();
    offAck();
    offEnded();
    for (const d of disposables) d.dispose();
    for (const w of widgets.values()) editor.removeContentWidget(w.widget);
    widgets.clear();
    selections.clear();
    doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
    if (readOnly) editor.updateOptions({ readOnly: false });
  };
}

function listen(target, type, fn) {
  target.addEventListener(type, fn);
  return () => target.removeEventListener(type, fn);
}
