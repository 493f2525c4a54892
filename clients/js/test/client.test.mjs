// Tests of PairpadClient (client.js) against the in-process fake
// of the browser WebSocket/fetch APIs and of the realtime protocol (docs/protocol.md)
// (fakeserver.mjs), with a manual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PairpadClient, PairpadError } from '../client.js';
import { FakeClock, FakeServer, settle } from './fakeserver.mjs';

const BASE = 'http://pairpad.test';

// harness makes a fake server and clock and a factory for clients wired to them.
function harness(opts = {}) {
  const server = new FakeServer(opts);
  const clock = new FakeClock();
  const clients = [];
  const newClient = (extra = {}) => {
    const c = new PairpadClient({
      WebSocket: server.WebSocket,
      fetch: server.fetch,
      timers: clock,
      now: clock.now,
      network: null,
      idleTimeout: 1e9, // out of the way of pending() unless a test sets it
      ...extra,
    });
    c.log = [];
    for (const type of ['text', 'ack', 'presence', 'cursor', 'language', 'status', 'error', 'session-ended']) {
      c.on(type, (detail) => c.log.push({ type, ...detail }));
    }
    clients.push(c);
    return c;
  };
  // joinAs joins a new client and completes its handshake.
  const joinAs = async (userId, extra) => {
    const c = newClient(extra);
    const joined = c.join(BASE, server.sessionId, userId, `Name ${userId}`);
    await settle();
    server.deliver();
    await joined;
    return c;
  };
  return { server, clock, newClient, joinAs, clients };
}

// pending lists the delays of the clients' timers other than the idle watchdogs.
function pending(clock) {
  return clock.delays().filter((d) => d < 1e8);
}

function sentOf(server, userId, type) {
  return server.sockets.filter((s) => s.userId === userId || s.params.get('userId') === userId).flatMap((s) => s.sent.filter((e) => e.type === type));
}

test('join: REST join, then the plain WebSocket with the token, then the document', async () => {
  const { server, newClient } = harness({ code: 'print(1)' });
  const c = newClient();
  const joined = c.join(`${BASE}/`, server.sessionId, 'u1', 'Ada');
  assert.equal(c.status, 'connecting');
  await settle();
  assert.deepEqual(server.joins, [{ userId: 'u1', userName: 'Ada' }]);
  assert.equal(server.sockets.length, 1);
  const url = new URL(server.sockets[0].url);
  assert.equal(url.protocol, 'ws:');
  assert.equal(url.host, 'pairpad.test');
  assert.equal(url.pathname, '/ws');
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    sessionId: server.sessionId,
    userId: 'u1',
    userName: 'Ada',
    token: 'token:u1',
    deltaFormat: 'ops',
  });
  server.deliver();
  const connected = await joined;
  assert.equal(connected.code, 'print(1)');
  assert.equal(c.text, 'print(1)');
  assert.equal(c.version, 0);
  assert.equal(c.status, 'connected');
  assert.equal(c.language, 'javascript');
  assert.deepEqual(c.users.map((u) => u.id), ['u1']);
  assert.deepEqual(c.log.filter((e) => e.type === 'status').map((e) => e.status), ['connecting', 'connected']);
  assert.ok(c.log.some((e) => e.type === 'text' && e.text === 'print(1)' && e.remote));
  await assert.rejects(c.join(BASE, server.sessionId, 'u1', 'Ada'), /once/);
});

test('join fails with the server error when the REST join is refused', async () => {
  const { server, newClient } = harness();
  const c = newClient();
  await assert.rejects(c.join(BASE, 'no-such-session', 'u1', 'Ada'), (err) => err instanceof PairpadError && err.code === 'SESSION_NOT_FOUND' && err.status === 404);
  assert.equal(c.status, 'offline');
  assert.equal(server.sockets.length, 0);
});

test('createSession posts the language and returns the session', async () => {
  const { server } = harness();
  const s = await PairpadClient.createSession(BASE, 'python', { fetch: server.fetch });
  assert.equal(s.id, server.sessionId);
  assert.equal(s.language, 'python');
});

