// Tests of the interview side of PairpadClient (client.js, track.js, rest.js):
// joining with a role and the host key, the interviewers' notes as a second
// OT document (its own version line, acks, hash, resends, reconnects), the
// shared run output, and the REST helpers for /end, /code and /history,
// against the in-process fake of the realtime protocol, docs/protocol.md (fakeserver.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PairpadClient } from '../client.js';
import { FakeClock, FakeServer, settle } from './fakeserver.mjs';

const BASE = 'http://pairpad.test';

// interview makes a fake server and clock; join(userId, role) joins a client
// with that role (and the host key for interviewers and observers).
function interview(opts = {}) {
  const server = new FakeServer(opts);
  const clock = new FakeClock();
  const join = async (userId, role = 'candidate', hostKey = server.hostKey) => {
    const c = new PairpadClient({ WebSocket: server.WebSocket, fetch: server.fetch, timers: clock, now: clock.now, network: null, idleTimeout: 1e9 });
    c.log = [];
    for (const type of ['notes', 'notes-ack', 'run', 'error', 'divergence']) c.on(type, (detail) => c.log.push({ type, ...detail }));
    const joined = c.join(BASE, server.sessionId, userId, `Name ${userId}`, role === 'candidate' ? {} : { role, hostKey });
    joined.catch(() => {}); // awaited below
    await settle();
    server.deliver();
    await joined;
    return c;
  };
  return { server, clock, join };
}

// framesTo lists every frame the server queued for userId's sockets, as sent.
function framesTo(server, userId) {
  return server.sockets.filter((s) => s.userId === userId).flatMap((s) => s.received);
}

// record keeps every frame each socket receives (FakeServer.receive hands them over one by one).
function record(server) {
  const receive = server.receive.bind(server);
  server.receive = (ws) => {
    ws.received ??= [];
    ws.received.push(ws.inbox[0]);
    receive(ws);
  };
}

test('join sends the role and the host key; the role and the token are the client\'s', async () => {
  const { server, join } = interview();
  const i = await join('int', 'interviewer');
  const c = await join('cand');
  assert.deepEqual(server.joins, [
    { userId: 'int', userName: 'Name int', role: 'interviewer', hostKey: 'host-key' },
    { userId: 'cand', userName: 'Name cand' },
  ]);
  assert.equal(i.role, 'interviewer');
  assert.equal(c.role, 'candidate');
  assert.equal(i.token, 'token:int');
  assert.deepEqual(
    c.users.map((u) => [u.id, u.role]),
    [
      ['int', 'interviewer'],
      ['cand', undefined],
    ],
  );
  const wrong = interview();
  await assert.rejects(wrong.join('x', 'observer', 'not-the-key'), (err) => err.code === 'FORBIDDEN' && err.status === 403);
});

test('notes: the interviewer writes, the observer reads, the candidate never gets a frame with them', async () => {
  const { server, join } = interview();
  record(server);
  const i = await join('int', 'interviewer');
  const o = await join('obs', 'observer');
  const c = await join('cand');
  assert.equal(i.hasNotes, true);
  assert.equal(o.hasNotes, true);
  assert.equal(c.hasNotes, false);
  assert.throws(() => c.setNotesText('x'), /only interviewers and observers/);

  i.setNotesText('strong on ');
  i.applyNotesLocal([10, 'OT']);
  assert.equal(i.notesState, 'awaiting-with-buffer');
  assert.equal(server.sockets.find((s) => s.userId === 'int').sent.filter((e) => e.type === 'notes-update').length, 1, 'one notes update in flight');
  server.deliver();
  assert.equal(i.notesState, 'synchronized');
  assert.equal(i.notesVersion, 2);
  assert.equal(server.notes.doc, 'strong on OT');
  assert.equal(o.notes, 'strong on OT');
  assert.equal(o.notesVersion, 2);
  assert.deepEqual(i.log.filter((e) => e.type === 'notes-ack').map((e) => e.version), [1, 2]);
  // The observer writes too, concurrently with the interviewer.
  o.setNotesText('Notes: strong on OT');
  i.setNotesText('strong on OT!');
  server.deliver();
  assert.equal(server.notes.doc, 'Notes: strong on OT!');
  assert.equal(i.notes, server.notes.doc);
  assert.equal(o.notes, server.notes.doc);
  // The code is a document of its own: its version did not move.
  assert.equal(i.version, 0);
  assert.equal(c.text, '');
  assert.ok(framesTo(server, 'cand').length > 0);
  assert.ok(!framesTo(server, 'cand').some((f) => /strong|notes/i.test(f)), 'a candidate frame carries the notes');
  assert.deepEqual(c.log, []);
  assert.equal(i.divergences, 0);
});

