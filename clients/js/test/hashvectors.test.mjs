// Cross-checks hash.js against the server: services/realtime/web/testdata/
// hash_vectors.json holds texts with protocol.DocumentHash's answers
// (TestHashVectors in that Go package keeps the file in step), and
// fnv1a64 must give every one of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { fnv1a64 } from '../hash.js';

const vectors = JSON.parse(
  readFileSync(new URL('../../../services/realtime/web/testdata/hash_vectors.json', import.meta.url), 'utf8'),
);

test('fnv1a64 gives the Go server hash on every vector', () => {
  assert.ok(vectors.length >= 100, `only ${vectors.length} vectors`);
  for (const v of vectors) assert.equal(fnv1a64(v.text), v.hash, JSON.stringify(v.text));
});
