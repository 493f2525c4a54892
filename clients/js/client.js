// client.js — the pairpad protocol client: a local document kept in step with
// the server by operational transformation (catch-up after a reconnect,
// resends, acknowledgements, divergence checks), presence, cursors and the
// language, over a Connection (connection.js) that keeps the plain WebSocket
// (/ws, deltaFormat=ops) up. Plain ES module, no dependencies; runs in
// browsers and in Node 20+.

import { RemoteCursors } from './cursors.js';
import { Connection, Phase, Status } from './connection.js';
import { Kinds, Track } from './track.js';
import { indexToPosition, positionToIndex } from './position.js';
import { PairpadError, bearer, request, requestText, sessionUrl, trimSlash } from './rest.js';
import { Timers } from './timers.js';

export { indexToPosition, positionToIndex, PairpadError, Status };

/** Languages the server accepts, in the protocol's order. */
export const LANGUAGES = Object.freeze([
  'javascript',
  'typescript',
  'python',
  'java',
  'go',
  'c',
  'cpp',
  'csharp',
  'ruby',
  'rust',
  'kotlin',
  'swift',
  'php',
  'sql',
]);

/**
 * Where the document stands with the server, as SyncPhase: only `live`
 * sends updates.
 */
export const SyncPhase = Object.freeze({
  DETACHED: 'detached', // no connection with a `connected` yet
  CATCHING_UP: 'catching-up', // the updates since our version are being replayed
  AWAITING_SYNC: 'awaiting-sync', // a `sync` was asked for
  LIVE: 'live', // in step: local updates go out
});


// randomPart returns n random hex characters; crypto.getRandomValues works
// in insecure contexts too, unlike crypto.randomUUID.
function randomPart(n) {
  const bytes = new Uint8Array(Math.ceil(n / 2));
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').slice(0, n);
}

/**
 * PairpadClient is one participant of a session. Create it, listen to its
 * events (`text`, `ack`, `presence`, `cursor`, `language`, `status`,
 * `error`, `divergence`, `session-ended`, and for the interview `notes`,
 * `notes-ack` and `run`, each a CustomEvent whose `detail` carries the
 * data, or use `on(type, fn)`), then `await join(...)`.
 */
export class PairpadClient extends EventTarget {
  #fetch;
  #cursorInterval;
  #catchUpTimeout;
  #now;
  #timers;
  #conn;

  #opPrefix = randomPart(16);
  #opCount = 0;
  #target = null; // {sessionId, userId}
  #code; // the code document (a Track)
  #sync = SyncPhase.DETACHED;
  #catchUp = null; // {code, version} of the last `connected`, while catching up
  #sentSince; // the `since` of the current socket
  #users = [];
  #language = null;
  #cursors = new RemoteCursors();
  #cursorPending = null;
  #cursorLast = -Infinity;
  #joinWaiters = null;
  #notes;
  #role = null;
  #lastRun = null;