test('one update in flight, later edits buffered and composed, acks move on', async () => {
  const { server, joinAs } = harness();
  const a = await joinAs('a');
  a.setText('h');
  a.setText('he');
  a.applyLocal([2, 'y']);
  assert.equal(a.text, 'hey');
  assert.equal(a.state, 'awaiting-with-buffer');
  let sent = sentOf(server, 'a', 'code-update');
  assert.equal(sent.length, 1, 'only one update is in flight');
  assert.deepEqual(sent[0].payload.delta, { ops: ['h'] });
  assert.equal(sent[0].payload.version, 0);
  assert.equal(sent[0].sessionId, server.sessionId);
  assert.equal(sent[0].userId, 'a');
  assert.equal(typeof sent[0].payload.opId, 'string');
  assert.ok(sent[0].payload.opId.length <= 64);
  server.deliver();
  sent = sentOf(server, 'a', 'code-update');
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1].payload.delta.ops, [1, 'ey']);
  assert.equal(sent[1].payload.version, 1);
  assert.notEqual(sent[1].payload.opId, sent[0].payload.opId);
  assert.equal(a.state, 'synchronized');
  assert.equal(a.version, 2);
  assert.equal(server.doc, 'hey');
  assert.deepEqual(a.log.filter((e) => e.type === 'ack').map((e) => e.version), [1, 2]);
});

test('concurrent edits converge and the first applied wins ties', async () => {
  const { server, joinAs } = harness({ code: '()' });
  const a = await joinAs('a');
  const b = await joinAs('b');
  a.applyLocal([1, 'A', 1]);
  b.applyLocal([1, 'B', 1]);
  // a's update reaches the server first.
  server.handle(server.sockets[0], server.sockets[0].outbox.shift());
  server.deliver();
  assert.equal(server.doc, '(AB)');
  assert.equal(a.text, '(AB)');
  assert.equal(b.text, '(AB)');
  const remote = b.log.filter((e) => e.type === 'text' && e.remote && e.userId === 'a');
  assert.deepEqual(remote.at(-1).op, [1, 'A', 2], 'b gets a\'s insert before its own pending one');
});

test('reconnect: the replay acknowledges an update whose ack was lost', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a');
  const b = await joinAs('b');
  a.setText('one');
  b.setText('two');
  server.drop(server.sockets[0], 1); // the server applies a's update, the ack is lost
  assert.equal(a.status, 'reconnecting');
  assert.deepEqual(pending(clock), [1000]);
  a.setText('one!'); // edited while disconnected
  clock.advance(1000);
  await settle();
  const ws = server.sockets.at(-1);
  assert.equal(ws.params.get('since'), '0');
  assert.equal(ws.params.get('token'), 'token:a', 'the token still works: no new REST join');
  server.deliver();
  assert.equal(a.status, 'connected');
  const updates = server.history.map((h) => `${h.userId}:${h.opId}`);
  assert.equal(new Set(updates).size, updates.length, 'nothing applied twice');
  assert.equal(server.history.filter((h) => h.userId === 'a').length, 2);
  assert.equal(a.text, server.doc);
  assert.equal(b.text, server.doc);
  assert.equal(a.state, 'synchronized');
  // b's concurrent insert at the same place was applied first, so it comes first.
  assert.equal(server.doc, 'onetwo!');
});

test('reconnect: an update the server never got is resent with the same opId', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a');
  a.setText('x');
  const first = sentOf(server, 'a', 'code-update')[0];
  server.drop(server.sockets[0], 0); // lost before the server read it
  clock.advance(1000);
  await settle();
  server.deliver();
  const sent = sentOf(server, 'a', 'code-update');
  assert.equal(sent.length, 2);
  assert.equal(sent[1].payload.opId, first.payload.opId);
  assert.equal(server.doc, 'x');
  assert.equal(a.state, 'synchronized');
});

