// Type declarations of @pairpad/client/codemirror-languages (codemirror-languages.js).
import type { Extension } from '@codemirror/state';
import type { Language } from './index.js';

/** The session languages languageSupport knows. */
export declare const languageNames: readonly Language[];

/** languageSupport returns highlighting, indentation and the indentation unit for a session language (empty for an unknown one). */
export declare function languageSupport(name: Language | string): Extension;
