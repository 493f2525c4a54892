// Cross-checks the client's ot.js against the server's Go package
// shared/ot: services/realtime/web/testdata/ot_vectors.json holds random
// cases with the Go results (TestOTVectors in that package keeps the file
// in step with shared/ot), and every JavaScript result must be identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { apply, compose, diff, normalize, transform, transformIndex } from '../ot.js';

const vectors = JSON.parse(
  readFileSync(new URL('../../../services/realtime/web/testdata/ot_vectors.json', import.meta.url), 'utf8'),
);

test('the vector file has cases', () => {
  assert.ok(vectors.length >= 100, `only ${vectors.length} vectors`);
});

test('ot.js gives the Go results on every vector', () => {
  vectors.forEach((v, i) => {
    const at = `vector ${i}: ${JSON.stringify({ doc: v.doc, a: v.a, b: v.b })}`;
    assert.deepEqual(normalize(v.a), v.normA, `${at} normalize`);
    assert.equal(apply(v.doc, v.a), v.applyA, `${at} apply`);
    const [a2, b2] = transform(v.a, v.b);
    assert.deepEqual(a2, v.transformA, `${at} transform a'`);
    assert.deepEqual(b2, v.transformB, `${at} transform b'`);
    assert.equal(apply(v.applyA, b2), v.converged, `${at} converged`);
    assert.deepEqual(compose(v.a, v.c), v.compose, `${at} compose with ${JSON.stringify(v.c)}`);
    assert.deepEqual(diff(v.doc, v.applyA), v.diffA, `${at} diff to applyA`);
    assert.deepEqual(diff(v.doc, v.other), v.diffOther, `${at} diff to ${JSON.stringify(v.other)}`);
    assert.equal(transformIndex(v.a, v.index, v.own), v.indexA, `${at} transformIndex(${v.index}, ${v.own})`);
  });
});
