// fakeserver.mjs — an in-process stand-in for the browser's WebSocket and
// fetch APIs plus a small model of the realtime protocol (docs/protocol.md) behind them, so the
// client's state machine can be driven step by step: every frame waits in a
// queue until the test delivers it, and a connection can fail at any point.
// The real server is exercised by the browser tests (e2e.test.mjs).

import { apply, transform } from '../ot.js';
import { fnv1a64 } from '../hash.js';

/** FakeClock is a manual clock with setTimeout/clearTimeout for the client. */
export class FakeClock {
  constructor() {
    this.time = 0;
    this.seq = 0;
    this.pending = [];
    this.setTimeout = (fn, ms) => {
      const id = ++this.seq;
      this.pending.push({ id, at: this.time + Math.max(0, Number(ms) || 0), fn });
      return id;
    };
    this.clearTimeout = (id) => {
      this.pending = this.pending.filter((t) => t.id !== id);
    };
    this.now = () => this.time;
  }

  /** advance moves the clock by ms, running every timer that falls due, in order. */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      let next = null;
      for (const t of this.pending) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      if (!next) break;
      this.pending = this.pending.filter((t) => t !== next);
      this.time = next.at;
      next.fn();
    }
    this.time = end;
  }

  /** delays lists the ms until each pending timer. */
  delays() {
    return this.pending.map((t) => t.at - this.time).sort((a, b) => a - b);
  }
}

/** settle lets promise callbacks (the client's async REST calls) run. */
export async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231'];

/**
 * FakeServer models one session of the realtime protocol (docs/protocol.md): join over REST,
 * handshake with token, connected + replay since, code-update with OT and
 * (userId, opId) de-duplication, acks, presence, cursors, language, sync.
 */
export class FakeServer {
  constructor({ code = '', language = 'javascript', sessionId = 'sid-1', maxDocLength = Infinity, hashes = true, hostKey = 'host-key' } = {}) {
    this.sessionId = sessionId;
    this.doc = code;
    this.version = 0;
    this.language = language;
    this.history = []; // {version, userId, opId, ops}
    this.historyStart = 1; // the oldest version still replayable
    this.applied = new Map(); // userId \u0000 opId -> version
    this.sockets = [];
    this.maxDocLength = maxDocLength;
    this.joinFailure = null; // {status, body} answered to the next joins
    this.refuseNext = null; // {code, message, details, times?}: the next (times) code-update(s) get this error; details.sync sends a sync after it
    this.refuseHandshakes = false;
    this.ended = false;
    this.joins = [];
    this.hashes = hashes; // send the document hash with connected, sync, code-ack and code-update
    this.tamper = null; // (ws, envelope) => envelope: corrupts frames on their way to a client
    // The interview: roles given at join with the host key, the notes (a
    // second document only interviewers and observers see), the last run.
    this.hostKey = hostKey;
    this.roles = new Map(); // userId -> role of the first join
    this.notes = { doc: '', version: 0, history: [], applied: new Map() };
    this.refuseNextNotes = null; // {code, message, details, times?}: as refuseNext, for notes-updates
    this.lastRun = null;
    const server = this;
    this.WebSocket = class extends FakeWebSocket {
      constructor(url) {
        super(url, server);
      }
    };
    this.fetch = (url, init) => this.handleFetch(url, init);
  }

  async handleFetch(url, init) {
    const u = new URL(url);
    const body = init && init.body ? JSON.parse(init.body) : undefined;
    const reply = (status, data) => ({ ok: status >= 200 && status < 300, status, json: async () => data });
    if (init.method === 'POST' && u.pathname === '/api/sessions') {
      return reply(201, { id: this.sessionId, createdAt: '2026-01-01T00:00:00Z', language: body.language, participantCount: 0 });
    }
    const m = /^\/api\/sessions\/([^/]+)\/join$/.exec(u.pathname);
    if (init.method === 'POST' && m) {
      this.joins.push(body);
      if (this.joinFailure) return reply(this.joinFailure.status, this.joinFailure.body);
      const role = body.role || 'candidate';
      if (role !== 'candidate' && body.hostKey !== this.hostKey) {
        return reply(403, { error: 'FORBIDDEN', message: 'a wrong or missing host key', statusCode: 403 });
      }
      if ((this.roles.get(body.userId) ?? role) !== role) {
        return reply(409, { error: 'USER_ID_TAKEN', message: 'the user id joined with another role', statusCode: 409 });
      }
      this.roles.set(body.userId, role);
      if (decodeURIComponent(m[1]) !== this.sessionId || this.ended) {
        return reply(404, { error: 'SESSION_NOT_FOUND', message: 'Session with the specified ID does not exist', statusCode: 404 });
      }
      return reply(200, {
        sessionId: this.sessionId,
        userId: body.userId,
        wsUrl: `ws://${u.host}`,
        participantCount: this.users().length,
        token: `token:${body.userId}`,
        role,
      });
    }
    return reply(404, { error: 'NOT_FOUND', message: 'no route', statusCode: 404 });
  }