test('a resent update the server already applied is acknowledged once', async () => {
  const { server, joinAs } = harness();
  const a = await joinAs('a');
  a.setText('x');
  server.refuseNext = { code: 'RATE_LIMIT_EXCEEDED', details: { type: 'cursor-update' } };
  // An error about another event does not trigger a resend.
  server.sockets[0].outbox.unshift(JSON.stringify({ type: 'code-update', payload: { delta: { ops: [] }, version: 0, opId: 'zzz' } }));
  server.deliver();
  assert.equal(sentOf(server, 'a', 'code-update').length, 1);
  assert.equal(a.state, 'synchronized');
  assert.equal(server.doc, 'x');
});

test('a refused update is resent after retryAfterMs and lands once', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a');
  server.refuseNext = { code: 'RATE_LIMIT_EXCEEDED', message: 'slow down', details: { type: 'code-update', retryAfterMs: 300 } };
  a.setText('x');
  server.deliver();
  assert.equal(a.state, 'awaiting-ack');
  assert.ok(a.log.some((e) => e.type === 'error' && e.error === 'RATE_LIMIT_EXCEEDED' && e.message === 'slow down'));
  clock.advance(299);
  assert.equal(sentOf(server, 'a', 'code-update').length, 1);
  clock.advance(1);
  server.deliver();
  const sent = sentOf(server, 'a', 'code-update');
  assert.equal(sent.length, 2);
  assert.equal(sent[1].payload.opId, sent[0].payload.opId);
  assert.equal(a.state, 'synchronized');
  assert.equal(server.doc, 'x');
});

test('SERVICE_UNAVAILABLE keeps the update and resends it until the server is back', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a');
  a.setText('x');
  // More refusals than any other retryable error may get before the edit is dropped.
  for (let i = 0; i < 8; i++) {
    server.refuseNext = { code: 'SERVICE_UNAVAILABLE', message: 'NATS is unavailable', details: { type: 'code-update', retryAfterMs: 1000 } };
    server.deliver();
    assert.equal(a.state, 'awaiting-ack');
    clock.advance(1000);
  }
  server.deliver();
  const sent = sentOf(server, 'a', 'code-update');
  assert.equal(sent.length, 9);
  assert.ok(sent.every((u) => u.payload.opId === sent[0].payload.opId));
  assert.equal(a.state, 'synchronized');
  assert.equal(server.doc, 'x');
});

test('DOCUMENT_TOO_LARGE drops the refused edit and reloads the server text', async () => {
  const { server, joinAs } = harness({ code: 'abc', maxDocLength: 5 });
  const a = await joinAs('a');
  a.setText('abcdefgh');
  a.setText('abcdefghi');
  server.deliver();
  assert.ok(a.log.some((e) => e.type === 'error' && e.error === 'DOCUMENT_TOO_LARGE'));
  assert.equal(a.text, 'abc');
  assert.equal(a.state, 'synchronized');
  const last = a.log.filter((e) => e.type === 'text').at(-1);
  assert.equal(last.reason, 'sync');
  a.setText('abcd');
  server.deliver();
  assert.equal(server.doc, 'abcd');
});

test('backoff 1, 2, 4, 8, 16, 16 s with a new REST join after failed handshakes', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a');
  server.refuseHandshakes = true;
  server.drop(server.sockets[0]);
  const delays = [];
  for (let i = 0; i < 6; i++) {
    delays.push(pending(clock)[0]);
    clock.advance(pending(clock)[0]);
    await settle();
    server.deliver(); // the handshake is refused
    await settle();
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 16000]);
  assert.ok(server.joins.length >= 6, `only ${server.joins.length} REST joins`);
  assert.equal(a.status, 'reconnecting');
  server.refuseHandshakes = false;
  clock.advance(pending(clock)[0]);
  await settle();
  server.deliver();
  assert.equal(a.status, 'connected');
  // A successful connection resets the backoff.
  server.drop(server.sockets.at(-1));
  assert.deepEqual(pending(clock), [1000]);
});

test('a refused WebSocket after a good REST join is reported once per outage', async () => {
  const { server, clock, newClient } = harness();
  server.refuseHandshakes = true; // e.g. SESSION_FULL: the browser cannot see the status
  const c = newClient();
  const joined = c.join(BASE, server.sessionId, 'u', 'U');
  for (let i = 0; i < 4; i++) {
    await settle();
    server.deliver();
    clock.advance(pending(clock)[0]);
  }
  assert.equal(c.log.filter((e) => e.type === 'error' && e.error === 'CONNECTION_REFUSED').length, 1);
  server.refuseHandshakes = false;
  await settle();
  server.deliver();
  await joined;
  assert.equal(c.status, 'connected');
});

