// Tests of the client's OT algebra (ot.js): table cases, the
// convergence property TP1 and compose/diff properties with a seeded
// generator, and surrogate pairs.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  OTError,
  apply,
  baseLength,
  compose,
  diff,
  isNoop,
  normalize,
  targetLength,
  transform,
  transformIndex,
  validate,
  wellFormed,
} from '../ot.js';
import { Rand, randomOp, randomText } from './rand.mjs';

const SEEDS = Number(process.env.OT_SEEDS || 2000);

test('apply', () => {
  const cases = [
    { text: '', op: [], want: '' },
    { text: '', op: ['abc'], want: 'abc' },
    { text: 'hello', op: [5, ' world'], want: 'hello world' },
    { text: 'hello', op: [1, -3, 1], want: 'ho' },
    { text: 'hello', op: ['J', -1, 4], want: 'Jello' },
    { text: 'a😀b', op: [1, -2, 'x', 1], want: 'axb' },
    { text: 'a😀b', op: [3, '👍', 1], want: 'a😀👍b' },
    { text: 'line\r\nnext', op: [4, -2, '\n', 4], want: 'line\nnext' },
  ];
  for (const c of cases) assert.equal(apply(c.text, c.op), c.want, JSON.stringify(c));
});

test('apply refuses ops that do not fit', () => {
  const cases = [
    { text: 'abc', op: [2], kind: 'base-length' },
    { text: 'abc', op: [4], kind: 'base-length' },
    { text: 'abc', op: [-5], kind: 'base-length' },
    { text: 'a😀', op: [2, 1], kind: 'surrogate' },
    { text: 'a😀', op: [1, -1, 1], kind: 'surrogate' },
    { text: 'a😀', op: [2, 'x', 1], kind: 'surrogate' },
    { text: 'abc', op: [0, 3], kind: 'malformed' },
    { text: 'abc', op: [1.5, 1.5], kind: 'malformed' },
    { text: 'abc', op: ['', 3], kind: 'malformed' },
    { text: 'abc', op: [null, 3], kind: 'malformed' },
    { text: 'abc', op: 'abc', kind: 'malformed' },
    { text: 'abc', op: [2 ** 31, 3], kind: 'malformed' },
  ];
  for (const c of cases) {
    assert.throws(
      () => apply(c.text, c.op),
      (err) => err instanceof OTError && err.kind === c.kind,
      JSON.stringify(c),
    );
  }
});

test('lengths, noop, validate', () => {
  const op = [3, 'ab', -2, 1, '😀'];
  assert.equal(baseLength(op), 6);
  assert.equal(targetLength(op), 8);
  assert.equal(isNoop([5]), true);
  assert.equal(isNoop([]), true);
  assert.equal(isNoop([5, 'x']), false);
  assert.equal(isNoop([-1]), false);
  validate(op);
  assert.throws(() => validate([1, {}]), OTError);
});

test('normalize', () => {
  const cases = [
    { op: [], want: [] },
    { op: [1, 2, 'a', 'b', -1, -2, 3], want: [3, 'ab', -3, 3] },
    { op: [-1, 'x'], want: ['x', -1] },
    { op: [-1, 'x', -1, 'y', 2], want: ['xy', -2, 2] },
    { op: [0, '', 4], want: [4] },
  ];
  for (const c of cases) assert.deepEqual(normalize(c.op), c.want, JSON.stringify(c));
});

test('transform', () => {
  const cases = [
    // Both insert at one place: the first applied (a) comes first.
    { text: 'ab', a: [1, 'X', 1], b: [1, 'Y', 1], want: 'aXYb' },
    { text: '', a: ['first'], b: ['second'], want: 'firstsecond' },
    // Delete against insert inside the deleted range.
    { text: 'abcdef', a: [1, -4, 1], b: [3, 'X', 3], want: 'aXf' },
    // Both delete overlapping ranges.
    { text: 'abcdef', a: [1, -3, 2], b: [2, -3, 1], want: 'af' },
    // Emoji on both sides.
    { text: '😀😁', a: [2, '👍', 2], b: [-2, 2], want: '👍😁' },
  ];
  for (const c of cases) {
    const [a2, b2] = transform(c.a, c.b);
    assert.equal(apply(apply(c.text, c.a), b2), c.want, `a then b' ${JSON.stringify(c)}`);
    assert.equal(apply(apply(c.text, c.b), a2), c.want, `b then a' ${JSON.stringify(c)}`);
  }
  assert.throws(() => transform([1], [2]), (e) => e.kind === 'base-length');
});

test('compose', () => {
  const cases = [
    { text: 'abc', a: [3, 'd'], b: [-1, 3], want: [-1, 2, 'd'] },
    { text: '', a: ['😀x'], b: [2, -1], want: ['😀'] },
    { text: 'abc', a: [-3], b: ['xyz'], want: ['xyz', -3] },
  ];
  for (const c of cases) {
    const ab = compose(c.a, c.b);
    assert.deepEqual(ab, c.want, JSON.stringify(c));
    assert.equal(apply(c.text, ab), apply(apply(c.text, c.a), c.b));
  }
  assert.throws(() => compose(['😀'], [1, 1]), (e) => e.kind === 'surrogate');
  assert.throws(() => compose([3], [2]), (e) => e.kind === 'base-length');
});

