// connection.js — the transport under the pairpad client: the REST join that
// hands out a token, the plain WebSocket, reconnection with backoff, the idle
// watchdog and the browser's online/offline events. It knows nothing about
// documents: frames go up to its owner, which says when the server's
// `connected` arrived (established()).

import { PairpadError, request, socketUrl } from './rest.js';
import { Timers } from './timers.js';

/** The connection's phase; exactly one at a time. */
export const Phase = Object.freeze({
  IDLE: 'idle', // start() not called yet
  JOINING: 'joining', // the REST join (a fresh token) is under way
  OPENING: 'opening', // the socket is opening, `connected` has not arrived
  OPEN: 'open', // `connected` arrived: frames may be sent
  WAITING: 'waiting', // the backoff delay before the next attempt
  OFFLINE: 'offline', // the browser is offline; its `online` event reconnects
  CLOSED: 'closed', // close(), a fatal join error or the session ended: for good
});

/** Connection states reported by the client's `status` event. */
export const Status = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  OFFLINE: 'offline',
});

// REST errors after which retrying the join cannot help: the session is
// gone or over, or it will not have this participant.
const FATAL_JOIN = new Set(['SESSION_NOT_FOUND', 'SESSION_ENDED', 'INVALID_REQUEST', 'NOT_FOUND', 'FORBIDDEN', 'USER_ID_TAKEN']);

/**
 * Connection keeps one session's WebSocket up. Its owner passes handlers:
 * frame(data) for every frame, drop() when a socket is gone, status(status)
 * when the status changes, error(detail) for transport errors, and
 * fatal(err) when it closed for good after a join that cannot succeed.
 */
export class Connection {
  #WebSocket;
  #fetch;
  #backoff;
  #idleTimeout;
  #network;
  #online;
  #timers;
  #handlers;
  #since;
  #token = null; // the last join token, kept across reconnects (a REST credential)

  #phase = Phase.IDLE;
  #status = Status.OFFLINE;
  #target = null; // {baseUrl, sessionId, userId, userName}
  #join = null; // the REST join's answer ({token, wsUrl}); null: join again before the next socket
  #tokenFresh = false; // #join was fetched for the socket about to open
  #socket = null; // {ws, opened, freshToken}
  #attempt = 0; // failed attempts since the last `connected`
  #everDropped = false; // status says reconnecting rather than connecting
  #refusalReported = false;
  #generation = 0; // bumped by every reconnect, so a stale REST join is dropped
  #onOnline = () => this.#handleOnline();
  #onOffline = () => this.#handleOffline();

  /**
   * @param {object} options the client's options (WebSocket, fetch, backoff, idleTimeout, network, online, timers)
   * @param {object} handlers {frame, drop, status, error, fatal}
   * @param {() => number|undefined} since the version to resume from (the `since` query), if any
   */
  constructor(options, handlers, since) {
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.#fetch = options.fetch ?? ((...a) => globalThis.fetch(...a));
    this.#backoff = options.backoff ?? [1000, 2000, 4000, 8000, 16000];
    this.#idleTimeout = options.idleTimeout ?? 40000;
    this.#network = options.network !== undefined ? options.network : typeof window !== 'undefined' ? window : null;
    this.#online = options.online ?? (() => globalThis.navigator === undefined || globalThis.navigator.onLine !== false);
    this.#timers = new Timers(options.timers);
    this.#handlers = handlers;
    this.#since = since;
  }

  /** phase is one of Phase. */
  get phase() {
    return this.#phase;
  }

  /** status is one of Status. */
  get status() {
    return this.#status;
  }

  /** token is the last join token the REST join handed out (null before it). */
  get token() {
    return this.#token;
  }