test('a session gone, ended or refusing us while reconnecting ends the client', async () => {
  for (const [status, code] of [
    [404, 'SESSION_NOT_FOUND'],
    [409, 'SESSION_ENDED'],
    [403, 'FORBIDDEN'],
    [409, 'USER_ID_TAKEN'],
    [400, 'INVALID_REQUEST'],
  ]) {
    const { server, clock, joinAs } = harness();
    const a = await joinAs('a');
    server.refuseHandshakes = true;
    server.drop(server.sockets[0]);
    clock.advance(1000);
    await settle();
    server.deliver(); // refused: the next attempt joins over REST again
    server.joinFailure = { status, body: { error: code, message: 'no', statusCode: status } };
    clock.advance(2000);
    await settle();
    assert.equal(a.status, 'offline', code);
    assert.ok(a.log.some((e) => e.type === 'error' && e.error === code), code);
    assert.deepEqual(pending(clock), [], `${code}: no reconnect is pending`);
  }
});

test('transient REST failures while reconnecting keep retrying', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a');
  server.refuseHandshakes = true;
  server.drop(server.sockets[0]);
  clock.advance(1000);
  await settle();
  server.deliver();
  server.joinFailure = { status: 429, body: { error: 'RATE_LIMIT_EXCEEDED', message: 'wait', statusCode: 429 } };
  clock.advance(2000);
  await settle();
  assert.equal(a.status, 'reconnecting');
  assert.deepEqual(pending(clock), [4000]);
  server.joinFailure = null;
  server.refuseHandshakes = false;
  clock.advance(4000);
  await settle();
  server.deliver();
  assert.equal(a.status, 'connected');
});

test('session-ended stops everything; nobody is present and no remote cursor remains', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a');
  const b = await joinAs('b');
  b.sendCursor({ line: 0, column: 0 });
  server.deliver();
  assert.equal(a.cursors.length, 1);
  server.end('expired');
  assert.deepEqual(a.log.filter((e) => e.type === 'session-ended').map((e) => e.reason), ['expired']);
  assert.equal(a.status, 'offline');
  assert.deepEqual(a.users, []);
  assert.deepEqual(a.cursors, []);
  assert.deepEqual(a.log.filter((e) => e.type === 'cursor').at(-1), { type: 'cursor', userId: 'b', cursor: null, cursors: [] });
  assert.deepEqual(a.log.filter((e) => e.type === 'presence').at(-1).users, []);
  assert.deepEqual(pending(clock), []);
});

test('a history that no longer reaches back gets a sync; local edits are rebased and sent', async () => {
  const { server, clock, joinAs } = harness({ code: 'base' });
  const a = await joinAs('a');
  const b = await joinAs('b');
  server.drop(server.sockets[0]);
  a.setText('base+a');
  b.setText('B:base');
  server.deliver();
  server.historyStart = server.version + 1; // history trimmed
  clock.advance(1000);
  await settle();
  server.deliver();
  assert.equal(server.doc, 'B:base+a');
  assert.equal(a.text, server.doc);
  assert.equal(b.text, server.doc);
  assert.equal(a.state, 'synchronized');
});

