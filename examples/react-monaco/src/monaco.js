// The Monaco editor from the monaco-editor package, bundled: the editor
// core with all its features (find, folding, bracket matching, suggestions,
// multiple carets, ...), the highlighting of every session language (each
// grammar is its own chunk, loaded when a model first uses it), and the
// editor worker as a Vite worker chunk. Nothing comes from a CDN. (The
// TypeScript, CSS, HTML and JSON language services, with their own large
// workers, are left out: `import * as monaco from 'monaco-editor'` would
// bring them, and then getWorker must hand out their workers by label.)
import * as monaco from 'monaco-editor/editor/editor.api';
import 'monaco-editor/features/register.all';
import 'monaco-editor/languages/definitions/javascript/register';
import 'monaco-editor/languages/definitions/typescript/register';
import 'monaco-editor/languages/definitions/python/register';
import 'monaco-editor/languages/definitions/java/register';
import 'monaco-editor/languages/definitions/go/register';
import 'monaco-editor/languages/definitions/cpp/register'; // c and cpp
import 'monaco-editor/languages/definitions/csharp/register';
import 'monaco-editor/languages/definitions/ruby/register';
import 'monaco-editor/languages/definitions/rust/register';
import 'monaco-editor/languages/definitions/kotlin/register';
import 'monaco-editor/languages/definitions/swift/register';
import 'monaco-editor/languages/definitions/php/register';
import 'monaco-editor/languages/definitions/sql/register';
import EditorWorker from 'monaco-editor/editor/editor.worker?worker';

self.MonacoEnvironment = {
  getWorker: () => new EditorWorker(),
};

export { monaco };
