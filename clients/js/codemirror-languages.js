// codemirror-languages.js — the CodeMirror 6 language support for every
// session language pairpad knows, with its usual indentation, for
// bindCodeMirror's `language` option. Needs the @codemirror/lang-* packages
// and @codemirror/legacy-modes (peer dependencies).

import { StreamLanguage, indentUnit } from '@codemirror/language';
import { cpp } from '@codemirror/lang-cpp';
import { go } from '@codemirror/lang-go';
import { java } from '@codemirror/lang-java';
import { javascript } from '@codemirror/lang-javascript';
import { php } from '@codemirror/lang-php';
import { python } from '@codemirror/lang-python';
import { rust } from '@codemirror/lang-rust';
import { sql } from '@codemirror/lang-sql';
import { csharp, kotlin } from '@codemirror/legacy-modes/mode/clike';
import { ruby } from '@codemirror/legacy-modes/mode/ruby';
import { swift } from '@codemirror/legacy-modes/mode/swift';

// Each language: its support and its indentation unit.
const table = {
  javascript: [() => javascript(), '  '],
  typescript: [() => javascript({ typescript: true }), '  '],
  python: [() => python(), '    '],
  java: [() => java(), '    '],
  go: [() => go(), '\t'],
  c: [() => cpp(), '    '],
  cpp: [() => cpp(), '    '],
  csharp: [() => StreamLanguage.define(csharp), '    '],
  ruby: [() => StreamLanguage.define(ruby), '  '],
  rust: [() => rust(), '    '],
  kotlin: [() => StreamLanguage.define(kotlin), '    '],
  swift: [() => StreamLanguage.define(swift), '    '],
  php: [() => php(), '    '],
  sql: [() => sql(), '  '],
};

/** languageNames lists the languages languageSupport knows. */
export const languageNames = Object.freeze(Object.keys(table));

/**
 * languageSupport returns the editor extension for a session language
 * (highlighting, indentation rules, bracket data and the indentation unit),
 * or an empty one for a language it does not know.
 */
export function languageSupport(name) {
  const entry = Object.hasOwn(table, name) ? table[name] : null;
  if (!entry) return [];
  const [support, unit] = entry;
  return [support(), indentUnit.of(unit)];
}
