// app.js — the pairpad demo page: create or open a session, edit one
// document together in a CodeMirror 6 editor (the bundle at
// /client/dist/editor.js, built from npm at build time), see who is here and
// where their carets are. Every string from the server or a user is shown
// through textContent.
//
// Sections: page helpers, status line, start screen, session (open, leave),
// editor, people, start-up. A feature for the session view adds its own
// section and hooks into openSession/stop.

import { LANGUAGES, PairpadClient } from './client/index.js';

// ---- page helpers ---------------------------------------------------------

const $ = (id) => document.getElementById(id);
const BASE = location.origin;
// The server's per-response nonce (on this page's script element), which the
// editor's <style> elements must carry under the page's CSP.
const STYLE_NONCE = document.querySelector('script[nonce]')?.nonce || '';
const COLOR = /^#[0-9a-fA-F]{6}$/;

// Friendly words for every error code the server (or the client) reports.
const MESSAGES = {
  SESSION_NOT_FOUND: 'This session does not exist or has ended.',
  SESSION_FULL: 'This session is full: no more people can join.',
  RATE_LIMIT_EXCEEDED: 'Too many requests: please slow down a little.',
  INVALID_REQUEST: 'The server did not accept the request.',
  INVALID_PAYLOAD: 'The server could not read a message from this page.',
  INVALID_SESSION: 'A message named another session.',
  INVALID_LANGUAGE: 'That language is not supported.',
  DOCUMENT_TOO_LARGE: 'The document would exceed 256 KiB, so that change was undone.',
  USER_NOT_IN_SESSION: 'You are not part of this session.',
  UNAUTHORIZED: 'The join token was refused.',
  ORIGIN_NOT_ALLOWED: 'This page’s origin is not allowed by the server.',
  TOO_MANY_CONNECTIONS: 'The server has too many connections right now.',
  PAYLOAD_TOO_LARGE: 'The request was too large.',
  INTERNAL_SERVER_ERROR: 'The server hit an internal error.',
  SERVICE_UNAVAILABLE: 'The server is briefly unavailable; your changes are kept and sent when it is back.',
  NETWORK_ERROR: 'The server cannot be reached.',
  CONNECTION_REFUSED: 'The server refused the live connection: the session may be full, or this page’s address is not allowed.',
  SESSION_ENDED: 'This session has ended.',
  CLIENT_RESYNC: 'This page fell out of step and reloaded the document.',
  CLIENT_ERROR: 'This page could not handle a message and reloaded the document.',
  CLIENT_HASH_MISMATCH: 'The server’s document check did not match its text.',
  EDITOR_MISSING: 'The code editor is missing from this build.',
};

// Display names of the session languages.
const LANGUAGE_NAMES = {
  javascript: 'JavaScript',
  typescript: 'TypeScript',
  python: 'Python',
  java: 'Java',
  go: 'Go',
  c: 'C',
  cpp: 'C++',
  csharp: 'C#',
  ruby: 'Ruby',
  rust: 'Rust',
  kotlin: 'Kotlin',
  swift: 'Swift',
  php: 'PHP',
  sql: 'SQL',
};

const ui = {
  client: null,
  editor: null, // the EditorView
  unbind: null, // undoes bindCodeMirror
  ended: false,
};