  /**
   * @param {object} [options]
   * @param {typeof WebSocket} [options.WebSocket] WebSocket class (default: the global one)
   * @param {typeof fetch} [options.fetch] fetch function (default: the global one)
   * @param {number[]} [options.backoff] reconnect delays in ms (default 1, 2, 4, 8, 16 s; the last repeats)
   * @param {number} [options.cursorInterval] least ms between two cursor-updates (default 105: under 10/s)
   * @param {number} [options.idleTimeout] ms without any frame before the connection is deemed dead (default 40000; the server sends presence at least every 15 s)
   * @param {number} [options.catchUpTimeout] ms to wait for replayed updates after a reconnect before asking for a sync (default 10000)
   * @param {EventTarget|null} [options.network] source of `online`/`offline` events (default: window in a browser)
   * @param {() => boolean} [options.online] whether the network is up (default: navigator.onLine)
   * @param {{setTimeout: Function, clearTimeout: Function}} [options.timers] timer functions (for tests)
   * @param {() => number} [options.now] clock in ms (for tests)
   */
  constructor(options = {}) {
    super();
    this.#fetch = options.fetch ?? ((...a) => globalThis.fetch(...a));
    this.#cursorInterval = options.cursorInterval ?? 105;
    this.#catchUpTimeout = options.catchUpTimeout ?? 10000;
    this.#now = options.now ?? (() => Date.now());
    this.#timers = new Timers(options.timers);
    this.#conn = new Connection(
      { ...options, fetch: this.#fetch },
      {
        frame: (data) => this.#onFrame(data),
        drop: () => this.#onDrop(),
        status: (status) => this.#emit('status', { status }),
        error: (detail) => this.#emit('error', detail),
        fatal: (err) => this.#stop(err),
      },
      () => {
        this.#sentSince = this.#code.loaded ? this.#code.version : undefined;
        return this.#sentSince;
      },
    );
    const hooks = {
      send: (type, payload) => this.#send(type, payload),
      emit: (type, detail) => this.#emit(type, detail),
      newOpId: () => this.#newOpId(),
      timers: this.#timers,
    };
    this.#code = new Track(Kinds.code, { ...hooks, askSync: () => this.#sendSync(), moved: (op, userId) => this.#cursors.move(op, userId) });
    // The notes wait for the same `sync` as the code.
    this.#notes = new Track(Kinds.notes, { ...hooks, askSync: () => this.#askSync(false) });
  }

  /**
   * createSession creates a session over REST and returns the Session
   * ({id, createdAt, language, participantCount}). It throws a PairpadError.
   */
  static async createSession(baseUrl, language, options = {}) {
    const fetchFn = options.fetch ?? ((...a) => globalThis.fetch(...a));
    const body = { language };
    if (options.title) body.title = options.title;
    if (options.starterCode) body.starterCode = options.starterCode;
    return request(fetchFn, 'POST', `${trimSlash(baseUrl)}/api/sessions`, body);
  }

  /**
   * endSession ends the interview (POST /api/sessions/{id}/end) with an
   * interviewer's join token or the host key as credential, and returns
   * the ended Session. It throws a PairpadError.
   */
  static async endSession(baseUrl, sessionId, credential, options = {}) {
    const fetchFn = options.fetch ?? ((...a) => globalThis.fetch(...a));
    return request(fetchFn, 'POST', `${sessionUrl(baseUrl, sessionId)}/end`, undefined, bearer(credential));
  }

  /**
   * getCode reads the current code (GET /api/sessions/{id}/code) with a
   * join token or the host key: {code, version, language, updatedAt}.
   */
  static async getCode(baseUrl, sessionId, credential, options = {}) {
    const fetchFn = options.fetch ?? ((...a) => globalThis.fetch(...a));
    return request(fetchFn, 'GET', `${sessionUrl(baseUrl, sessionId)}/code`, undefined, bearer(credential));
  }

  /**
   * downloadCode reads the current code as a file (GET .../code with
   * Accept: text/plain): {text, filename}, the name from the server's
   * Content-Disposition (main.<ext> for the language).
   */
  static async downloadCode(baseUrl, sessionId, credential, options = {}) {
    const fetchFn = options.fetch ?? ((...a) => globalThis.fetch(...a));
    return requestText(fetchFn, `${sessionUrl(baseUrl, sessionId)}/code`, { ...bearer(credential), Accept: 'text/plain' });
  }

  /** getNotes reads the notes (GET .../notes) with an interviewer's or observer's join token or the host key. */
  static async getNotes(baseUrl, sessionId, credential, options = {}) {
    const fetchFn = options.fetch ?? ((...a) => globalThis.fetch(...a));
    return request(fetchFn, 'GET', `${sessionUrl(baseUrl, sessionId)}/notes`, undefined, bearer(credential));
  }

  /**
   * getHistory reads every applied update from version `from` (default 1)
   * on (GET .../history, following `next` page after page) and returns them
   * in version order: [{version, userId, userName?, role?, opId?, timestamp, ops}].
   */
  static async getHistory(baseUrl, sessionId, credential, options = {}) {
    const fetchFn = options.fetch ?? ((...a) => globalThis.fetch(...a));
    const updates = [];
    let from = options.from ?? 1;
    for (;;) {
      const page = await request(fetchFn, 'GET', `${sessionUrl(baseUrl, sessionId)}/history?from=${from}`, undefined, bearer(credential));
      if (!page || !Array.isArray(page.updates)) throw new PairpadError('INVALID_RESPONSE', 'history answered without updates');
      updates.push(...page.updates);
      if (!Number.isInteger(page.next) || page.next <= from || page.updates.length === 0) return updates;
      from = page.next;
    }
  }

