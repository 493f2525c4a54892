// bundle/editor.js — the entry of the editor bundle the demo page loads
// (dist/editor.js, built by build.mjs with esbuild from the npm packages in
// package-lock.json; the server embeds it and serves it at
// /client/dist/editor.js, so nothing comes from a CDN at run time): a
// CodeMirror 6 editor set up for code, the pairpad binding and the language
// table.

import { Compartment, EditorState } from '@codemirror/state';
import {
  EditorView,
  crosshairCursor,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab, redo, undo } from '@codemirror/commands';
import { bracketMatching, defaultHighlightStyle, foldGutter, foldKeymap, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';

export { bindCodeMirror } from '../codemirror.js';
export { languageNames, languageSupport } from '../codemirror-languages.js';
export { EditorView, undo, redo };

// editable switches the editor between editable and read-only.
const editable = new Compartment();

/** setEditable makes view editable or read-only. */
export function setEditable(view, on) {
  view.dispatch({ effects: editable.reconfigure([EditorView.editable.of(on), EditorState.readOnly.of(!on)]) });
}

/**
 * createEditor makes an EditorView in parent with line numbers, history,
 * bracket matching and closing, indentation on input, Tab indenting and
 * syntax highlighting; the language comes from the binding. nonce is the
 * page's CSP nonce for the editor's <style> elements; wrap wraps long lines
 * (prose, such as the interviewers' notes).
 */
export function createEditor(parent, { label = 'code', nonce = '', wrap = false } = {}) {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc: '',
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        foldGutter(),
        drawSelection(),
        dropCursor(),
        EditorState.allowMultipleSelections.of(true),
        indentOnInput(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        bracketMatching(),
        closeBrackets(),
        rectangularSelection(),
        crosshairCursor(),
        highlightActiveLine(),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...foldKeymap, indentWithTab]),
        EditorView.contentAttributes.of({ 'aria-label': label }),
        editable.of([]),
        nonce ? EditorView.cspNonce.of(nonce) : [],
        wrap ? EditorView.lineWrapping : [],
      ],
    }),
  });
}
