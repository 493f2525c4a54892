// Unit tests of the Monaco binding's pure parts: the changes of one Monaco
// content event become one op, invert undoes an op, and LocalHistory undoes
// one person's changes while others edit. The binding itself
// runs in Chromium against a real Monaco editor (tests/browser/monaco.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LocalHistory, changesToOp, invert, rgb } from '../monaco.js';
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

// A shared text whose every character is unique (a code point from a
// counter), so the test can tell whose character each one is.
class Tagged {
  constructor(r, length) {
    this.r = r;
    this.next = 0x4e00;
    this.text = this.fresh(length);
    this.original = new Set(this.text);
  }

  fresh(n) {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.next++);
    return s;
  }

  // randomOp inserts fresh characters and deletes a few, at random places.
  randomOp() {
    const { r, text } = this;
    const op = [];
    let pos = 0;
    while (pos < text.length) {
      const k = 1 + r.int(Math.min(5, text.length - pos));
      const roll = r.int(6);
      if (roll === 0) op.push(this.fresh(1 + r.int(3)));
      if (roll === 1) op.push(-k);
      else op.push(k);
      pos += k;
    }
    if (r.bool()) op.push(this.fresh(1 + r.int(3)));
    return op;
  }
}

test('LocalHistory: undoing every own step removes exactly what this person did, whatever others typed between', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = new Rand(seed);
    const doc = new Tagged(r, 1 + r.int(12));
    let clock = 0;
    const history = new LocalHistory({ now: () => (clock += r.int(400)) });
    const mine = new Set(); // characters this person inserted
    const theirs = new Set(); // characters others inserted
    const theyDeleted = new Set();
    const applyOp = (op) => {
      const before = doc.text;
      doc.text = apply(before, op);
      return { op, before };
    };
    for (let i = 0; i < 12; i++) {
      const before = doc.text;
      const op = doc.randomOp();
      const after = apply(before, op);
      const inserted = [...after].filter((c) => !before.includes(c));
      const deleted = [...before].filter((c) => !after.includes(c));
      doc.text = after;
      if (r.bool()) {
        inserted.forEach((c) => mine.add(c));
        history.record(op, before);
        if (r.int(3) === 0) history.breakGroup();
      } else {
        inserted.forEach((c) => theirs.add(c));
        deleted.forEach((c) => theyDeleted.add(c));
        history.rebase(op);
      }
      if (r.int(5) === 0) history.undo(applyOp); // an undo between the edits
    }
    while (history.undo(applyOp) !== null);
    const left = new Set(doc.text);
    for (const c of mine) if (!theirs.has(c)) assert.ok(!left.has(c), `seed ${seed}: own character ${c} survived the undos`);
    for (const c of [...theirs, ...doc.original]) {
      assert.equal(left.has(c), !theyDeleted.has(c), `seed ${seed}: ${c} ${theyDeleted.has(c) ? 'deleted by others came back' : 'is lost'}`);
    }
    const order = [...doc.text].filter((c) => doc.original.has(c));
    const want = [...doc.original].filter((c) => left.has(c));
    assert.deepEqual(order, want, `seed ${seed}: the original text is out of order`);
    assert.equal(history.undoDepth, 0);
  }
});

test('LocalHistory: typing close together is one step; a caret move or a pause starts another; redo puts a step back', () => {
  let clock = 0;
  const history = new LocalHistory({ groupDelay: 500, now: () => clock });
  let text = '';
  const type = (s, gap) => {
    clock += gap;
    const op = text ? [text.length, s] : [s];
    history.record(op, text);
    text += s;
  };
  const applyOp = (op) => {
    const before = text;
    text = apply(text, op);
    return { op, before };
  };
  type('a', 0);
  type('b', 100); // same step
  type('c', 600); // a pause
  history.breakGroup();
  type('d', 10); // the caret moved
  assert.equal(history.undoDepth, 3);
  history.undo(applyOp);
  assert.equal(text, 'abc');
  history.undo(applyOp);
  assert.equal(text, 'ab');
  history.undo(applyOp);
  assert.equal(text, '');
  assert.equal(history.undo(applyOp), null);
  history.redo(applyOp);
  assert.equal(text, 'ab');
  type('x', 10); // a new change clears the redo steps
  assert.equal(history.redoDepth, 0);
  assert.equal(history.redo(applyOp), null);
  assert.equal(text, 'abx');
});

test('rgb: a user colour as #rrggbb for the stylesheet, grey for anything else', () => {
  const cases = [
    ['#e6194b', '#e6194b'],
    ['#ABC', '#AABBCC'],
    ['#abcd', '#aabbcc'],
    ['#11223344', '#112233'],
    ['red', '#888888'],
    ['#12345', '#888888'],
    ['#fff; background: url(x)', '#888888'],
    [undefined, '#888888'],
  ];
  for (const [color, want] of cases) assert.equal(rgb(color), want, String(color));
});