  /** getSession fetches a Session over REST; it throws a PairpadError. */
  static async getSession(baseUrl, sessionId, options = {}) {
    const fetchFn = options.fetch ?? ((...a) => globalThis.fetch(...a));
    return request(fetchFn, 'GET', `${trimSlash(baseUrl)}/api/sessions/${encodeURIComponent(sessionId)}`);
  }

  /** on registers fn(detail) for events of type and returns a function that removes it. */
  on(type, fn) {
    const listener = (e) => fn(e.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /** text is the local text: the server's document plus local edits not yet acknowledged. */
  get text() {
    return this.#code.text;
  }

  /** version is the last server version the local text includes. */
  get version() {
    return this.#code.version;
  }

  /** state is the OT state: synchronized, awaiting-ack or awaiting-with-buffer (for tests and tools; not for people). */
  get state() {
    return this.#code.state;
  }

  /** loaded reports whether the document has arrived, so local edits are possible. */
  get loaded() {
    return this.#code.loaded;
  }

  /** status is connecting, connected, reconnecting or offline. */
  get status() {
    return this.#conn.status;
  }

  /** divergences counts the times the local document's hash disagreed with the server's and was reloaded. */
  get divergences() {
    return this.#code.divergences;
  }

  /** role is this participant's role (candidate, interviewer or observer), from the join; null before it. */
  get role() {
    return this.#role;
  }

  /** token is the current join token: the bearer for /code, /history, /notes and (an interviewer's) /end. */
  get token() {
    return this.#conn.token;
  }

  /** hasNotes reports whether the notes arrived: only interviewers and observers get them. */
  get hasNotes() {
    return this.#notes.loaded;
  }

  /** notes is the local notes text (empty for a candidate). */
  get notes() {
    return this.#notes.text;
  }

  /** notesVersion is the last server version of the notes the local notes include. */
  get notesVersion() {
    return this.#notes.version;
  }

  /** notesState is the notes' OT state, as state is the code's. */
  get notesState() {
    return this.#notes.state;
  }

  /**
   * notesDocument is the notes seen through the shape of the client the
   * editor bindings use (text, loaded, applyLocal, setText, on('text'),
   * no cursors, no language), so bindCodeMirror(view, client.notesDocument,
   * {shareCursor: false}) edits the notes.
   */
  get notesDocument() {
    const notes = this.#notes;
    return {
      get text() {
        return notes.text;
      },
      get loaded() {
        return notes.loaded;
      },
      get cursors() {
        return [];
      },
      get language() {
        return null;
      },
      users: [],
      applyLocal: (op) => notes.applyLocal(op),
      setText: (text) => notes.setText(text),
      sendCursor: () => {},
      on: (type, fn) => (type === 'text' ? this.on('notes', fn) : () => {}),
    };
  }

  /** lastRun is the latest shared run-output (from `connected` or a `run` event), or null. */
  get lastRun() {
    return this.#lastRun;
  }

  /** users is the people present: [{id, name, color, role, lastSeen}]. */
  get users() {
    return this.#users.slice();
  }

  /** language is the session's current language (null before connecting). */
  get language() {
    return this.#language;
  }

  /** sessionId is the joined session's id. */
  get sessionId() {
    return this.#target?.sessionId;
  }

  /** userId is this participant's user id. */
  get userId() {
    return this.#target?.userId;
  }

  /**
   * cursors lists the other participants' cursors in the local text:
   * [{userId, name, color, index, position:{line,column}, selection|null}].
   */
  get cursors() {
    return this.#cursors.all(this.text, this.#users);
  }

  /**
   * join asks the server for a join token (POST /api/sessions/{id}/join),
   * opens the WebSocket and resolves with the `connected` payload once the
   * document has arrived. It rejects with a PairpadError when the REST join
   * fails, the session ends or close() is called first; while the socket
   * cannot connect it keeps retrying with backoff and the promise waits.
   */
  async join(baseUrl, sessionId, userId, userName, options = {}) {
    if (this.#target !== null) throw new Error('pairpad: join may be called once per client');
    this.#target = { sessionId, userId };
    const joined = new Promise((resolve, reject) => {
      this.#joinWaiters = { resolve, reject };
    });
    joined.catch(() => {}); // the caller gets the rejection through the await below
    try {
      await this.#conn.start(trimSlash(baseUrl), sessionId, userId, userName, options);
    } catch (err) {
      this.#joinWaiters = null;
      throw err;
    }
    return joined;
  }

  /**
   * applyLocal applies a local edit, an op on `text`, and sends it (one
   * update in flight at a time; later edits are composed into a buffer).
   * It throws an OTError for an op that does not fit the text.
   */
  applyLocal(op) {
    return this.#code.applyLocal(op);
  }

  /** setText replaces the local text with newText as one local edit (a diff). */
  setText(newText) {
    return this.#code.setText(newText);
  }

  /**
   * sendCursor shares this participant's cursor: position and the optional
   * selection's start/end are {line, column}, 0-based. Calls are throttled
   * to under 10 per second; the latest position always goes out.
   */
  sendCursor(position, selection = undefined) {
    this.#cursorPending = selection ? { position, selection } : { position };
    this.#flushCursor();
  }

  /**
   * setLanguage asks the server to change the session's language; everyone,
   * this client too, then gets `language`. It returns false when not
   * connected (nothing is sent).
   */
  setLanguage(language) {
    return this.#send('language-changed', language);
  }

  /**
   * applyNotesLocal applies a local edit of the notes (an op on `notes`)
   * and sends it as notes-update; only interviewers and observers have
   * notes (it throws before they arrived).
   */
  applyNotesLocal(op) {
    return this.#notes.applyLocal(op);
  }

  /** setNotesText replaces the notes with newText as one local edit (a diff). */
  setNotesText(newText) {
    return this.#notes.setText(newText);
  }

  /**
   * shareRun shares the result of running the code with everyone
   * (`run-output`: {runId, language, stdout, stderr, exitCode, durationMs});
   * everyone, this client too, then gets `run`. It returns false when not
   * connected (nothing is sent).
   */
  shareRun(run) {
    return this.#send('run-output', run);
  }

  /** requestSync asks the server for its full state (the `sync` event); local edits are kept. */
  requestSync() {
    this.#askSync(false);
  }

  /** close leaves the session: the socket closes, no reconnect follows, status becomes offline. */
  close() {
    if (this.#conn.phase === Phase.CLOSED) return;
    this.#stop(new PairpadError('CLOSED', 'the client was closed'));
  }

  // ---- connection -------------------------------------------------------

  // #stop ends the client for good and rejects a join still waiting.
  #stop(err) {
    this.#conn.close();
    this.#timers.clearAll();
    this.#sync = SyncPhase.DETACHED;
    const w = this.#joinWaiters;
    this.#joinWaiters = null;
    if (w) w.reject(err);
  }

  #onDrop() {
    this.#sync = SyncPhase.DETACHED;
    this.#catchUp = null;
    this.#timers.clear('catchUp', 'cursor');
    this.#code.pause();
    this.#notes.pause();
  }

  #send(type, payload) {
    const env = { type, sessionId: this.sessionId, userId: this.userId, timestamp: this.#now() };
    if (payload !== undefined) env.payload = payload;
    return this.#conn.send(env);
  }

  #newOpId() {
    this.#opCount++;
    return `${this.#opPrefix}-${this.#opCount.toString(36)}`;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // ---- server events ----------------------------------------------------

  #onFrame(data) {
    let env;
    try {
      env = JSON.parse(data);
    } catch {
      this.#emit('error', { error: 'INVALID_PAYLOAD', message: 'the server sent a frame that is not JSON' });
      return;
    }
    if (!env || typeof env.type !== 'string') return;
    const p = env.payload;
    try {
      switch (env.type) {
        case 'connected':
          this.#onConnected(p);
          break;
        case 'sync':
          this.#onSync(p);
          break;
        case 'code-update':
          if (this.#code.update(env.userId, p, this.userId)) this.#finishCatchUp();
          break;
        case 'code-ack':
          if (this.#code.ack(p)) this.#finishCatchUp();
          break;
        case 'notes-update':
          this.#notes.update(env.userId, p, this.userId);
          break;
        case 'notes-ack':
          this.#notes.ack(p);
          break;
        case 'run-output':
          this.#onRun(env.userId, p);
          break;
        case 'user-joined':
          this.#onUserJoined(p);
          break;
        case 'user-left':
          this.#setUsers(this.#users.filter((u) => u.id !== env.userId));
          break;
        case 'presence-update':
          this.#setUsers(p && p.users);
          break;
        case 'cursor-update':
          this.#onCursor(env.userId, p);
          break;
        case 'language-changed':
          this.#setLanguage(p);
          break;
        case 'session-ended':
          this.#onSessionEnded(p);
          break;
        case 'error':
          this.#onError(p);
          break;
        default:
        // A newer server may add events; ignoring them is safe.
      }
    } catch (err) {
      // A payload we cannot use leaves us out of step: start again from the server's state.
      this.#emit('error', { error: 'CLIENT_ERROR', message: `cannot handle ${env.type}: ${err.message}` });
      this.#askSync(false);
    }
  }

  #onConnected(p) {
    if (!p || typeof p.code !== 'string' || !Number.isInteger(p.version)) throw new Error('connected without code and version');
    this.#conn.established();
    if (typeof p.role === 'string') this.#role = p.role;
    if (p.lastRun && typeof p.lastRun === 'object') this.#lastRun = p.lastRun;
    this.#setUsers(p.users);
    this.#setLanguage(p.language);
    this.#takeNotes(p, 'connected');
    const code = this.#code;
    if (code.load(p.code, p.version, 'connected')) {
      code.checkAnswer(p.code, p.hash);
      this.#goLive();
      const w = this.#joinWaiters;
      this.#joinWaiters = null;
      if (w) w.resolve(p);
      return;
    }
    if (code.discarding || this.#sentSince === undefined || p.version <= code.version) {
      // Nothing to replay (or the server is behind us): take its state as is.
      if (code.discarding || !code.matches(p.code, p.version)) code.adopt(p.code, p.version, 'connected');
      code.checkAnswer(p.code, p.hash);
      this.#goLive();
      return;
    }
    // The updates since our version follow (or a sync when history is gone).
    this.#sync = SyncPhase.CATCHING_UP;
    this.#catchUp = { code: p.code, version: p.version };
    this.#timers.set('catchUp', this.#catchUpTimeout, () => this.#askSync(false));
  }

  #onSync(p) {
    if (!p || typeof p.code !== 'string' || !Number.isInteger(p.version)) throw new Error('sync without code and version');
    if (!this.#code.loaded) {
      this.#onConnected(p);
      return;
    }
    this.#setUsers(p.users);
    this.#setLanguage(p.language);
    this.#takeNotes(p, 'sync');
    this.#code.adopt(p.code, p.version, 'sync');
    this.#code.checkAnswer(p.code, p.hash);
    this.#goLive();
  }

  // #takeNotes takes the notes of a `connected` or `sync` payload (a
  // candidate's has none). The server has no replay for the notes, so a
  // reconnect with a notes update in flight first resends that update, and
  // only once it is acknowledged asks for a `sync` and rebases the notes
  // typed since on the server's: nothing is applied twice, nothing typed is
  // dropped.
  #takeNotes(p, reason) {
    const notes = this.#notes;
    if (typeof p.notes !== 'string' || !Number.isInteger(p.notesVersion)) return;
    if (notes.resending) return; // the resent update's ack, then a sync, bring the notes
    if (!notes.load(p.notes, p.notesVersion, reason)) {
      if (reason === 'connected' && notes.resendFirst()) return;
      if (notes.discarding || !notes.matches(p.notes, p.notesVersion)) notes.adopt(p.notes, p.notesVersion, reason);
    }
    notes.checkAnswer(p.notes, p.notesHash);
    notes.goLive();
  }

