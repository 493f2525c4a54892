// Unit tests of the Monaco binding's pure parts: the changes of one Monaco
// content event become one op, and invert undoes an op. The binding itself
// runs in Chromium against a real Monaco editor (tests/browser/monaco.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { changesToOp, invert } from '../monaco.js';
import { apply, compose, isNoop } from '../ot.js';
import { Rand, randomOp, randomText } from './rand.mjs';

// edit applies Monaco-style changes, all against text, one by one from the
// last to the first (so earlier offsets stay valid), as Monaco's model does.
function edit(text, changes) {
  let out = text;
  for (const c of [...changes].sort((x, y) => y.rangeOffset - x.rangeOffset)) {
    out = out.slice(0, c.rangeOffset) + c.text + out.slice(c.rangeOffset + c.rangeLength);
  }
  return out;
}

test('changesToOp: the changes of one event, in any order, against the text before it', () => {
  const cases = [
    { name: 'one insert', text: 'hello', changes: [{ rangeOffset: 5, rangeLength: 0, text: '!' }] },
    { name: 'one replace', text: 'hello world', changes: [{ rangeOffset: 6, rangeLength: 5, text: 'there' }] },
    {
      name: 'multi-cursor typing, last change first (as Monaco reports it)',
      text: 'a\nb\nc',
      changes: [
        { rangeOffset: 5, rangeLength: 0, text: 'x' },
        { rangeOffset: 3, rangeLength: 0, text: 'x' },
        { rangeOffset: 1, rangeLength: 0, text: 'x' },
      ],
    },
    {
      name: 'deletes and inserts mixed',
      text: 'one two three',
      changes: [
        { rangeOffset: 0, rangeLength: 3, text: '' },
        { rangeOffset: 8, rangeLength: 5, text: '3' },
        { rangeOffset: 4, rangeLength: 0, text: '2 ' },
      ],
    },
    { name: 'emoji', text: 'a😀b', changes: [{ rangeOffset: 1, rangeLength: 2, text: '👍' }] },
  ];
  for (const c of cases) {
    const op = changesToOp(c.changes, c.text.length);
    assert.equal(apply(c.text, op), edit(c.text, c.changes), c.name);
  }
  assert.throws(() => changesToOp([{ rangeOffset: 0, rangeLength: 3, text: '' }, { rangeOffset: 1, rangeLength: 1, text: '' }], 5), /overlapping/);
});

test('invert undoes an op, and the inverse of the inverse redoes it (random ops)', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = new Rand(seed);
    const text = randomText(r, 20);
    const op = randomOp(r, text);
    const after = apply(text, op);
    const undo = invert(op, text);
    assert.equal(apply(after, undo), text, `seed ${seed}`);
    assert.equal(apply(text, invert(undo, after)), after, `seed ${seed}`);
    assert.ok(isNoop(compose(op, undo)) || apply(text, compose(op, undo)) === text, `seed ${seed}`);
  }
});
