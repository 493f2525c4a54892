// rest.js — the REST side of the pairpad client: JSON requests that turn the
// documented error body into a PairpadError, and the WebSocket URL.

/**
 * PairpadError is a failure with a protocol error code (`code`), the
 * server's message, and for REST the HTTP status. Codes the client makes up
 * itself are NETWORK_ERROR, CLOSED, SESSION_ENDED and INVALID_RESPONSE.
 */
export class PairpadError extends Error {
  constructor(code, message, status = 0, details = undefined) {
    super(message);
    this.name = 'PairpadError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** trimSlash drops trailing slashes from a base URL. */
export function trimSlash(url) {
  return String(url).replace(/\/+$/, '');
}

/**
 * request sends a JSON request and returns the parsed body; a non-2xx answer
 * throws a PairpadError with the protocol's code, and a network failure one
 * with NETWORK_ERROR.
 */
export async function request(fetchFn, method, url, body, headers = {}) {
  let res;
  try {
    res = await fetchFn(url, {
      method,
      headers: body === undefined ? { ...headers } : { ...headers, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new PairpadError('NETWORK_ERROR', `cannot reach the server: ${err.message}`);
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const code = data && typeof data.error === 'string' ? data.error : `HTTP_${res.status}`;
    const message = data && typeof data.message === 'string' ? data.message : `${method} ${url}: HTTP ${res.status}`;
    throw new PairpadError(code, message, res.status, data && data.details);
  }
  return data;
}

/**
 * requestText GETs url as text (the code as a file) and returns {text,
 * filename}: the name from Content-Disposition, or null. Failures throw a
 * PairpadError as request does.
 */
export async function requestText(fetchFn, url, headers = {}) {
  let res;
  try {
    res = await fetchFn(url, { method: 'GET', headers: { ...headers } });
  } catch (err) {
    throw new PairpadError('NETWORK_ERROR', `cannot reach the server: ${err.message}`);
  }
  if (!res.ok) {
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    const code = data && typeof data.error === 'string' ? data.error : `HTTP_${res.status}`;
    const message = data && typeof data.message === 'string' ? data.message : `GET ${url}: HTTP ${res.status}`;
    throw new PairpadError(code, message, res.status, data && data.details);
  }
  const text = await res.text();
  const disposition = (res.headers && res.headers.get && res.headers.get('Content-Disposition')) || '';
  const m = /filename="([^"]+)"/.exec(disposition);
  return { text, filename: m ? m[1] : null };
}

/** bearer is the Authorization header of a credential (a join token, the host key or the admin token). */
export function bearer(credential) {
  return credential ? { Authorization: `Bearer ${credential}` } : {};
}

/** sessionUrl is the REST URL of a session. */
export function sessionUrl(baseUrl, sessionId) {
  return `${trimSlash(baseUrl)}/api/sessions/${encodeURIComponent(sessionId)}`;
}

/**
 * socketUrl turns the join response's wsUrl (or the REST base URL) into the
 * plain WebSocket endpoint (/ws) with the handshake query.
 */
export function socketUrl(wsUrl, baseUrl, params) {
  const u = new URL(wsUrl || baseUrl, baseUrl);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (/\/socket\.io\/?$/.test(u.pathname)) u.pathname = u.pathname.replace(/socket\.io\/?$/, 'ws');
  else if (!/\/ws\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/ws`;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
  u.search = q.toString();
  u.hash = '';
  return u.toString();
}
