// client.js — the reference pairpad client: REST join, the plain WebSocket
// (/ws, deltaFormat=ops), a local document kept in step with the server by
// operational transformation, presence, cursors, and reconnection. Plain ES
// module, no dependencies; runs in browsers and in Node 20+.

import { diff, validate, wellFormed } from './ot.js';
import { SyncDocument } from './document.js';
import { RemoteCursors } from './cursors.js';
import { indexToPosition, positionToIndex } from './position.js';
import { PairpadError, request, socketUrl, trimSlash } from './rest.js';

export { indexToPosition, positionToIndex, PairpadError };

/** Languages the server accepts. */
export const LANGUAGES = Object.freeze(['javascript', 'typescript', 'python']);

/** Connection states reported by the `status` event. */
export const Status = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  OFFLINE: 'offline',
});

// REST errors after which retrying the join cannot help.
const FATAL_JOIN = new Set(['SESSION_NOT_FOUND', 'INVALID_REQUEST', 'NOT_FOUND']);

// Errors after which the refused outstanding update is resent (the server
// deduplicates by opId, so a resend never applies an edit twice).
const RETRYABLE = new Set(['RATE_LIMIT_EXCEEDED', 'INTERNAL_SERVER_ERROR', 'INVALID_PAYLOAD']);

const MAX_RESENDS = 3;

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
 * `error`, `session-ended`, each a CustomEvent whose `detail` carries the
 * data, or use `on(type, fn)`), then `await join(...)`.
 */
export class PairpadClient extends EventTarget {
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
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this._fetch = options.fetch ?? ((...a) => globalThis.fetch(...a));
    this._backoff = options.backoff ?? [1000, 2000, 4000, 8000, 16000];
    this._cursorInterval = options.cursorInterval ?? 105;
    this._idleTimeout = options.idleTimeout ?? 40000;
    this._catchUpTimeout = options.catchUpTimeout ?? 10000;
    this._network = options.network !== undefined ? options.network : typeof window !== 'undefined' ? window : null;
    this._online = options.online ?? (() => globalThis.navigator === undefined || globalThis.navigator.onLine !== false);
    this._setTimeout = options.timers?.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this._clearTimeout = options.timers?.clearTimeout ?? ((id) => globalThis.clearTimeout(id));
    this._now = options.now ?? (() => Date.now());

