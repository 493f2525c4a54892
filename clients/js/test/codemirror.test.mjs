// Tests of the CodeMirror binding's conversions (codemirror.js) between ops
// and CodeMirror change sets, with @codemirror/state (no DOM needed); the
// binding itself runs in Chromium in tests/browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ChangeSet, Text } from '@codemirror/state';

import { changesToOp, opToChanges } from '../codemirror.js';
import { apply } from '../ot.js';
import { crlfPairs, shownText } from '../lineends.js';
import { Rand, randomOp, randomText } from './rand.mjs';

const doc = (s) => Text.of(s.split('\n'));

test('opToChanges and changesToOp carry the same edit both ways', () => {
  const r = new Rand(11);
  for (let i = 0; i < 500; i++) {
    const text = randomText(r, 12).replace(/\r/g, '');
    const op = randomOp(r, text, 3);
    const want = apply(text, op);
    const changes = ChangeSet.of(opToChanges(op), text.length);
    assert.equal(changes.apply(doc(text)).toString(), want, JSON.stringify({ text, op }));
    const back = changesToOp(changes);
    assert.equal(apply(text, back), want, JSON.stringify({ text, op, back }));
  }
});

test('changesToOp of several changes at once, in document order', () => {
  const text = 'abcdef';
  const changes = ChangeSet.of(
    [
      { from: 4, to: 6, insert: 'XY' },
      { from: 0, insert: '> ' },
      { from: 1, to: 2 },
    ],
    text.length,
  );
  assert.deepEqual(changesToOp(changes), ['> ', 1, -1, 2, 'XY', -2]);
  assert.equal(apply(text, changesToOp(changes)), changes.apply(doc(text)).toString());
});

test('opToChanges maps a CRLF document onto the shown text', () => {
  const text = 'one\r\ntwo\r\nthree';
  const pairs = crlfPairs(text);
  const cases = [
    [10, 'x', -5], // replace "three"
    [5, -5, 5], // delete "two\r\n"
    [3, 'A\r\nB', 12], // insert a CRLF line inside
    ['#', 15],
  ];
  for (const op of cases) {
    const shown = ChangeSet.of(opToChanges(op, pairs), shownText(text).length).apply(doc(shownText(text))).toString();
    assert.equal(shown, shownText(apply(text, op)), JSON.stringify(op));
  }
});
