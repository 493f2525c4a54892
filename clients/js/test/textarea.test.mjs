// Tests of bindTextarea (textarea.js) with a stand-in textarea
// that behaves like the DOM one where it matters: its value reads back with
// LF line ends, and setting it moves the caret to the end. The real
// textarea is exercised by the browser tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PairpadClient } from '../client.js';
import { bindTextarea, shownText } from '../textarea.js';
import { FakeClock, FakeServer, settle } from './fakeserver.mjs';

class FakeTextarea extends EventTarget {
  constructor(doc) {
    super();
    this.ownerDocument = doc;
    this.v = '';
    this.selectionStart = 0;
    this.selectionEnd = 0;
    this.selectionDirection = 'none';
    this.scrollTop = 0;
    this.scrollLeft = 0;
  }

  get value() {
    return this.v;
  }

  set value(v) {
    const next = String(v).replace(/\r\n?/g, '\n');
    if (next === this.v) return;
    this.v = next;
    this.selectionStart = this.selectionEnd = next.length;
  }

  setSelectionRange(start, end, direction = 'none') {
    this.selectionStart = Math.min(start, this.v.length);
    this.selectionEnd = Math.min(end, this.v.length);
    this.selectionDirection = direction;
  }

  // type replaces the selection with text, as a keystroke or a paste does.
  type(text) {
    const t = text.replace(/\r\n?/g, '\n');
    this.v = this.v.slice(0, this.selectionStart) + t + this.v.slice(this.selectionEnd);
    this.selectionStart = this.selectionEnd = this.selectionStart + t.length;
    this.dispatchEvent(new Event('input'));
  }

  backspace() {
    if (this.selectionStart === this.selectionEnd) this.selectionStart = Math.max(0, this.selectionStart - 1);
    this.type('');
  }
}

async function setup(code) {
  const server = new FakeServer({ code });
  const clock = new FakeClock();
  const doc = new EventTarget();
  doc.activeElement = null;
  const make = async (userId) => {
    const client = new PairpadClient({ WebSocket: server.WebSocket, fetch: server.fetch, timers: clock, now: clock.now, network: null, idleTimeout: 1e9 });
    const ta = new FakeTextarea(doc);
    bindTextarea(client, ta);
    const joined = client.join('http://t.test', server.sessionId, userId, userId);
    await settle();
    server.deliver();
    await joined;
    return { client, ta };
  };
  return { server, clock, doc, make };
}

test('shownText reads line ends as a textarea does', () => {
  assert.equal(shownText('a\r\nb\rc\nd'), 'a\nb\nc\nd');
});

test('typing goes to the document; CRLF line ends survive', async () => {
  const { server, make } = await setup('one\r\ntwo\r\n');
  const { client, ta } = await make('a');
  assert.equal(ta.value, 'one\ntwo\n');
  ta.setSelectionRange(ta.value.length, ta.value.length);
  ta.type('three');
  assert.equal(client.text, 'one\r\ntwo\r\nthree');
  // Backspace at the start of "two" removes the whole CRLF.
  ta.setSelectionRange(4, 4);
  ta.backspace();
  assert.equal(client.text, 'onetwo\r\nthree');
  // Replacing a selection across a line end.
  ta.setSelectionRange(5, 8);
  ta.type('O\nT');
  assert.equal(client.text, 'onetwO\nThree');
  server.deliver();
  assert.equal(server.doc, client.text);
});

test('remote edits keep the caret and the selection on the same characters', async () => {
  const { server, make } = await setup('hello\r\nworld');
  const a = await make('a');
  const b = await make('b');
  // a selects "wor" (shown offsets 6..9).
  a.ta.setSelectionRange(6, 9, 'backward');
  b.client.applyLocal(['>> ', b.client.text.length]);
  b.client.applyLocal([3, -5, 'HELLO', b.client.text.length - 8]);
  server.deliver();
  assert.equal(a.client.text, '>> HELLO\r\nworld');
  assert.equal(a.ta.value, '>> HELLO\nworld');
  assert.equal(a.ta.value.slice(a.ta.selectionStart, a.ta.selectionEnd), 'wor');
  assert.equal(a.ta.selectionDirection, 'backward');
});

test('a change made through the client by a script shows in the textarea', async () => {
  const { make } = await setup('x');
  const { client, ta } = await make('a');
  client.setText('x\r\ny');
  assert.equal(ta.value, 'x\ny');
  ta.setSelectionRange(3, 3);
  ta.type('z');
  assert.equal(client.text, 'x\r\nyz');
});

test('the caret is shared with line and column of the document text', async () => {
  const { server, doc, make } = await setup('ab\r\ncd\r\nef');
  const a = await make('a');
  const b = await make('b');
  doc.activeElement = a.ta;
  a.ta.setSelectionRange(4, 7); // "d\ne" in the shown text
  doc.dispatchEvent(new Event('selectionchange'));
  server.deliver();
  const [cur] = b.client.cursors;
  assert.deepEqual(cur.position, { line: 2, column: 1 });
  assert.deepEqual(cur.selection, { start: { line: 1, column: 1 }, end: { line: 2, column: 1 } });
});