    this._opPrefix = randomPart(16);
    this._opCount = 0;
    this._doc = null;
    this._ws = null;
    this._status = Status.OFFLINE;
    this._users = [];
    this._language = null;
    this._cursors = new RemoteCursors();
    this._timers = new Map(); // name -> timer id
    this._attempt = 0;
    this._closed = false;
    this._ended = false;
    this._live = false; // may send code-updates: caught up and not waiting for a sync
    this._catchUp = null; // {code, version} from connected, while replays are due
    this._discardOnSync = false;
    this._resends = 0;
    this._cursorPending = null;
    this._cursorLast = -Infinity;
    this._joinWaiters = null;
    this._onOnline = () => this._handleOnline();
    this._onOffline = () => this._handleOffline();
  }

  /**
   * createSession creates a session over REST and returns the Session
   * ({id, createdAt, language, participantCount}). It throws a PairpadError.
   */
  static async createSession(baseUrl, language, options = {}) {
    const fetchFn = options.fetch ?? ((...a) => globalThis.fetch(...a));
    return request(fetchFn, 'POST', `${trimSlash(baseUrl)}/api/sessions`, { language });
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
    return this._doc ? this._doc.text : '';
  }

  /** version is the last server version the local text includes. */
  get version() {
    return this._doc ? this._doc.version : 0;
  }

  /** state is the OT state: synchronized, awaiting-ack or awaiting-with-buffer. */
  get state() {
    return this._doc ? this._doc.state : 'synchronized';
  }

  /** loaded reports whether the document has arrived, so local edits are possible. */
  get loaded() {
    return this._doc !== null;
  }

  /** status is connecting, connected, reconnecting or offline. */
  get status() {
    return this._status;
  }

  /** users is the people present: [{id, name, color, lastSeen}]. */
  get users() {
    return this._users.slice();
  }

  /** language is the session's current language (null before connecting). */
  get language() {
    return this._language;
  }

  /** sessionId is the joined session's id. */
  get sessionId() {
    return this._sessionId;
  }

  /** userId is this participant's user id. */
  get userId() {
    return this._userId;
  }

  /**
   * cursors lists the other participants' cursors in the local text:
   * [{userId, name, color, index, position:{line,column}, selection|null}].
   */
  get cursors() {
    return this._cursors.all(this.text, this._users);
  }

  /**
   * join asks the server for a join token (POST /api/sessions/{id}/join),
   * opens the WebSocket and resolves with the `connected` payload once the
   * document has arrived. It rejects with a PairpadError when the REST join
   * fails, the session ends or close() is called first; while the socket
   * cannot connect it keeps retrying with backoff and the promise waits.
   */
  async join(baseUrl, sessionId, userId, userName) {
    if (this._sessionId !== undefined) throw new Error('pairpad: join may be called once per client');
    this._baseUrl = trimSlash(baseUrl);
    this._sessionId = sessionId;
    this._userId = userId;
    this._userName = userName;
    const joined = new Promise((resolve, reject) => {
      this._joinWaiters = { resolve, reject };
    });
    joined.catch(() => {}); // the caller gets the rejection through the await below
    this._setStatus(Status.CONNECTING);
    try {
      await this._rejoin();
    } catch (err) {
      this._joinWaiters = null;
      this._setStatus(Status.OFFLINE);
      throw err;
    }
    if (this._network && typeof this._network.addEventListener === 'function') {
      this._network.addEventListener('online', this._onOnline);
      this._network.addEventListener('offline', this._onOffline);
    }
    this._open();
    return joined;
  }

  /**
   * applyLocal applies a local edit, an op on `text`, and sends it (one
   * update in flight at a time; later edits are composed into a buffer).
   * It throws an OTError for an op that does not fit the text.
   */
  applyLocal(op) {
    if (!this._doc) throw new Error('pairpad: the document has not arrived yet');
    validate(op);
    const clean = op.map((c) => (typeof c === 'string' ? wellFormed(c) : c));
    if (this._doc.applyLocal(clean) && this._live) this._sendOutstanding();
    this._cursors.move(clean, null);
    this._emit('text', { text: this._doc.text, op: clean, remote: false });
    return this._doc.text;
  }

  /** setText replaces the local text with newText as one local edit (a diff). */
  setText(newText) {
    if (!this._doc) throw new Error('pairpad: the document has not arrived yet');
    const op = diff(this._doc.text, newText);
    if (op.length > 1 || typeof op[0] === 'string' || op[0] < 0) this.applyLocal(op);
    return this._doc.text;
  }

  /**
   * sendCursor shares this participant's cursor: position and the optional
   * selection's start/end are {line, column}, 0-based. Calls are throttled
   * to under 10 per second; the latest position always goes out.
   */
  sendCursor(position, selection = undefined) {
    this._cursorPending = selection ? { position, selection } : { position };
    this._flushCursor();
  }

  /**
   * setLanguage asks the server to change the session's language; everyone,
   * this client too, then gets `language`. It returns false when not
   * connected (nothing is sent).
   */
  setLanguage(language) {
    return this._send('language-changed', language);
  }

  /** requestSync asks the server for its full state (the `sync` event); local edits are kept. */
  requestSync() {
    this._askSync(false);
  }

  /** close leaves the session: the socket closes, no reconnect follows, status becomes offline. */
  close() {
    if (this._closed) return;
    this._closed = true;
    this._shutdown();
    this._rejectJoin(new PairpadError('CLOSED', 'the client was closed'));
  }

  // ---- connection -------------------------------------------------------

  async _rejoin() {
    const url = `${this._baseUrl}/api/sessions/${encodeURIComponent(this._sessionId)}/join`;
    const res = await request(this._fetch, 'POST', url, { userId: this._userId, userName: this._userName });
    if (!res || typeof res.token !== 'string') throw new PairpadError('INVALID_RESPONSE', 'join answered without a token');
    this._join = res;
    this._needRejoin = false;
    this._freshToken = true;
  }

  _open() {
    if (this._closed || this._ended) return;
    if (this._status !== Status.RECONNECTING) this._setStatus(this._doc ? Status.RECONNECTING : Status.CONNECTING);
    const params = {
      sessionId: this._sessionId,
      userId: this._userId,
      userName: this._userName,
      token: this._join.token,
      deltaFormat: 'ops',
      since: this._doc ? this._doc.version : undefined,
    };
    let ws;
    try {
      ws = new this._WebSocket(socketUrl(this._join.wsUrl, this._baseUrl, params));
    } catch (err) {
      this._emit('error', { error: 'NETWORK_ERROR', message: `cannot open the WebSocket: ${err.message}` });
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    this._gotConnected = false;
    this._opened = false;
    this._tokenChecked = this._freshToken;
    this._freshToken = false;
    this._live = false;
    this._sentSince = params.since;
    ws.onmessage = (ev) => {
      if (ws === this._ws) this._onFrame(ev.data);
    };
    ws.onclose = () => {
      if (ws === this._ws) this._dropSocket();
    };
    ws.onopen = () => {
      if (ws === this._ws) this._opened = true;
    };
    ws.onerror = () => {};
    this._armIdle();
  }

  // _dropSocket forgets the current socket (its late events are ignored),
  // closes it, and decides what comes next.
  _dropSocket() {
    const ws = this._ws;
    this._ws = null;
    this._live = false;
    this._catchUp = null;
    for (const name of ['idle', 'catchUp', 'resend', 'cursor']) this._clear(name);
    if (ws) {
      ws.onopen = null;
      ws.onmessage = null;
      ws.onclose = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
    if (!this._gotConnected) {
      this._needRejoin = true;
      if (!this._opened && this._tokenChecked && !this._refusalReported && !this._closed && !this._ended) {
        // The REST join just succeeded, so the server is reachable and the
        // session exists; the browser hides why the upgrade was refused.
        this._refusalReported = true;
        this._emit('error', {
          error: 'CONNECTION_REFUSED',
          message: 'the server refused the WebSocket connection (the session may be full, or this origin is not allowed); retrying',
        });
      }
    }
    if (this._closed || this._ended) {
      this._setStatus(Status.OFFLINE);
      return;
    }
    if (this._isOffline()) {
      this._setStatus(Status.OFFLINE); // the `online` event reconnects
      return;
    }
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    const delay = this._backoff[Math.min(this._attempt, this._backoff.length - 1)];
    this._attempt++;
    this._setStatus(Status.RECONNECTING);
    this._timer('reconnect', delay, () => this._reconnect());
  }

  async _reconnect() {
    // One attempt at a time: an `online` event may come while a join is under way.
    if (this._closed || this._ended || this._ws || this._joining) return;
    if (this._needRejoin) {
      this._joining = true;
      try {
        await this._rejoin();
      } catch (err) {
        if (this._closed || this._ended) return;
        this._emit('error', { error: err.code, message: err.message, details: err.details });
        if (FATAL_JOIN.has(err.code)) {
          this._end(err);
          return;
        }
        this._scheduleReconnect();
        return;
      } finally {
        this._joining = false;
      }
      if (this._closed || this._ended || this._ws) return;
    }
    this._open();
  }

  _isOffline() {
    return this._network !== null && !this._online();
  }

  _handleOffline() {
    if (this._closed || this._ended) return;
    this._clear('reconnect');
    if (this._ws) this._dropSocket();
    else this._setStatus(Status.OFFLINE);
  }

  _handleOnline() {
    if (this._closed || this._ended || this._ws) return;
    this._clear('reconnect');
    this._attempt = 0;
    this._reconnect();
  }

  _armIdle() {
    this._timer('idle', this._idleTimeout, () => {
      if (this._ws) this._dropSocket();
    });
  }

  _end(err) {
    this._ended = true;
    this._shutdown();
    this._rejectJoin(err);
  }

  _shutdown() {
    for (const name of [...this._timers.keys()]) this._clear(name);
    if (this._network && typeof this._network.removeEventListener === 'function') {
      this._network.removeEventListener('online', this._onOnline);
      this._network.removeEventListener('offline', this._onOffline);
    }
    const ws = this._ws;
    this._ws = null;
    this._live = false;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    }
    this._setStatus(Status.OFFLINE);
  }

  _rejectJoin(err) {
    const w = this._joinWaiters;
    this._joinWaiters = null;
    if (w) w.reject(err);
  }

  _send(type, payload) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1 || !this._gotConnected) return false;
    const env = { type, sessionId: this._sessionId, userId: this._userId, timestamp: this._now() };
    if (payload !== undefined) env.payload = payload;
    ws.send(JSON.stringify(env));
    return true;
  }

  _timer(name, ms, fn) {
    this._clear(name);
    this._timers.set(
      name,
      this._setTimeout(() => {
        this._timers.delete(name);
        fn();
      }, ms),
    );
  }

  _clear(name) {
    if (this._timers.has(name)) {
      this._clearTimeout(this._timers.get(name));
      this._timers.delete(name);
    }
  }

  _newOpId() {
    this._opCount++;
    return `${this._opPrefix}-${this._opCount.toString(36)}`;
  }

  _setStatus(status) {
    if (status === this._status) return;
    this._status = status;
    this._emit('status', { status });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // ---- server events ----------------------------------------------------

  _onFrame(data) {
    this._armIdle();
    let env;
    try {
      env = JSON.parse(data);
    } catch {
      this._emit('error', { error: 'INVALID_PAYLOAD', message: 'the server sent a frame that is not JSON' });
      return;
    }
    if (!env || typeof env.type !== 'string') return;
    const p = env.payload;
    try {
      switch (env.type) {
        case 'connected':
          this._onConnected(p);
          break;
        case 'sync':
          this._onSync(p);
          break;
        case 'code-update':
          this._onCodeUpdate(env.userId, p);
          break;
        case 'code-ack':
          this._onAck(p);
          break;
        case 'user-joined':
          this._onUserJoined(p);
          break;
        case 'user-left':
          this._onUserLeft(env.userId);
          break;
        case 'presence-update':
          this._setUsers(p && p.users);
          break;
        case 'cursor-update':
          this._onCursor(env.userId, p);
          break;
        case 'language-changed':
          this._setLanguage(p);
          break;
        case 'session-ended':
          this._onSessionEnded(p);
          break;
        case 'error':
          this._onError(p);
          break;
        default:
        // A newer server may add events; ignoring them is safe.
      }
    } catch (err) {
      // A payload we cannot use leaves us out of step: start again from the server's state.
      this._emit('error', { error: 'CLIENT_ERROR', message: `cannot handle ${env.type}: ${err.message}` });
      this._askSync(false);
    }
  }

  _onConnected(p) {
    if (!p || typeof p.code !== 'string' || !Number.isInteger(p.version)) throw new Error('connected without code and version');
    this._gotConnected = true;
    this._refusalReported = false;
    this._attempt = 0;
    this._resends = 0;
    this._setStatus(Status.CONNECTED);
    this._setUsers(p.users);
    this._setLanguage(p.language);
    if (!this._doc) {
      this._doc = new SyncDocument(p.code, p.version, () => this._newOpId());
      this._goLive();
      this._emit('text', { text: p.code, op: diff('', p.code), remote: true, reason: 'connected' });
      const w = this._joinWaiters;
      this._joinWaiters = null;
      if (w) w.resolve(p);
      return;
    }
    if (this._discardOnSync || this._sentSince === undefined || p.version <= this._doc.version) {
      // Nothing to replay (or the server is behind us): take its state as is.
      if (this._discardOnSync || this._doc.confirmed !== p.code || this._doc.version !== p.version) {
        this._adopt(p.code, p.version, this._discardOnSync, 'connected');
      }
      this._goLive();
      return;
    }
    // The updates since our version follow (or a sync when history is gone).
    this._catchUp = { code: p.code, version: p.version };
    this._timer('catchUp', this._catchUpTimeout, () => this._askSync(false));
  }

  _onSync(p) {
    if (!p || typeof p.code !== 'string' || !Number.isInteger(p.version)) throw new Error('sync without code and version');
    this._setUsers(p.users);
    this._setLanguage(p.language);
    if (!this._doc) {
      this._onConnected(p);
      return;
    }
    this._adopt(p.code, p.version, this._discardOnSync, 'sync');
    this._goLive();
  }

  // _adopt moves the document to the server's state: keeping local edits on
  // top of it (rebase) or dropping them (discard, after a refused update).
  _adopt(code, version, discard, reason) {
    const op = discard ? this._doc.reset(code, version) : this._doc.rebase(code, version);
    this._discardOnSync = false;
    this._cursors.move(op, null);
    this._emit('text', { text: this._doc.text, op, remote: true, reason });
  }

  _goLive() {
    this._catchUp = null;
    this._clear('catchUp');
    this._live = true;
    this._sendOutstanding();
    this._flushCursor();
  }

  _finishCatchUp() {
    const c = this._catchUp;
    if (!c || this._doc.version < c.version) return;
    if (this._doc.version === c.version && this._doc.confirmed !== c.code) {
      this._emit('error', { error: 'CLIENT_RESYNC', message: 'the replayed updates did not reproduce the server text; resynchronizing' });
      this._adopt(c.code, c.version, false, 'connected');
    }
    this._goLive();
  }

  _askSync(discard) {
    this._discardOnSync = this._discardOnSync || discard;
    this._live = false;
    this._catchUp = null;
    this._clear('catchUp');
    this._clear('resend');
    this._send('sync'); // when it cannot go out, the next `connected` does the same job
  }

  _onCodeUpdate(from, p) {
    if (!this._doc || !p || !Number.isInteger(p.version) || p.version <= this._doc.version) return;
    const out = this._doc.outstanding;
    if (out && from === this._userId && p.opId === out.opId) {
      this._acknowledge(p.version); // our own update, replayed after a reconnect
      return;
    }
    if (p.version !== this._doc.version + 1) {
      this._askSync(false);
      return;
    }
    let op;
    if (p.delta && Array.isArray(p.delta.ops)) op = p.delta.ops;
    else if (p.delta && typeof p.delta.fullCode === 'string') op = diff(this._doc.confirmed, p.delta.fullCode);
    else throw new Error('code-update without delta');
    const local = this._doc.applyRemote(op);
    this._cursors.move(local, from);
    this._emit('text', { text: this._doc.text, op: local, remote: true, userId: from, version: p.version });
    this._finishCatchUp();
  }

  _onAck(p) {
    const out = this._doc && this._doc.outstanding;
    if (!out || !p || p.opId !== out.opId) return; // a duplicate ack of an earlier update
    this._acknowledge(p.version);
  }

  _acknowledge(version) {
    if (!Number.isInteger(version)) throw new Error('ack without a version');
    if (version <= this._doc.version) {
      // Already part of the state we rebased on after a sync: our copy is a duplicate.
      this._emit('error', { error: 'CLIENT_RESYNC', message: 'an update was applied before the last sync; resynchronizing' });
      this._askSync(true);
      return;
    }
    if (version !== this._doc.version + 1) {
      this._askSync(false);
      return;
    }
    this._resends = 0;
    this._clear('resend');
    const opId = this._doc.outstanding.opId;
    if (this._doc.ack() && this._live) this._sendOutstanding();
    this._emit('ack', { version, opId, state: this._doc.state });
    this._finishCatchUp();
  }

  _sendOutstanding() {
    const out = this._doc && this._doc.outstanding;
    if (!out || !this._live) return;
    this._send('code-update', { delta: { ops: out.op }, version: this._doc.version, opId: out.opId });
  }

  _onError(p) {
    const e = { error: (p && p.error) || 'UNKNOWN', message: (p && p.message) || '', details: p && p.details };
    this._emit('error', e);
    const out = this._doc && this._doc.outstanding;
    if (!out || !this._live) return;
    const d = e.details || {};
    // Errors that name another event or another update are not about ours.
    if (typeof d.opId === 'string' && d.opId !== out.opId) return;
    if (typeof d.type === 'string' && d.type !== 'code-update') return;
    if (e.error === 'DOCUMENT_TOO_LARGE') {
      this._askSync(true); // the update is refused for good: drop it
      return;
    }
    if (e.error === 'SERVICE_UNAVAILABLE') {
      // The server lost NATS for a while: the update is kept and resent until
      // it is back, and never counts against MAX_RESENDS (that would drop it).
      const wait = Number.isFinite(d.retryAfterMs) && d.retryAfterMs > 0 ? Math.min(d.retryAfterMs, 10000) : 1000;
      this._timer('resend', wait, () => this._sendOutstanding());
      return;
    }
    if (!RETRYABLE.has(e.error)) return;
    this._resends++;
    if (this._resends > MAX_RESENDS) {
      this._resends = 0;
      this._askSync(true);
      return;
    }
    const wait = Number.isFinite(d.retryAfterMs) && d.retryAfterMs > 0 ? Math.min(d.retryAfterMs, 10000) : 1000 * this._resends;
    this._timer('resend', wait, () => this._sendOutstanding());
  }

  _onUserJoined(p) {
    if (!p || typeof p.id !== 'string') return;
    const users = this._users.filter((u) => u.id !== p.id);
    users.push({ id: p.id, name: p.name, color: p.color });
    this._setUsers(users);
  }

  _onUserLeft(userId) {
    this._setUsers(this._users.filter((u) => u.id !== userId));
  }

  _setUsers(users) {
    if (!Array.isArray(users)) return;
    this._users = users
      .filter((u) => u && typeof u.id === 'string')
      .map((u) => ({ id: u.id, name: String(u.name ?? u.id), color: String(u.color ?? '#888888'), lastSeen: u.lastSeen }));
    for (const userId of this._cursors.retain(new Set(this._users.map((u) => u.id)))) {
      this._emit('cursor', { userId, cursor: null, cursors: this.cursors });
    }
    this._emit('presence', { users: this.users });
  }

  _setLanguage(language) {
    if (typeof language !== 'string' || language === this._language) return;
    this._language = language;
    this._emit('language', { language });
  }

  _onCursor(from, p) {
    if (!this._doc || !p || !p.position || from === this._userId) return;
    this._cursors.set(from, this._doc.text, p);
    this._emit('cursor', { userId: from, cursor: this._cursors.describe(from, this.text, this._users), cursors: this.cursors });
  }

  _onSessionEnded(p) {
    const reason = (p && p.reason) || 'ended';
    this._end(new PairpadError('SESSION_ENDED', `the session has ended (${reason})`));
    this._emit('session-ended', { reason });
  }

  _flushCursor() {
    if (!this._cursorPending || this._timers.has('cursor')) return;
    const wait = this._cursorLast + this._cursorInterval - this._now();
    if (wait > 0) {
      this._timer('cursor', wait, () => this._flushCursor());
      return;
    }
    if (this._send('cursor-update', this._cursorPending)) {
      this._cursorLast = this._now();
      this._cursorPending = null;
    }
  }
}