  open() {
    return this.sockets.filter((s) => s.readyState === 1);
  }

  users() {
    const seen = new Map();
    for (const s of this.open()) {
      if (!seen.has(s.userId)) seen.set(s.userId, { id: s.userId, name: s.userName, color: COLORS[seen.size % COLORS.length], ...this.roleOf(s.userId), lastSeen: 1 });
    }
    return [...seen.values()];
  }

  /** roleOf is {role} for a user who joined with one (so a plain session's users stay as they were). */
  roleOf(userId) {
    return this.roles.has(userId) && this.roles.get(userId) !== 'candidate' ? { role: this.roles.get(userId) } : {};
  }

  /** readsNotes reports whether ws belongs to an interviewer or observer. */
  readsNotes(ws) {
    return this.roles.get(ws.userId) === 'interviewer' || this.roles.get(ws.userId) === 'observer';
  }

  /** notesFields are the notes fields of connected/sync for ws: none for a candidate. */
  notesFields(ws) {
    if (!this.readsNotes(ws)) return {};
    return { notes: this.notes.doc, notesVersion: this.notes.version, notesHash: this.hashes ? fnv1a64(this.notes.doc) : undefined };
  }

  /** hash is the document hash to send at the current version, or undefined when hashes are off. */
  hash() {
    return this.hashes ? fnv1a64(this.doc) : undefined;
  }

  /** receive hands ws the next frame queued for it, through tamper when set. */
  receive(ws) {
    let data = ws.inbox.shift();
    if (this.tamper) data = JSON.stringify(this.tamper(ws, JSON.parse(data)));
    if (ws.onmessage) ws.onmessage({ data });
  }

  envelope(type, userId, payload) {
    const env = { type, sessionId: this.sessionId, timestamp: 1 };
    if (userId) env.userId = userId;
    if (payload !== undefined) env.payload = payload;
    return JSON.stringify(env);
  }

  broadcast(type, userId, payload, except = null) {
    for (const s of this.open()) if (s !== except) s.inbox.push(this.envelope(type, userId, payload));
  }

  /** accept completes the handshake of every socket still connecting. */
  accept() {
    for (const ws of this.sockets) {
      if (ws.readyState !== 0) continue;
      const q = ws.params;
      if (this.refuseHandshakes || this.ended || q.get('token') !== `token:${q.get('userId')}` || q.get('deltaFormat') !== 'ops') {
        ws.fail();
        continue;
      }
      const wasPresent = this.users().some((u) => u.id === q.get('userId'));
      ws.readyState = 1;
      ws.userId = q.get('userId');
      ws.userName = q.get('userName');
      if (ws.onopen) ws.onopen({});
      ws.inbox.push(
        this.envelope('connected', ws.userId, {
          sessionId: this.sessionId,
          userId: ws.userId,
          connectedAt: 1,
          code: this.doc,
          version: this.version,
          language: this.language,
          users: this.users(),
          hash: this.hash(),
          role: this.roles.get(ws.userId) ?? 'candidate',
          ...this.notesFields(ws),
          ...(this.lastRun ? { lastRun: this.lastRun } : {}),
        }),
      );
      if (q.has('since')) {
        const since = Number(q.get('since'));
        if (since + 1 < this.historyStart) {
          ws.inbox.push(this.envelope('sync', ws.userId, { code: this.doc, version: this.version, language: this.language, users: this.users(), hash: this.hash() }));
        } else {
          for (const h of this.history) {
            if (h.version > since) ws.inbox.push(this.envelope('code-update', h.userId, { delta: { ops: h.ops }, version: h.version, opId: h.opId, hash: h.hash }));
          }
        }
      }
      if (!wasPresent) {
        const me = this.users().find((u) => u.id === ws.userId);
        this.broadcast('user-joined', ws.userId, { id: me.id, name: me.name, color: me.color }, ws);
      }
      this.broadcast('presence-update', null, { users: this.users() });
    }
  }