test('notes: a refused notes update is resent with its opId; an ack lost in a drop is caught on reconnect', async () => {
  const { server, clock, join } = interview();
  const i = await join('int', 'interviewer');
  server.refuseNextNotes = { code: 'RATE_LIMIT_EXCEEDED', details: { retryAfterMs: 200 } };
  i.setNotesText('a');
  server.deliver();
  assert.equal(i.notesState, 'awaiting-ack');
  clock.advance(200);
  server.deliver();
  const sent = server.sockets[0].sent.filter((e) => e.type === 'notes-update');
  assert.equal(sent.length, 2);
  assert.equal(sent[1].payload.opId, sent[0].payload.opId);
  assert.equal(server.notes.doc, 'a');
  assert.equal(i.notesState, 'synchronized');

  // The server applies the next notes update, the ack is lost with the socket.
  i.setNotesText('ab');
  server.drop(server.sockets[0], 1);
  i.setNotesText('abc'); // typed while disconnected
  clock.advance(1000);
  await settle();
  server.deliver();
  assert.equal(i.status, 'connected');
  assert.equal(server.notes.doc, i.notes);
  assert.equal(i.notes, 'abc');
  assert.equal(i.notesState, 'synchronized');
  const ops = server.notes.history.map((h) => h.opId);
  assert.equal(new Set(ops).size, ops.length, 'a notes update applied twice');
});

test('notes: a hash that disagrees makes the client sync and take the server notes', async () => {
  const { server, join } = interview();
  const i = await join('int', 'interviewer');
  const o = await join('obs', 'observer');
  server.tamper = (ws, env) => (env.type === 'notes-update' && ws.userId === 'obs' ? { ...env, payload: { ...env.payload, delta: { ops: ['X'] } } } : env);
  i.setNotesText('hi');
  server.deliver();
  server.tamper = null;
  server.deliver();
  assert.equal(o.notes, 'hi');
  assert.equal(o.log.filter((e) => e.type === 'divergence').length, 1);
  assert.equal(o.log.find((e) => e.type === 'divergence').document, 'notes');
});

test('run output is shared with everyone and is lastRun for whoever connects later', async () => {
  const { server, join } = interview();
  const i = await join('int', 'interviewer');
  const c = await join('cand');
  const run = { runId: 'r1', language: 'javascript', stdout: '42\n', stderr: '', exitCode: 0, durationMs: 3 };
  assert.equal(c.shareRun(run), true);
  server.deliver();
  for (const cl of [i, c]) {
    const got = cl.log.filter((e) => e.type === 'run');
    assert.equal(got.length, 1);
    assert.equal(got[0].stdout, '42\n');
    assert.equal(got[0].userId, 'cand');
    assert.equal(cl.lastRun.runId, 'r1');
  }
  const o = await join('obs', 'observer');
  assert.deepEqual(o.lastRun, { ...run, userId: 'cand', userName: 'Name cand', timestamp: 1 });
  o.shareRun({ ...run, runId: 'r2' });
  server.deliver();
  assert.ok(o.log.some((e) => e.type === 'error' && e.error === 'FORBIDDEN'));
  assert.equal(i.lastRun.runId, 'r1');
});

test('notesDocument has the shape the editor bindings use', async () => {
  const { server, join } = interview();
  const i = await join('int', 'interviewer');
  const doc = i.notesDocument;
  assert.equal(doc.loaded, true);
  assert.deepEqual(doc.cursors, []);
  assert.equal(doc.language, null);
  const seen = [];
  const off = doc.on('text', ({ text }) => seen.push(text));
  assert.equal(typeof doc.on('cursor', () => {}), 'function');
  doc.applyLocal(['x']);
  doc.setText('xy');
  server.deliver();
  off();
  doc.setText('xyz');
  assert.deepEqual(seen, ['x', 'xy']);
  assert.equal(doc.text, 'xyz');
});

