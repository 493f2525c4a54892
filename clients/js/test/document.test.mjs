// Tests of SyncDocument (document.js), the three OT client
// states without any transport.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SyncDocument, States } from '../document.js';
import { apply, transform } from '../ot.js';
import { Rand, randomOp, randomText } from './rand.mjs';

function newDoc(text = '', version = 0) {
  let n = 0;
  return new SyncDocument(text, version, () => `op-${++n}`);
}

test('states: synchronized, awaiting ack, awaiting with buffer', () => {
  const d = newDoc('ab', 3);
  assert.equal(d.state, States.SYNCHRONIZED);
  assert.equal(d.applyLocal([2, 'c']), true, 'the first edit is to be sent');
  assert.equal(d.state, States.AWAITING_ACK);
  assert.deepEqual(d.outstanding, { op: [2, 'c'], opId: 'op-1' });
  assert.equal(d.applyLocal([3, 'd']), false, 'later edits wait in the buffer');
  assert.equal(d.applyLocal([4, 'e']), false);
  assert.equal(d.state, States.AWAITING_WITH_BUFFER);
  assert.deepEqual(d.buffer, [3, 'de']);
  assert.equal(d.text, 'abcde');
  assert.equal(d.confirmed, 'ab');

  assert.equal(d.ack(), true, 'the buffer becomes the next update');
  assert.equal(d.version, 4);
  assert.equal(d.confirmed, 'abc');
  assert.deepEqual(d.outstanding, { op: [3, 'de'], opId: 'op-2' });
  assert.equal(d.buffer, null);
  assert.equal(d.state, States.AWAITING_ACK);

  assert.equal(d.ack(), false);
  assert.equal(d.state, States.SYNCHRONIZED);
  assert.equal(d.confirmed, 'abcde');
  assert.equal(d.version, 5);
  assert.throws(() => d.ack());
});

test('a no-op edit is not sent', () => {
  const d = newDoc('abc');
  assert.equal(d.applyLocal([3]), false);
  assert.equal(d.state, States.SYNCHRONIZED);
});

test('remote updates are transformed over outstanding and buffer; remote wins ties', () => {
  const d = newDoc('xy', 0);
  d.applyLocal([1, 'L', 1]); // outstanding: xLy
  d.applyLocal([3, '!']); // buffer: xLy!
  const local = d.applyRemote([1, 'R', 1]); // the server applied R first at the same place
  assert.equal(d.version, 1);
  assert.equal(d.confirmed, 'xRy');
  assert.equal(d.text, 'xRLy!');
  assert.deepEqual(local, [1, 'R', 3]);
  assert.deepEqual(d.outstanding.op, [2, 'L', 1]);
  assert.deepEqual(d.buffer, [4, '!']);
  d.ack();
  d.ack();
  assert.equal(d.confirmed, 'xRLy!');
  assert.equal(d.version, 3);
});

test('a bad remote op leaves the document unchanged', () => {
  const d = newDoc('abc', 7);
  d.applyLocal([3, 'd']);
  const before = { ...d, outstanding: { ...d.outstanding } };
  assert.throws(() => d.applyRemote([5]));
  assert.throws(() => d.applyRemote('nope'));
  assert.equal(d.text, before.text);
  assert.equal(d.confirmed, before.confirmed);
  assert.equal(d.version, 7);
  assert.deepEqual(d.outstanding, before.outstanding);
});

test('rebase keeps local edits on the new server text; reset drops them', () => {
  const d = newDoc('hello', 2);
  d.applyLocal([5, '!']);
  d.rebase('oh hello', 9);
  assert.equal(d.version, 9);
  assert.equal(d.confirmed, 'oh hello');
  assert.equal(d.text, 'oh hello!');
  assert.equal(d.state, States.AWAITING_ACK);
  const op = d.reset('bye', 10);
  assert.equal(apply('oh hello!', op), 'bye');
  assert.equal(d.text, 'bye');
  assert.equal(d.state, States.SYNCHRONIZED);
});

test('random interleavings converge with a server', () => {
  // One client against a server that applies other users' ops first: the
  // client's text must always equal the server's once everything is acked.
  for (let seed = 1; seed <= 500; seed++) {
    const r = new Rand(seed);
    let server = randomText(r, 6);
    const history = [];
    const d = newDoc(server, 0);
    const inFlight = []; // {op, base} sent by the client, not yet applied by the server
    for (let step = 0; step < 12; step++) {
      const k = r.int(4);
      if (k === 0) {
        if (d.applyLocal(randomOp(r, d.text))) inFlight.push({ ...d.outstanding, base: d.version });
      } else if (k === 1) {
        // Another user's edit, applied by the server before ours.
        const op = randomOp(r, server);
        server = apply(server, op);
        history.push(op);
        d.applyRemote(op);
      } else if (k === 2 && inFlight.length) {
        // The server applies our update, transformed over what it applied since.
        const u = inFlight.shift();
        let op = u.op;
        for (const h of history.slice(u.base)) op = transform(h, op)[1];
        server = apply(server, op);
        history.push(op);
        if (d.ack()) inFlight.push({ ...d.outstanding, base: d.version });
      }
    }
    while (inFlight.length) {
      const u = inFlight.shift();
      let op = u.op;
      for (const h of history.slice(u.base)) op = transform(h, op)[1];
      server = apply(server, op);
      history.push(op);
      if (d.ack()) inFlight.push({ ...d.outstanding, base: d.version });
    }
    assert.equal(d.text, server, `seed ${seed}`);
    assert.equal(d.confirmed, server, `seed ${seed}`);
    assert.equal(d.version, history.length, `seed ${seed}`);
  }
});

test('dropOutstanding takes a duplicate outstanding update out of the text and keeps the buffer', () => {
  const d = newDoc('ab', 0);
  d.applyLocal([2, 'X']);
  d.applyLocal([3, 'Y']);
  // A sync whose text already holds X: the rebase puts X on top a second time.
  d.rebase('abX', 1);
  assert.equal(d.text, 'abXXY');
  const op = d.dropOutstanding();
  assert.equal(d.text, 'abXY');
  assert.equal(apply('abXXY', op), 'abXY');
  assert.equal(d.confirmed, 'abX');
  assert.equal(apply(d.confirmed, d.outstanding.op), 'abXY');
  assert.equal(d.buffer, null);
  assert.equal(d.state, States.AWAITING_ACK);

  const e = newDoc('ab', 0);
  e.applyLocal([2, 'X']);
  e.rebase('abX', 1);
  e.dropOutstanding();
  assert.equal(e.text, 'abX');
  assert.equal(e.state, States.SYNCHRONIZED);
});
