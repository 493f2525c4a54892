// Type declarations of @pairpad/client/codemirror (codemirror.js).
import type { ChangeSet, ChangeSpec, Extension } from '@codemirror/state';
import type { EditorView } from '@codemirror/view';
import type { Language, NotesDocument, Op, PairpadClient } from './index.js';

export interface BindCodeMirrorOptions {
  /** the editor extension for a session language (see @pairpad/client/codemirror-languages); without it the language is left alone */
  language?: ((name: Language) => Extension) | null;
  /** send the local caret and selection as cursor-updates (default true) */
  shareCursor?: boolean;
}

/**
 * bindCodeMirror keeps view and client in step: local changes become ops,
 * remote ops become changes outside the undo history, remote carets
 * (`[data-remote-cursor="<userId>"]`) and selections are drawn in the text,
 * a language change reconfigures the language. It returns unbind(). Pass
 * client.notesDocument (with shareCursor false) to edit the interviewers' notes.
 */
export declare function bindCodeMirror(view: EditorView, client: PairpadClient | NotesDocument, options?: BindCodeMirrorOptions): () => void;

/** changesToOp turns a CodeMirror ChangeSet into an op on the text it applies to. */
export declare function changesToOp(changes: ChangeSet): Op;

/** opToChanges turns an op on a document into change specs on its shown (LF) text; pairs are its CRLF offsets. */
export declare function opToChanges(op: Op, pairs?: number[]): ChangeSpec[];