function userId() {
  // Per tab, so two tabs of one browser are two people, as a demo expects.
  let id = sessionStorage.getItem('pairpad.userId');
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    id = `u-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
    sessionStorage.setItem('pairpad.userId', id);
  }
  return id;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function showAlert(code, message, sticky = false) {
  const box = el('div', `alert${sticky ? ' sticky' : ''}`);
  box.dataset.code = code;
  box.append(el('strong', '', MESSAGES[code] || 'Something went wrong.'));
  box.append(el('span', 'alert-detail', ` ${code}${message ? `: ${message}` : ''}`));
  const close = el('button', 'alert-close', '×');
  close.type = 'button';
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', () => box.remove());
  box.append(close);
  const alerts = $('alerts');
  alerts.append(box);
  while (alerts.children.length > 5) alerts.firstElementChild.remove();
  if (!sticky) setTimeout(() => box.remove(), 10000);
}

function fillLanguages(select) {
  select.replaceChildren(...LANGUAGES.map((l) => {
    const o = el('option', '', LANGUAGE_NAMES[l] || l);
    o.value = l;
    return o;
  }));
}

// ---- status line ------------------------------------------------------------

// setStatus shows connecting, connected, reconnecting, offline or ended:
// what a person needs to know, never the protocol's inner state.
function setStatus(status) {
  const s = $('status');
  s.textContent = status;
  s.className = `status status-${status}`;
}

// ---- start screen -----------------------------------------------------------

function sessionFromInput(value) {
  const v = value.trim();
  try {
    const u = new URL(v);
    return u.searchParams.get('session') || '';
  } catch {
    return v;
  }
}

function readName() {
  const name = $('name').value.trim();
  if (!name) {
    showAlert('INVALID_REQUEST', 'please enter your name first');
    $('name').focus();
    return null;
  }
  localStorage.setItem('pairpad.name', name);
  return name;
}

function showStart() {
  $('session').hidden = true;
  $('start').hidden = false;
  $('session-label').hidden = true;
  $('status').hidden = true; // nothing to be connected to yet
}

async function createSession() {
  const name = readName();
  if (!name) return;
  $('create').disabled = true;
  try {
    const s = await PairpadClient.createSession(BASE, $('new-language').value);
    await openSession(s.id, name);
  } catch (err) {
    showAlert(err.code || 'NETWORK_ERROR', err.message);
  } finally {
    $('create').disabled = false;
  }
}

// ---- session ----------------------------------------------------------------

async function openSession(sessionId, name) {
  stop();
  history.replaceState(null, '', `/?session=${encodeURIComponent(sessionId)}`);
  $('start').hidden = true;
  $('session').hidden = false;
  $('share').value = location.href;
  $('session-label').textContent = `session ${sessionId.slice(0, 8)}`;
  $('session-label').hidden = false;
  $('status').hidden = false;
  setStatus('connecting');
  ui.ended = false;

  const client = new PairpadClient();
  ui.client = client;
  window.pairpad = client; // handy in the console and for tests
  wire(client);
  const editor = await openEditor(client);
  if (ui.client !== client) return; // left meanwhile
  try {
    await client.join(BASE, sessionId, userId(), name);
    if (editor) {
      editor.bundle.setEditable(editor.view, true);
      editor.view.focus();
    }
  } catch (err) {
    if (ui.client !== client) return;
    showAlert(err.code || 'NETWORK_ERROR', err.message, true);
    if (err.code !== 'SESSION_ENDED') showStart();
  }
}

function wire(client) {
  const live = (fn) => (detail) => {
    if (ui.client === client) fn(detail);
  };
  client.on('status', live(({ status }) => setStatus(ui.ended ? 'ended' : status)));
  client.on('presence', live(renderPeople));
  client.on('cursor', live(renderPeople));
  client.on('text', live(renderPeople));
  client.on('language', live(({ language }) => {
    $('language').value = language;
  }));
  client.on('error', live(({ error, message }) => {
    showAlert(error, message);
    if (client.language) $('language').value = client.language; // undo a refused change
  }));
  client.on('session-ended', live(({ reason }) => {
    ui.ended = true;
    if (ui.editor) ui.editor.bundle.setEditable(ui.editor.view, false);
    setStatus('ended');
    showAlert('SESSION_ENDED', `the session has ended (${reason})`, true);
  }));
}

function copyLink() {
  const share = $('share');
  share.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(share.value).then(
      () => ($('copy').textContent = 'Copied'),
      () => document.execCommand('copy'),
    );
  } else {
    document.execCommand('copy');
    $('copy').textContent = 'Copied';
  }
  setTimeout(() => ($('copy').textContent = 'Copy link'), 1500);
}

function stop() {
  if (ui.unbind) ui.unbind();
  if (ui.editor) ui.editor.view.destroy();
  if (ui.client) ui.client.close();
  ui.unbind = null;
  ui.editor = null;
  ui.client = null;
  $('editor').replaceChildren();
}

function leave() {
  stop();
  history.replaceState(null, '', '/');
  showStart();
}

// ---- editor -----------------------------------------------------------------

// The editor bundle is a build output (make build); a binary built without
// it serves the page without an editor, and the page says why.
let bundle = null;
function loadEditorBundle() {
  bundle ??= import('/client/dist/editor.js').catch(() => null);
  return bundle;
}

// openEditor makes a CodeMirror editor bound to client (read-only until the
// document has arrived) and returns {view, bundle}, or null when the bundle
// is missing.
async function openEditor(client) {
  const mod = await loadEditorBundle();
  if (ui.client !== client) return null;
  const box = $('editor');
  if (!mod) {
    const msg = el('p', 'editor-missing', 'The editor bundle is missing from this build. Build it with ');
    msg.append(el('code', '', 'make build'), ' (npm ci and esbuild in clients/js), then restart the server.');
    box.replaceChildren(msg);
    showAlert('EDITOR_MISSING', 'the editor bundle /client/dist/editor.js was not built', true);
    return null;
  }
  const view = mod.createEditor(box, { label: 'Code editor', nonce: STYLE_NONCE });
  mod.setEditable(view, false);
  ui.editor = { view, bundle: mod };
  ui.unbind = mod.bindCodeMirror(view, client, { language: mod.languageSupport });
  window.pairpadEditor = view; // for the console and the browser tests
  return ui.editor;
}

// ---- people -----------------------------------------------------------------

function renderPeople() {
  const client = ui.client;
  if (!client) return;
  const cursors = new Map(client.cursors.map((c) => [c.userId, c]));
  const list = $('people');
  list.replaceChildren();
  for (const u of client.users) {
    const li = el('li', 'person');
    li.dataset.userId = u.id;
    const dot = el('span', 'dot');
    if (COLOR.test(u.color)) dot.style.backgroundColor = u.color;
    li.append(dot, el('span', 'person-name', u.name));
    if (u.id === client.userId) li.append(el('span', 'tag', 'you'));
    const c = cursors.get(u.id);
    if (c) li.append(el('span', 'where', `line ${c.position.line + 1}`));
    list.append(li);
  }
  $('people-count').textContent = String(client.users.length);
}

// ---- start-up ---------------------------------------------------------------

function init() {
  fillLanguages($('new-language'));
  fillLanguages($('language'));
  $('name').value = localStorage.getItem('pairpad.name') || '';
  $('create').addEventListener('click', createSession);
  $('join').addEventListener('click', () => {
    const id = sessionFromInput($('join-id').value);
    const name = readName();
    if (!id) showAlert('INVALID_REQUEST', 'enter a session link or id');
    else if (name) openSession(id, name);
  });
  $('join-id').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') $('join').click();
  });
  $('language').addEventListener('change', () => {
    if (ui.client) ui.client.setLanguage($('language').value);
  });
  $('copy').addEventListener('click', copyLink);
  $('leave').addEventListener('click', leave);
  loadEditorBundle(); // start fetching it while the person types their name

  const sessionId = new URLSearchParams(location.search).get('session');
  showStart();
  if (sessionId) {
    $('join-id').value = sessionId;
    $('create-box').hidden = true;
    const name = $('name').value.trim();
    if (name) openSession(sessionId, name);
    else $('name').focus();
  } else {
    $('name').focus();
  }
}

init();