test('REST helpers: end, code (JSON and file), notes and every history page, with the credential as bearer', async () => {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, method: init.method, headers: init.headers });
    const u = new URL(url);
    const json = (status, data) => ({ ok: status < 300, status, json: async () => data, text: async () => JSON.stringify(data), headers: new Headers() });
    if (u.pathname.endsWith('/end')) return json(200, { id: 's', status: 'ended' });
    if (u.pathname.endsWith('/notes')) return json(403, { error: 'FORBIDDEN', message: 'candidates cannot read the notes', statusCode: 403 });
    if (u.pathname.endsWith('/code') && init.headers.Accept === 'text/plain') {
      return { ok: true, status: 200, text: async () => 'print(1)\n', headers: new Headers({ 'Content-Disposition': 'attachment; filename="main.py"' }) };
    }
    if (u.pathname.endsWith('/code')) return json(200, { code: 'print(1)\n', version: 3, language: 'python', updatedAt: '2026-01-01T00:00:00Z' });
    const from = Number(u.searchParams.get('from'));
    const all = [1, 2, 3].map((v) => ({ version: v, userId: 'u', userName: 'U', role: 'candidate', timestamp: v, ops: v === 1 ? ['a'] : [v - 1, 'a'] }));
    return json(200, { sessionId: 's', updates: all.filter((x) => x.version >= from).slice(0, 2), next: from === 1 ? 3 : null });
  };
  const ended = await PairpadClient.endSession(`${BASE}/`, 's', 'tok', { fetch });
  assert.equal(ended.status, 'ended');
  assert.deepEqual(calls[0], { url: `${BASE}/api/sessions/s/end`, method: 'POST', headers: { Authorization: 'Bearer tok' } });
  assert.equal((await PairpadClient.getCode(BASE, 's', 'tok', { fetch })).version, 3);
  assert.deepEqual(await PairpadClient.downloadCode(BASE, 's', 'tok', { fetch }), { text: 'print(1)\n', filename: 'main.py' });
  await assert.rejects(PairpadClient.getNotes(BASE, 's', 'tok', { fetch }), (err) => err.code === 'FORBIDDEN' && err.status === 403);
  const history = await PairpadClient.getHistory(BASE, 's', 'tok', { fetch });
  assert.deepEqual(history.map((h) => h.version), [1, 2, 3]);
  assert.deepEqual(calls.filter((c) => c.url.includes('/history')).map((c) => new URL(c.url).search), ['?from=1', '?from=3']);
});

test('notes: an update lost before the server read it lands once after the reconnect, beside the others\' edits meanwhile', async () => {
  const { server, clock, join } = interview({ code: '' });
  const i = await join('int', 'interviewer');
  const o = await join('obs', 'observer');
  i.setNotesText('mine');
  const intSocket = server.sockets.find((s) => s.userId === 'int');
  server.drop(intSocket, 0); // lost unread
  o.setNotesText('theirs');
  server.deliver();
  i.setNotesText('mine!');
  clock.advance(1000);
  await settle();
  server.deliver();
  assert.equal(i.status, 'connected');
  assert.equal(server.notes.history.filter((h) => h.userId === 'int').length, 2);
  assert.equal(i.notes, server.notes.doc);
  assert.equal(o.notes, server.notes.doc);
  assert.ok(/mine!/.test(server.notes.doc) && /theirs/.test(server.notes.doc), server.notes.doc);
  assert.equal(i.notesState, 'synchronized');
});

test('notes: a resend after a reconnect refused with "sync and resend" again and again is rebased and lands; nothing typed is dropped', async () => {
  const { server, clock, join } = interview();
  const i = await join('int', 'interviewer');
  const o = await join('obs', 'observer');
  i.on('refused', (detail) => i.log.push({ type: 'refused', ...detail }));
  i.setNotesText('mine');
  server.drop(server.sockets.find((s) => s.userId === 'int'), 0); // lost unread
  o.setNotesText('theirs');
  server.deliver();
  i.setNotesText('mine!'); // typed while disconnected
  // More refusals than any bound on resends: each is followed by a sync.
  const refusals = 6;
  server.refuseNextNotes = { code: 'INVALID_PAYLOAD', message: 'version 0 is older than the history the server keeps: sync and resend', details: { sync: true }, times: refusals };
  clock.advance(1000);
  await settle();
  server.deliver();
  assert.equal(server.refuseNextNotes, null, 'every refusal was used');
  assert.equal(i.status, 'connected');
  assert.equal(i.notesState, 'synchronized');
  assert.equal(i.notes, server.notes.doc);
  assert.equal(o.notes, server.notes.doc);
  assert.ok(/mine!/.test(server.notes.doc) && /theirs/.test(server.notes.doc), server.notes.doc);
  const sent = server.sockets.filter((s) => s.userId === 'int').flatMap((s) => s.sent.filter((e) => e.type === 'notes-update'));
  assert.ok(sent.length > refusals, `${sent.length} notes-updates sent`);
  assert.deepEqual(i.log.filter((e) => e.type === 'refused'), []);
});

test('notes: a refusal that can never succeed stops the edits and says so with `refused`', async () => {
  const { server, join } = interview();
  const i = await join('int', 'interviewer');
  i.on('refused', (detail) => i.log.push({ type: 'refused', ...detail }));
  i.setNotesText('kept');
  server.deliver();
  server.refuseNextNotes = { code: 'DOCUMENT_TOO_LARGE', message: 'too large' };
  i.setNotesText('kept and too much');
  server.deliver();
  assert.deepEqual(i.log.filter((e) => e.type === 'refused').map(({ type, document, error, text }) => ({ type, document, error, text })), [
    { type: 'refused', document: 'notes', error: 'DOCUMENT_TOO_LARGE', text: 'kept and too much' },
  ]);
  assert.equal(i.notes, 'kept');
  assert.equal(i.notesState, 'synchronized');
});