test('presence, language and remote cursors', async () => {
  const { server, joinAs } = harness({ code: 'line0\nline1\nline2' });
  const a = await joinAs('a');
  const b = await joinAs('b');
  assert.deepEqual(a.users.map((u) => u.id).sort(), ['a', 'b']);
  assert.ok(a.users.every((u) => /^#[0-9a-f]{6}$/.test(u.color)));

  b.setLanguage('python');
  server.deliver();
  assert.equal(a.language, 'python');
  assert.equal(b.language, 'python');
  assert.ok(a.log.some((e) => e.type === 'language' && e.language === 'python'));

  b.sendCursor({ line: 2, column: 3 }, { start: { line: 1, column: 0 }, end: { line: 2, column: 3 } });
  server.deliver();
  let [cur] = a.cursors;
  assert.equal(cur.userId, 'b');
  assert.equal(cur.name, 'Name b');
  assert.deepEqual(cur.position, { line: 2, column: 3 });
  assert.deepEqual(cur.selection, { start: { line: 1, column: 0 }, end: { line: 2, column: 3 } });
  assert.ok(a.log.some((e) => e.type === 'cursor' && e.userId === 'b'));

  // A's own edit above b's cursor moves it down a line.
  a.applyLocal(['new\n', a.text.length]);
  [cur] = a.cursors;
  assert.deepEqual(cur.position, { line: 3, column: 3 });

  server.drop(server.sockets[1]);
  server.deliver();
  assert.deepEqual(a.users.map((u) => u.id), ['a']);
  assert.deepEqual(a.cursors, [], 'the cursor of someone who left goes too');
});

test('cursor updates are throttled under 10 per second, the last position wins', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a');
  for (let i = 0; i < 100; i++) {
    a.sendCursor({ line: 0, column: i });
    clock.advance(10);
  }
  clock.advance(200);
  const sent = sentOf(server, 'a', 'cursor-update');
  assert.ok(sent.length >= 10 && sent.length <= 12, `${sent.length} cursor-updates in 1.2 s`);
  for (let i = 10; i < sent.length; i++) {
    assert.ok(sent[i].timestamp - sent[i - 10].timestamp > 1000, 'more than 10 cursor-updates within one second');
  }
  assert.deepEqual(sent.at(-1).payload, { position: { line: 0, column: 99 } });
});

test('a silent connection is dropped after the idle timeout', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a', { idleTimeout: 5000 });
  clock.advance(4999);
  assert.equal(a.status, 'connected');
  clock.advance(1);
  assert.equal(a.status, 'reconnecting');
  clock.advance(1000);
  await settle();
  server.deliver();
  assert.equal(a.status, 'connected');
});

test('offline and online events from the browser', async () => {
  const network = new EventTarget();
  let online = true;
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a', { network, online: () => online });
  online = false;
  network.dispatchEvent(new Event('offline'));
  assert.equal(a.status, 'offline');
  a.setText('typed offline');
  assert.deepEqual(pending(clock).filter((d) => d < 5000), [], 'no reconnect while offline');
  online = true;
  network.dispatchEvent(new Event('online'));
  await settle();
  server.deliver();
  assert.equal(a.status, 'connected');
  assert.equal(server.doc, 'typed offline');
});

test('close stops the client for good', async () => {
  const { server, clock, joinAs } = harness();
  const a = await joinAs('a');
  a.close();
  assert.equal(a.status, 'offline');
  assert.equal(server.sockets[0].readyState, 3);
  assert.deepEqual(pending(clock), []);
  a.setText('after close'); // kept locally, never sent
  assert.equal(sentOf(server, 'a', 'code-update').length, 0);
});

test('a pending join is rejected by close', async () => {
  const { server, newClient } = harness();
  server.refuseHandshakes = true;
  const c = newClient();
  const joined = c.join(BASE, server.sessionId, 'u', 'U');
  await settle();
  server.deliver();
  c.close();
  await assert.rejects(joined, (err) => err.code === 'CLOSED');
});

test('garbage from the server is reported, not fatal', async () => {
  const { server, joinAs } = harness({ code: 'abc' });
  const a = await joinAs('a');
  const ws = server.sockets[0];
  ws.onmessage({ data: 'not json' });
  ws.onmessage({ data: JSON.stringify({ type: 'code-update', userId: 'x', payload: { delta: { ops: [99] }, version: 1 } }) });
  ws.onmessage({ data: JSON.stringify({ type: 'brand-new-event', payload: {} }) });
  server.deliver(); // the bad update triggered a sync
  assert.ok(a.log.some((e) => e.type === 'error' && e.error === 'INVALID_PAYLOAD'));
  assert.ok(a.log.some((e) => e.type === 'error' && e.error === 'CLIENT_ERROR'));
  assert.equal(a.text, 'abc');
  assert.equal(a.status, 'connected');
});