  /** handle processes one frame a client sent. */
  handle(ws, data) {
    const env = JSON.parse(data);
    const p = env.payload;
    const error = (code, message, details) => ws.inbox.push(this.envelope('error', ws.userId, { error: code, message, details }));
    switch (env.type) {
      case 'code-update': {
        if (this.refuseNext) {
          const { code, message, details, times = 1 } = this.refuseNext;
          this.refuseNext = times > 1 ? { ...this.refuseNext, times: times - 1 } : null;
          error(code, message || 'refused', details);
          if (details && details.sync) this.handle(ws, this.envelope('sync', ws.userId)); // "sync and resend": the server's state follows
          return;
        }
        const key = `${ws.userId}\u0000${p.opId}`;
        if (p.opId && this.applied.has(key)) {
          const v = this.applied.get(key);
          ws.inbox.push(this.envelope('code-ack', ws.userId, { version: v, opId: p.opId, hash: this.history.find((h) => h.version === v)?.hash }));
          return;
        }
        if (!Number.isInteger(p.version) || p.version > this.version || p.version + 1 < this.historyStart) {
          error('INVALID_PAYLOAD', `version ${p.version} is not known`);
          return;
        }
        let op = p.delta.ops;
        let doc;
        try {
          for (const h of this.history) if (h.version > p.version) op = transform(h.ops, op)[1];
          doc = apply(this.doc, op);
        } catch (err) {
          error('INVALID_PAYLOAD', err.message);
          return;
        }
        if (doc.length > this.maxDocLength) {
          error('DOCUMENT_TOO_LARGE', 'The document would exceed the limit');
          return;
        }
        this.doc = doc;
        this.version++;
        const hash = this.hash();
        this.history.push({ version: this.version, userId: ws.userId, opId: p.opId, ops: op, hash });
        if (p.opId) this.applied.set(key, this.version);
        ws.inbox.push(this.envelope('code-ack', ws.userId, { version: this.version, opId: p.opId, hash }));
        this.broadcast('code-update', ws.userId, { delta: { ops: op }, version: this.version, opId: p.opId, hash }, ws);
        return;
      }
      case 'cursor-update':
        this.broadcast('cursor-update', ws.userId, p, ws);
        return;
      case 'language-changed':
        this.language = p;
        this.broadcast('language-changed', ws.userId, p);
        return;
      case 'sync':
        ws.inbox.push(
          this.envelope('sync', ws.userId, { code: this.doc, version: this.version, language: this.language, users: this.users(), hash: this.hash(), ...this.notesFields(ws) }),
        );
        return;
      case 'notes-update':
        this.handleNotes(ws, p, error);
        return;
      case 'run-output': {
        if (this.roles.get(ws.userId) === 'observer') {
          error('FORBIDDEN', 'an observer cannot share a run', { type: 'run-output', role: 'observer' });
          return;
        }
        this.lastRun = { ...p, userId: ws.userId, userName: ws.userName, timestamp: 1 };
        this.broadcast('run-output', ws.userId, this.lastRun);
        return;
      }
      default:
        error('INVALID_PAYLOAD', `unknown event type ${env.type}`);
    }
  }