test('diff', () => {
  const cases = [
    { from: '', to: '', want: [] },
    { from: 'abc', to: 'abc', want: [3] },
    { from: 'abc', to: 'abXc', want: [2, 'X', 1] },
    { from: 'abc', to: 'ac', want: [1, -1, 1] },
    { from: 'aaa', to: 'aaaa', want: [3, 'a'] },
    // 😀 and 😁 share their high surrogate: never cut between the halves.
    { from: 'a😀b', to: 'a😁b', want: [1, '😁', -2, 1] },
    { from: '😀', to: '😀😀', want: [2, '😀'] },
    { from: 'x😀', to: 'y😀', want: ['y', -1, 2] },
    // A lone surrogate is inserted as U+FFFD, as the server would keep it.
    { from: 'a', to: 'a\ud800', want: [1, '\ufffd'] },
  ];
  for (const c of cases) {
    const op = diff(c.from, c.to);
    assert.deepEqual(op, c.want, JSON.stringify(c));
    assert.equal(apply(c.from, op), wellFormed(c.to));
  }
});

test('transformIndex', () => {
  const cases = [
    { op: [2, 'xy', 2], idx: 1, own: false, want: 1 },
    { op: [2, 'xy', 2], idx: 2, own: false, want: 2 },
    { op: [2, 'xy', 2], idx: 2, own: true, want: 4 },
    { op: [2, 'xy', 2], idx: 3, own: false, want: 5 },
    { op: [1, -2, 1], idx: 2, own: false, want: 1 },
    { op: [1, -2, 1], idx: 4, own: false, want: 2 },
    { op: [1, -2, 'z', 1], idx: 3, own: false, want: 1 },
    { op: [1, -2, 'z', 1], idx: 3, own: true, want: 2 },
    { op: [4], idx: 99, own: false, want: 4 },
    { op: [4], idx: -3, own: false, want: 0 },
  ];
  for (const c of cases) assert.equal(transformIndex(c.op, c.idx, c.own), c.want, JSON.stringify(c));
});

test('wellFormed keeps pairs and replaces lone halves', () => {
  assert.equal(wellFormed('a😀b'), 'a😀b');
  assert.equal(wellFormed('\ud83d'), '\ufffd');
  assert.equal(wellFormed('x\ude00y\ud83d'), 'x\ufffdy\ufffd');
});

test('TP1: both orders of two concurrent ops converge', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = new Rand(seed);
    const text = randomText(r, 12);
    const a = randomOp(r, text);
    const b = randomOp(r, text);
    const [a2, b2] = transform(a, b);
    const viaA = apply(apply(text, a), b2);
    const viaB = apply(apply(text, b), a2);
    assert.equal(viaA, viaB, `seed ${seed}: text ${JSON.stringify(text)} a ${JSON.stringify(a)} b ${JSON.stringify(b)}`);
    assert.equal(viaA, wellFormed(viaA), `seed ${seed}: result splits a surrogate pair`);
  }
});

test('transform keeps the first op\'s insert first at a shared position', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = new Rand(seed);
    const text = randomText(r, 8);
    const at = Array.from(text).slice(0, r.int(Array.from(text).length + 1)).join('').length;
    const rest = text.length - at;
    const mk = (s) => [at, s, rest].filter((c) => c !== 0);
    const [, b2] = transform(mk('A'), mk('B'));
    const got = apply(apply(text, mk('A')), b2);
    assert.equal(got, text.slice(0, at) + 'AB' + text.slice(at), `seed ${seed}`);
  }
});

test('compose agrees with applying in turn', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = new Rand(seed);
    const text = randomText(r, 12);
    const a = randomOp(r, text);
    const mid = apply(text, a);
    const b = randomOp(r, mid);
    assert.equal(apply(text, compose(a, b)), apply(mid, b), `seed ${seed}`);
  }
});

test('diff turns any text into any other', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = new Rand(seed);
    const from = randomText(r, 10);
    const to = r.bool() ? randomText(r, 10) : apply(from, randomOp(r, from));
    const op = diff(from, to);
    assert.equal(apply(from, op), to, `seed ${seed}: ${JSON.stringify(from)} -> ${JSON.stringify(to)}`);
    assert.deepEqual(op, normalize(op), `seed ${seed}: not normalized`);
  }
});

test('transformIndex follows the text around the cursor', () => {
  // A cursor just before a marker character stays next to it after any op that keeps it.
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = new Rand(seed);
    const text = randomText(r, 10).replaceAll('#', '');
    const cps = Array.from(text);
    const k = r.int(cps.length + 1);
    const idx = cps.slice(0, k).join('').length;
    const marked = text.slice(0, idx) + '#' + text.slice(idx);
    const op = randomOp(r, marked);
    const out = apply(marked, op);
    const hash = out.indexOf('#');
    if (hash === -1 || op.some((c) => typeof c === 'string' && c.includes('#'))) continue;
    // The cursor just before '#' moves with it; an insert right at the
    // cursor goes before it only for the cursor's owner.
    assert.equal(transformIndex(op, idx, true), hash, `seed ${seed} own`);
    const before = transformIndex(op, idx, false);
    assert.equal(before <= hash && out.slice(before, hash) === insertedAt(op, idx), true, `seed ${seed} other`);
  }
});

// insertedAt returns the text op inserts exactly at base offset idx (after
// any delete that reaches idx), which a non-owner's cursor stays before.
function insertedAt(op, idx) {
  let pos = 0;
  let s = '';
  for (const c of op) {
    if (typeof c === 'string') {
      if (pos === idx) s += c;
    } else {
      if (pos === idx && c > 0) break;
      pos += Math.abs(c);
      if (pos > idx) break;
    }
  }
  return s;
}
