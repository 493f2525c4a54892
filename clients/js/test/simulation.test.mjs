// Randomized end-to-end runs of several PairpadClients against the fake
// server: random edits, random frame order, connections cut at random
// points (sometimes after the server applied an update whose ack is lost),
// reconnects with backoff. Every run must end with every client on the
// server's text, every update applied exactly once and none lost, and no
// document hash (sent with every update) disagreeing on the way.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PairpadClient } from '../client.js';
import { FakeClock, FakeServer, settle } from './fakeserver.mjs';
import { Rand, randomOp, randomText } from './rand.mjs';

const RUNS = Number(process.env.SIM_RUNS || 150);

async function run(seed, { trimHistory = false } = {}) {
  const r = new Rand(seed);
  const server = new FakeServer({ code: randomText(r, 6) });
  const clock = new FakeClock();
  const clients = [];
  for (let i = 0; i < 3; i++) {
    const c = new PairpadClient({ WebSocket: server.WebSocket, fetch: server.fetch, timers: clock, now: clock.now, network: null, idleTimeout: 1e9 });
    c.errors = [];
    c.on('error', (e) => c.errors.push(e));
    const joined = c.join('http://sim.test', server.sessionId, `user-${i}`, `User ${i}`);
    await settle();
    server.deliver();
    await joined;
    clients.push(c);
  }
  for (let step = 0; step < 80; step++) {
    const k = r.int(100);
    if (k < 30) {
      const c = r.pick(clients);
      c.applyLocal(randomOp(r, c.text, 2));
    } else if (k < 80) {
      server.deliverOne(r);
    } else if (k < 85) {
      const open = server.open();
      if (open.length) {
        const ws = r.pick(open);
        server.drop(ws, r.int(ws.outbox.length + 1));
      }
    } else if (k < 93) {
      clock.advance(r.int(3000));
      await settle();
    } else if (k < 97) {
      const c = r.pick(clients);
      c.sendCursor({ line: r.int(3), column: r.int(5) });
    } else if (trimHistory) {
      server.historyStart = server.version + 1;
    }
  }
  // Let everything settle: reconnect whoever is out, deliver everything.
  for (let i = 0; i < 20; i++) {
    clock.advance(20000);
    await settle();
    server.deliver();
    if (clients.every((c) => c.status === 'connected' && c.state === 'synchronized')) break;
  }
  return { server, clients };
}

function describe(seed, server, clients) {
  return `seed ${seed}: server ${JSON.stringify(server.doc)} v${server.version}; clients ${clients
    .map((c) => `${c.status}/${c.state}/v${c.version} ${JSON.stringify(c.text)}`)
    .join('; ')}`;
}

test('random runs converge with every update applied exactly once', async () => {
  for (let seed = 1; seed <= RUNS; seed++) {
    const { server, clients } = await run(seed);
    const at = describe(seed, server, clients);
    for (const c of clients) {
      assert.equal(c.status, 'connected', at);
      assert.equal(c.state, 'synchronized', at);
      assert.equal(c.text, server.doc, at);
      assert.equal(c.version, server.version, at);
      assert.deepEqual(c.errors, [], at);
      assert.equal(c.divergences, 0, `${at}: the document hashes disagreed`);
    }
    const applied = server.history.map((h) => `${h.userId}/${h.opId}`);
    assert.equal(new Set(applied).size, applied.length, `${at}: an update was applied twice`);
    const sent = new Set();
    for (const ws of server.sockets) {
      for (const e of ws.sent) if (e.type === 'code-update') sent.add(`${e.userId}/${e.payload.opId}`);
    }
    for (const id of sent) assert.ok(applied.includes(id), `${at}: update ${id} was sent but never applied`);
  }
});

test('random runs with history trimmed (sync instead of replay) still converge', async () => {
  for (let seed = 1; seed <= Math.ceil(RUNS / 2); seed++) {
    const { server, clients } = await run(10000 + seed, { trimHistory: true });
    const at = describe(seed, server, clients);
    for (const c of clients) {
      assert.equal(c.state, 'synchronized', at);
      assert.equal(c.text, server.doc, at);
      assert.equal(c.divergences, 0, `${at}: the document hashes disagreed`);
    }
  }
});