// corruptInserts makes the fake server hand userId's client a different
// text in every insert of a code-update: that client's document silently
// drifts from the server's, while the hash still describes the server's.
function corruptInserts(server, userId) {
  server.tamper = (ws, env) => {
    if (ws.userId !== userId || env.type !== 'code-update') return env;
    const ops = env.payload.delta.ops.map((c) => (typeof c === 'string' ? c.replace(/./gu, 'X') : c));
    return { ...env, payload: { ...env.payload, delta: { ops } } };
  };
}

test('divergence: a code-update whose hash disagrees makes the client sync and take the server text', async () => {
  const { server, joinAs } = harness({ code: 'start\n' });
  const a = await joinAs('a');
  const b = await joinAs('b');
  const seen = [];
  b.on('divergence', (d) => seen.push(d));
  corruptInserts(server, 'b');
  a.setText('start\nhello');
  server.tamper = ((tamper) => (ws, env) => {
    const out = tamper(ws, env);
    if (ws.userId === 'b' && env.type === 'code-update') server.tamper = null; // only this one
    return out;
  })(server.tamper);
  server.deliver();
  assert.equal(server.doc, 'start\nhello');
  assert.equal(b.divergences, 1);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].version, 1);
  assert.equal(seen[0].count, 1);
  assert.notEqual(seen[0].expected, seen[0].actual);
  assert.deepEqual(
    sentOf(server, 'b', 'sync').map((e) => e.type),
    ['sync'],
    'the client asked for the server state once',
  );
  assert.equal(b.text, 'start\nhello', 'the sync replaced the corrupted text');
  assert.equal(b.version, 1);
  assert.ok(b.log.some((e) => e.type === 'text' && e.reason === 'sync' && e.text === 'start\nhello'));
  // Afterwards both edit on as usual: no further divergence.
  b.setText('start\nhello world');
  server.deliver();
  a.setText('# ' + a.text);
  server.deliver();
  assert.equal(a.text, '# start\nhello world');
  assert.equal(b.text, a.text);
  assert.equal(b.divergences, 1);
  assert.equal(a.divergences, 0);
});

test('divergence: local edits typed before the sync answer stay on top of the server text', async () => {
  const { server, joinAs } = harness({ code: 'abc' });
  const a = await joinAs('a');
  const b = await joinAs('b');
  corruptInserts(server, 'b');
  a.applyLocal([3, 'def']);
  // Deliver the update to b (corrupted: b holds "abcXXX") and let b ask for a sync.
  for (const ws of server.sockets) while (ws.outbox.length) server.handle(ws, ws.outbox.shift());
  const bws = server.open().find((ws) => ws.userId === 'b');
  while (bws.inbox.length) server.receive(bws);
  server.tamper = null;
  assert.equal(b.divergences, 1);
  assert.equal(b.text, 'abcXXX');
  b.applyLocal(['> ', 6]); // typed while the sync is on its way
  server.deliver();
  assert.equal(b.text, '> abcdef');
  assert.equal(server.doc, '> abcdef');
  assert.equal(a.text, server.doc);
  assert.equal(b.state, 'synchronized');
});

test('divergence: a code-ack whose hash disagrees is caught too', async () => {
  const { server, joinAs } = harness({ code: 'x' });
  const a = await joinAs('a');
  server.tamper = (ws, env) => (env.type === 'code-ack' ? { ...env, payload: { ...env.payload, hash: '0000000000000000' } } : env);
  a.setText('xy');
  server.deliverOne({ pick: (moves) => moves[0] }); // the update reaches the server
  const ws = server.open()[0];
  server.receive(ws); // the (tampered) ack
  server.tamper = null;
  assert.equal(a.divergences, 1);
  server.deliver();
  assert.equal(a.text, 'xy');
  assert.equal(a.version, 1);
  assert.deepEqual(sentOf(server, 'a', 'sync').length, 1);
});

