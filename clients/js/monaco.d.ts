// Type declarations of @pairpad/client/monaco (monaco.js). The binding
// imports nothing from monaco-editor: the editor and the namespace are typed
// only as far as the signature needs, so this file needs no Monaco types.
import type { Op, PairpadClient } from './index.js';

/** Options of bindMonaco. */
export interface MonacoBindingOptions {
  /**
   * The monaco-editor namespace (`import * as monaco from 'monaco-editor'`), default globalThis.monaco:
   * the binding uses it to switch the model's language and to bind the undo keys.
   */
  monaco?: object;
  /** Maps the session's language names to Monaco language ids; a name not listed is used as the id. */
  languages?: Partial<Record<string, string>>;
  /** Share the local caret and selection as cursor-updates (default true). */
  shareCursor?: boolean;
}

/** The part of a Monaco IStandaloneCodeEditor the binding's signature names; pass the editor itself. */
export interface MonacoEditorLike {
  getModel(): object | null;
  getContainerDomNode(): HTMLElement;
}

/**
 * bindMonaco keeps a Monaco editor and a client in step: local changes become
 * ops, remote ops become model edits outside Monaco's undo stack, the others' carets (each an element with
 * `data-remote-cursor="<userId>"` and a name flag) and selections are drawn in their colours, the session's
 * language sets the model's, Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y undo and redo only this user's changes, and the
 * editor is read-only for an observer and once the session has ended. It returns unbind().
 */
export declare function bindMonaco(editor: MonacoEditorLike, client: PairpadClient, options?: MonacoBindingOptions): () => void;

/** invert returns the op that undoes op, which applies to text. */
export declare function invert(op: Op, text: string): Op;

/** rgb returns a user's colour as #rrggbb (any alpha dropped), or #888888 for anything that is not a hex colour. */
export declare function rgb(color: unknown): string;

/** changesToOp turns the changes of one Monaco content event (all against the text before it) into one op. */
export declare function changesToOp(changes: ReadonlyArray<{ rangeOffset: number; rangeLength: number; text: string }>, length: number): Op;

/** One person's undo and redo in a shared text: their own steps, rebased over others' ops. */
export declare class LocalHistory {
  constructor(options?: { groupDelay?: number; limit?: number; now?: () => number });
  readonly undoDepth: number;
  readonly redoDepth: number;
  record(op: Op, before: string): void;
  breakGroup(): void;
  rebase(op: Op): void;
  clear(): void;
  undo(applyOp: (op: Op) => { op: Op; before: string }): Op | null;
  redo(applyOp: (op: Op) => { op: Op; before: string }): Op | null;
}