  #goLive() {
    this.#sync = SyncPhase.LIVE;
    this.#catchUp = null;
    this.#timers.clear('catchUp');
    this.#code.goLive();
    this.#flushCursor();
  }

  #finishCatchUp() {
    const c = this.#catchUp;
    if (this.#sync !== SyncPhase.CATCHING_UP || this.#code.version < c.version) return;
    if (this.#code.version === c.version && !this.#code.matches(c.code, c.version)) {
      this.#emit('error', { error: 'CLIENT_RESYNC', message: 'the replayed updates did not reproduce the server text; resynchronizing' });
      this.#code.adopt(c.code, c.version, 'connected');
    }
    this.#goLive();
  }

  // #askSync asks for the server's state; discard drops the local edits then.
  #askSync(discard) {
    this.#code.requestSync(discard);
  }

  // #sendSync is the code track's way to ask: no update goes out until the `sync`.
  #sendSync() {
    this.#sync = SyncPhase.AWAITING_SYNC;
    this.#catchUp = null;
    this.#timers.clear('catchUp');
    this.#send('sync'); // when it cannot go out, the next `connected` does the same job
  }

  #onError(p) {
    const e = { error: (p && p.error) || 'UNKNOWN', message: (p && p.message) || '', details: p && p.details };
    this.#emit('error', e);
    this.#notes.error(e);
    this.#code.error(e);
  }

  #onUserJoined(p) {
    if (!p || typeof p.id !== 'string') return;
    const users = this.#users.filter((u) => u.id !== p.id);
    users.push(typeof p.role === 'string' ? { id: p.id, name: p.name, color: p.color, role: p.role } : { id: p.id, name: p.name, color: p.color });
    this.#setUsers(users);
  }

  #setUsers(users) {
    if (!Array.isArray(users)) return;
    this.#users = users
      .filter((u) => u && typeof u.id === 'string')
      .map((u) => {
        const user = { id: u.id, name: String(u.name ?? u.id), color: String(u.color ?? '#888888'), lastSeen: u.lastSeen };
        if (typeof u.role === 'string') user.role = u.role;
        return user;
      });
    for (const userId of this.#cursors.retain(new Set(this.#users.map((u) => u.id)))) {
      this.#emit('cursor', { userId, cursor: null, cursors: this.cursors });
    }
    this.#emit('presence', { users: this.users });
  }

  #setLanguage(language) {
    if (typeof language !== 'string' || language === this.#language) return;
    this.#language = language;
    this.#emit('language', { language });
  }

  #onCursor(from, p) {
    if (!this.#code.loaded || !p || !p.position || from === this.userId) return;
    this.#cursors.set(from, this.#code.text, p);
    this.#emit('cursor', { userId: from, cursor: this.#cursors.describe(from, this.text, this.#users), cursors: this.cursors });
  }

  #onRun(from, p) {
    if (!p || typeof p !== 'object' || typeof p.runId !== 'string') return;
    const run = { ...p, userId: typeof p.userId === 'string' ? p.userId : from };
    this.#lastRun = run;
    this.#emit('run', run);
  }

  #onSessionEnded(p) {
    const reason = (p && p.reason) || 'ended';
    this.#stop(new PairpadError('SESSION_ENDED', `the session has ended (${reason})`));
    // Nobody is connected any more: everyone has left and no caret remains.
    this.#setUsers([]);
    this.#emit('session-ended', { reason });
  }

  #flushCursor() {
    if (!this.#cursorPending || this.#timers.has('cursor')) return;
    const wait = this.#cursorLast + this.#cursorInterval - this.#now();
    if (wait > 0) {
      this.#timers.set('cursor', wait, () => this.#flushCursor());
      return;
    }
    if (this.#send('cursor-update', this.#cursorPending)) {
      this.#cursorLast = this.#now();
      this.#cursorPending = null;
    }
  }
}