test('divergence: without hashes (an older server) nothing is compared', async () => {
  const { server, joinAs } = harness({ code: 'start', hashes: false });
  const a = await joinAs('a');
  const b = await joinAs('b');
  corruptInserts(server, 'b');
  a.setText('start!');
  server.deliver();
  assert.equal(b.divergences, 0);
  assert.equal(b.text, 'startX', 'the corruption goes unnoticed without a hash');
  assert.equal(sentOf(server, 'b', 'sync').length, 0);
});

test('"sync and resend" refusals, however many, rebase the edits on the sync and resend them; nothing typed is dropped', async () => {
  const { server, clock, joinAs } = harness({ code: 'base' });
  const a = await joinAs('a');
  const b = await joinAs('b');
  a.on('refused', (detail) => a.log.push({ type: 'refused', ...detail }));
  a.setText('base A');
  server.drop(server.sockets.find((s) => s.userId === 'a'), 0); // lost unread
  b.setText('B base');
  server.deliver();
  a.setText('base AA'); // typed while disconnected
  const refusals = 6;
  server.refuseNext = { code: 'INVALID_PAYLOAD', message: 'sync and resend', details: { type: 'code-update', sync: true }, times: refusals };
  clock.advance(1000);
  await settle();
  server.deliver();
  assert.equal(server.refuseNext, null, 'every refusal was used');
  assert.equal(a.state, 'synchronized');
  assert.equal(server.doc, 'B base AA');
  assert.equal(a.text, server.doc);
  assert.equal(b.text, server.doc);
  assert.ok(sentOf(server, 'a', 'code-update').length > refusals);
  assert.deepEqual(a.log.filter((e) => e.type === 'refused'), []);
});

test('retryable refusals never drop the edit; INVALID_PAYLOAD is rebased, and stops with `refused` once rebasing cannot help', async () => {
  const { server, clock, joinAs } = harness({ code: 'x' });
  const a = await joinAs('a');
  a.on('refused', (detail) => a.log.push({ type: 'refused', ...detail }));
  server.refuseNext = { code: 'RATE_LIMIT_EXCEEDED', details: { type: 'code-update', retryAfterMs: 500 }, times: 6 };
  a.setText('xy');
  for (let i = 0; i < 6; i++) {
    server.deliver();
    clock.advance(500);
  }
  server.deliver();
  assert.equal(server.doc, 'xy');
  assert.equal(a.state, 'synchronized');

  // An update the server cannot read: each refusal asks for a sync and rebases.
  server.refuseNext = { code: 'INVALID_PAYLOAD', message: 'ops cover 2 UTF-16 code units but the document has 3', details: { type: 'code-update' }, times: 100 };
  a.setText('xyz');
  server.deliver();
  assert.equal(sentOf(server, 'a', 'sync').length, 4); // three rebases, then the server's text after the stop
  const refused = a.log.filter((e) => e.type === 'refused');
  assert.equal(refused.length, 1);
  assert.equal(refused[0].document, 'code');
  assert.equal(refused[0].error, 'INVALID_PAYLOAD');
  assert.equal(refused[0].text, 'xyz');
  assert.equal(a.text, 'xy');
  assert.equal(a.state, 'synchronized');
  server.refuseNext = null;
});

test('an update the server applied before a sync that included it is taken out once its ack comes; the edits typed since stay', async () => {
  const { server, clock, joinAs } = harness({ code: 'ab' });
  const a = await joinAs('a');
  a.setText('abX');
  // The server applies it; the ack is lost with the connection, and the
  // history is gone by the time a comes back: a sync instead of a replay.
  server.drop(server.sockets[0], 1);
  server.historyStart = server.version + 1;
  a.setText('abXY'); // typed while disconnected
  clock.advance(1000);
  await settle();
  server.deliver();
  assert.equal(a.status, 'connected');
  assert.equal(server.doc, 'abXY');
  assert.equal(a.text, 'abXY');
  assert.equal(a.state, 'synchronized');
  assert.ok(!a.log.some((e) => e.type === 'error'), JSON.stringify(a.log.filter((e) => e.type === 'error')));
  const ops = server.history.map((h) => h.opId);
  assert.equal(new Set(ops).size, ops.length, 'an update applied twice');
});
