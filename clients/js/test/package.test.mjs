// The package as npm publishes it: `npm pack --dry-run` lists every module
// and the declarations (and nothing of the tests, the build or the Go
// embedding), every entry of the exports map and every module index.js
// reaches is packed, and the declarations type-check against a small usage
// file (test/types/usage.ts) with `tsc --noEmit`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));

function packedFiles() {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [pack] = JSON.parse(out);
  assert.equal(pack.name, '@pairpad/client');
  return pack.files.map((f) => f.path).sort();
}

test('npm pack lists the modules and index.d.ts, not the tests or the Go files', () => {
  const files = packedFiles();
  const modules = readdirSync(root).filter((f) => f.endsWith('.js'));
  assert.ok(modules.length >= 8, `modules ${modules}`);
  for (const f of [...modules, 'index.d.ts', 'codemirror.d.ts', 'codemirror-languages.d.ts', 'package.json', 'README.md']) {
    assert.ok(files.includes(f), `${f} is not packed: ${files}`);
  }
  for (const f of files) assert.ok(!/^test\/|^bundle\/|^dist\/|\.go$|^go\.mod$|\.mjs$|node_modules/.test(f), `${f} should not be packed`);
});

test('every entry of the exports map is packed', () => {
  const files = new Set(packedFiles());
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const targets = Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
  assert.ok(targets.length >= 7, JSON.stringify(pkg.exports));
  for (const t of targets) assert.ok(files.has(t.replace(/^\.\//, '')), `${t} is exported but not packed`);
});

test('every module index.js imports is packed', () => {
  const files = new Set(packedFiles());
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    assert.ok(files.has(name), `${name} is imported but not packed`);
    const src = readFileSync(join(root, name), 'utf8');
    for (const m of src.matchAll(/from '\.\/([a-z0-9-]+\.js)'/g)) visit(m[1]);
  };
  visit('index.js');
  assert.ok(seen.size >= 8, `index.js reaches only ${[...seen]}`);
});

test('index.d.ts type-checks against a usage file (tsc --noEmit)', () => {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  assert.ok(existsSync(tsc), `${tsc} is missing: run \`npm ci\` in clients/js (make test-deps does)`);
  try {
    execFileSync(tsc, ['--noEmit', '-p', join(root, 'test', 'types')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    assert.fail(`tsc --noEmit failed:\n${err.stdout}${err.stderr}`);
  }
});
