// Pins the document hash (hash.js): FNV-1a 64-bit over UTF-8, 16 lowercase
// hex digits, as the server sends it.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { fnv1a64 } from '../hash.js';
import { Rand } from './rand.mjs';

test('fnv1a64 gives the published FNV-1a 64 values', () => {
  const vectors = [
    ['', 'cbf29ce484222325'],
    ['a', 'af63dc4c8601ec8c'],
    ['b', 'af63df4c8601f1a5'],
    ['foobar', '85944171f73967e8'],
    ['chongo was here!\n', '46810940eff5f915'],
  ];
  for (const [text, want] of vectors) assert.equal(fnv1a64(text), want, JSON.stringify(text));
});

test('fnv1a64 hashes the UTF-8 bytes; a lone surrogate counts as U+FFFD', () => {
  assert.equal(fnv1a64('é'), fnv1a64('\u00e9'));
  assert.notEqual(fnv1a64('é'), fnv1a64('e\u0301'));
  assert.equal(fnv1a64('a\ud800b'), fnv1a64('a\ufffdb'));
  assert.equal(fnv1a64('😀'), reference('😀'));
});

// reference is the textbook FNV-1a 64 in BigInt arithmetic.
function reference(text) {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(text)) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

test('fnv1a64 agrees with a BigInt reference on random texts', () => {
  const r = new Rand(7);
  for (let i = 0; i < 500; i++) {
    let text = '';
    for (let n = r.int(40); n > 0; n--) text += String.fromCharCode(r.int(0x10000));
    assert.equal(fnv1a64(text), reference(text), JSON.stringify(text));
  }
});