  /**
   * start joins over REST and opens the first socket. It throws the REST
   * error (and the connection is closed); once it returns, the connection
   * retries by itself until close().
   */
  async start(baseUrl, sessionId, userId, userName, { role, hostKey } = {}) {
    this.#target = { baseUrl, sessionId, userId, userName, role, hostKey };
    this.#setPhase(Phase.JOINING);
    try {
      await this.#fetchToken();
    } catch (err) {
      this.#setPhase(Phase.CLOSED);
      throw err;
    }
    if (this.#phase !== Phase.JOINING) return; // closed meanwhile
    if (this.#network && typeof this.#network.addEventListener === 'function') {
      this.#network.addEventListener('online', this.#onOnline);
      this.#network.addEventListener('offline', this.#onOffline);
    }
    this.#open();
  }

  /** established is called when the server's `connected` arrived: frames may be sent. */
  established() {
    if (this.#phase !== Phase.OPENING) return;
    this.#attempt = 0;
    this.#refusalReported = false;
    this.#setPhase(Phase.OPEN);
  }

  /** send sends one envelope; it returns false (and sends nothing) unless the connection is open. */
  send(envelope) {
    const s = this.#socket;
    if (this.#phase !== Phase.OPEN || !s || s.ws.readyState !== 1) return false;
    s.ws.send(JSON.stringify(envelope));
    return true;
  }

  /** close ends the connection for good: the socket closes, nothing reconnects, status offline. */
  close() {
    if (this.#phase === Phase.CLOSED) return;
    this.#generation++;
    this.#timers.clearAll();
    if (this.#network && typeof this.#network.removeEventListener === 'function') {
      this.#network.removeEventListener('online', this.#onOnline);
      this.#network.removeEventListener('offline', this.#onOffline);
    }
    const s = this.#socket;
    this.#socket = null;
    if (s) this.#detach(s.ws, 1000);
    this.#setPhase(Phase.CLOSED);
  }

  async #fetchToken() {
    const t = this.#target;
    const url = `${t.baseUrl}/api/sessions/${encodeURIComponent(t.sessionId)}/join`;
    const body = { userId: t.userId, userName: t.userName };
    if (t.role) body.role = t.role;
    if (t.hostKey) body.hostKey = t.hostKey;
    const res = await request(this.#fetch, 'POST', url, body);
    if (!res || typeof res.token !== 'string') throw new PairpadError('INVALID_RESPONSE', 'join answered without a token');
    this.#join = res;
    this.#token = res.token;
    this.#tokenFresh = true;
  }

  #open() {
    const t = this.#target;
    const params = {
      sessionId: t.sessionId,
      userId: t.userId,
      userName: t.userName,
      token: this.#join.token,
      deltaFormat: 'ops',
      since: this.#since(),
    };
    this.#setPhase(Phase.OPENING);
    let ws;
    try {
      ws = new this.#WebSocket(socketUrl(this.#join.wsUrl, t.baseUrl, params));
    } catch (err) {
      this.#handlers.error({ error: 'NETWORK_ERROR', message: `cannot open the WebSocket: ${err.message}` });
      this.#everDropped = true;
      this.#scheduleReconnect();
      return;
    }
    const s = { ws, opened: false, freshToken: this.#tokenFresh };
    this.#tokenFresh = false;
    this.#socket = s;
    ws.onmessage = (ev) => {
      if (this.#socket !== s) return;
      this.#armIdle();
      this.#handlers.frame(ev.data);
    };
    ws.onclose = () => {
      if (this.#socket === s) this.#dropSocket();
    };
    ws.onopen = () => {
      s.opened = true;
    };
    ws.onerror = () => {};
    this.#armIdle();
  }

  // #detach stops listening to ws and closes it.
  #detach(ws, code) {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    try {
      ws.close(code);
    } catch {
      // already closed
    }
  }

  // #dropSocket forgets the current socket (its late events are ignored),
  // closes it, tells the owner, and decides what comes next.
  #dropSocket() {
    const s = this.#socket;
    const wasOpen = this.#phase === Phase.OPEN;
    this.#socket = null;
    this.#timers.clear('idle');
    if (s) this.#detach(s.ws);
    this.#everDropped = true;
    if (!wasOpen) {
      this.#join = null; // the next attempt first joins over REST again (a fresh token)
      if (s && !s.opened && s.freshToken && !this.#refusalReported) {
        // The REST join just succeeded, so the server is reachable and the
        // session exists; the browser hides why the upgrade was refused.
        this.#refusalReported = true;
        this.#handlers.error({
          error: 'CONNECTION_REFUSED',
          message: 'the server refused the WebSocket connection (the session may be full, or this origin is not allowed); retrying',
        });
      }
    }
    this.#handlers.drop();
    if (this.#phase === Phase.CLOSED) return; // the owner closed it
    if (this.#isOffline()) {
      this.#setPhase(Phase.OFFLINE); // the `online` event reconnects
      return;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect() {
    const delay = this.#backoff[Math.min(this.#attempt, this.#backoff.length - 1)];
    this.#attempt++;
    this.#setPhase(Phase.WAITING);
    this.#timers.set('reconnect', delay, () => this.#reconnect());
  }

  async #reconnect() {
    const generation = ++this.#generation;
    if (this.#join === null) {
      this.#setPhase(Phase.JOINING);
      try {
        await this.#fetchToken();
      } catch (err) {
        if (generation !== this.#generation || this.#phase === Phase.CLOSED) return;
        this.#handlers.error({ error: err.code, message: err.message, details: err.details });
        if (FATAL_JOIN.has(err.code)) {
          this.close();
          this.#handlers.fatal(err);
          return;
        }
        this.#scheduleReconnect();
        return;
      }
      if (generation !== this.#generation || this.#phase !== Phase.JOINING) return;
    }
    this.#open();
  }

  #isOffline() {
    return this.#network !== null && !this.#online();
  }

  #handleOffline() {
    if (this.#phase === Phase.CLOSED) return;
    this.#timers.clear('reconnect');
    this.#generation++; // a REST join under way is abandoned
    if (this.#socket) this.#dropSocket();
    else this.#setPhase(Phase.OFFLINE);
  }

  #handleOnline() {
    if (this.#phase !== Phase.OFFLINE && this.#phase !== Phase.WAITING) return;
    this.#timers.clear('reconnect');
    this.#attempt = 0;
    this.#reconnect();
  }

  #armIdle() {
    this.#timers.set('idle', this.#idleTimeout, () => {
      if (this.#socket) this.#dropSocket();
    });
  }

  #setPhase(phase) {
    this.#phase = phase;
    let status;
    switch (phase) {
      case Phase.OPEN:
        status = Status.CONNECTED;
        break;
      case Phase.JOINING:
      case Phase.OPENING:
      case Phase.WAITING:
        status = this.#everDropped ? Status.RECONNECTING : Status.CONNECTING;
        break;
      default:
        status = Status.OFFLINE;
    }
    if (status === this.#status) return;
    this.#status = status;
    this.#handlers.status(status);
  }
}
