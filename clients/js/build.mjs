// build.mjs — bundles the editor the demo page uses (bundle/editor.js:
// CodeMirror 6, the languages, the pairpad binding) into dist/editor.js with
// esbuild, from the packages npm ci installed from package-lock.json. The
// server embeds dist/ (embed.go); `make build`, `make run` and `make test`
// run this first.
//
//   node build.mjs
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

await build({
  absWorkingDir: here,
  entryPoints: ['bundle/editor.js'],
  outfile: 'dist/editor.js',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