  /** handleNotes applies a notes-update as the server does: OT on the notes' own version line, acks, fan-out to note readers only. */
  handleNotes(ws, p, error) {
    const n = this.notes;
    if (!this.readsNotes(ws)) {
      error('FORBIDDEN', 'a candidate cannot write the notes', { type: 'notes-update', role: 'candidate', opId: p.opId });
      return;
    }
    if (this.refuseNextNotes) {
      const { code, message, details, times = 1 } = this.refuseNextNotes;
      this.refuseNextNotes = times > 1 ? { ...this.refuseNextNotes, times: times - 1 } : null;
      error(code, message || 'refused', { type: 'notes-update', opId: p.opId, ...details });
      if (details && details.sync) this.handle(ws, this.envelope('sync', ws.userId)); // "sync and resend": the server's state follows
      return;
    }
    const key = `${ws.userId}\u0000${p.opId}`;
    if (p.opId && n.applied.has(key)) {
      const v = n.applied.get(key);
      ws.inbox.push(this.envelope('notes-ack', ws.userId, { version: v, opId: p.opId, hash: n.history.find((h) => h.version === v)?.hash }));
      return;
    }
    if (!Number.isInteger(p.version) || p.version > n.version) {
      error('INVALID_PAYLOAD', `notes version ${p.version} is not known`, { type: 'notes-update', opId: p.opId });
      return;
    }
    let op = p.delta.ops;
    try {
      for (const h of n.history) if (h.version > p.version) op = transform(h.ops, op)[1];
      n.doc = apply(n.doc, op);
    } catch (err) {
      error('INVALID_PAYLOAD', err.message, { type: 'notes-update', opId: p.opId });
      return;
    }
    n.version++;
    const hash = this.hashes ? fnv1a64(n.doc) : undefined;
    n.history.push({ version: n.version, userId: ws.userId, opId: p.opId, ops: op, hash });
    if (p.opId) n.applied.set(key, n.version);
    ws.inbox.push(this.envelope('notes-ack', ws.userId, { version: n.version, opId: p.opId, hash }));
    for (const s of this.open()) {
      if (s !== ws && this.readsNotes(s)) s.inbox.push(this.envelope('notes-update', ws.userId, { delta: { ops: op }, version: n.version, opId: p.opId, hash }));
    }
  }

  /** deliver runs queued frames until nothing moves: handshakes, client frames, server frames. */
  deliver() {
    for (let moved = true; moved; ) {
      moved = false;
      if (this.sockets.some((s) => s.readyState === 0)) {
        this.accept();
        moved = true;
      }
      for (const ws of this.sockets) {
        while (ws.readyState === 1 && ws.outbox.length) {
          this.handle(ws, ws.outbox.shift());
          moved = true;
        }
        while (ws.readyState === 1 && ws.inbox.length) {
          this.receive(ws);
          moved = true;
        }
      }
    }
  }

  /**
   * deliverOne moves one frame chosen with r (a Rand): a handshake, a frame
   * a client sent, or a frame to a client. It returns false when nothing is
   * queued.
   */
  deliverOne(r) {
    const moves = [];
    if (this.sockets.some((s) => s.readyState === 0)) moves.push(() => this.accept());
    for (const ws of this.sockets) {
      if (ws.readyState !== 1) continue;
      if (ws.outbox.length) moves.push(() => this.handle(ws, ws.outbox.shift()));
      if (ws.inbox.length) {
        moves.push(() => this.receive(ws));
      }
    }
    if (!moves.length) return false;
    r.pick(moves)();
    return true;
  }

  /** drop cuts ws: the server processes its first `processed` frames, the rest and every reply are lost. */
  drop(ws, processed = 0) {
    for (let i = 0; i < processed && ws.outbox.length; i++) this.handle(ws, ws.outbox.shift());
    ws.fail();
    this.broadcast('presence-update', null, { users: this.users() });
  }

  /** end ends the session as the janitor or an admin would. */
  end(reason = 'deleted') {
    this.broadcast('session-ended', null, { reason });
    this.deliver();
    this.ended = true;
    for (const ws of this.open()) ws.fail();
  }
}

/** FakeWebSocket implements the part of the browser WebSocket the client uses. */
export class FakeWebSocket {
  constructor(url, server) {
    this.url = url;
    this.params = new URL(url).searchParams;
    this.readyState = 0;
    this.server = server;
    this.inbox = [];
    this.outbox = [];
    this.sent = [];
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    server.sockets.push(this);
  }

  send(data) {
    if (this.readyState !== 1) throw new Error('InvalidStateError: the socket is not open');
    this.outbox.push(data);
    this.sent.push(JSON.parse(data));
  }

  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.inbox = [];
    this.outbox = [];
    if (this.onclose) this.onclose({ code: 1000 });
  }

  /** fail ends the connection from the network's side, as a browser reports it. */
  fail() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.inbox = [];
    this.outbox = [];
    if (this.onerror) this.onerror({});
    if (this.onclose) this.onclose({ code: 1006 });
  }
}
