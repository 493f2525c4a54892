// app.js — the pairpad demo page: create or open a session, edit one text
// together in a <textarea>, see who is here and where their cursors are.
// Every string from the server or a user is shown through textContent.

import { PairpadClient } from './client/client.js';
import { bindTextarea, shownText } from './client/textarea.js';

const $ = (id) => document.getElementById(id);
const BASE = location.origin;
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
  NETWORK_ERROR: 'The server cannot be reached.',
  CONNECTION_REFUSED: 'The server refused the live connection: the session may be full, or this page’s address is not allowed.',
  SESSION_ENDED: 'This session has ended.',
  CLIENT_RESYNC: 'This page fell out of step and reloaded the document.',
  CLIENT_ERROR: 'This page could not handle a message and reloaded the document.',
};

const ui = {
  client: null,
  binding: null, // keeps the editor and the client in step
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
  const detail = el('span', 'alert-detail', ` ${code}${message ? `: ${message}` : ''}`);
  box.append(detail);
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

function setStatus(status) {
  const s = $('status');
  s.textContent = status;
  s.className = `status status-${status}`;
}

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
  $('me').textContent = name;
  ui.ended = false;
  const editor = $('editor');
  editor.disabled = true;
  editor.readOnly = false;

  const client = new PairpadClient();
  ui.client = client;
  window.pairpad = client; // handy in the console and for tests
  ui.binding = bindTextarea(client, editor);
  wire(client);
  try {
    await client.join(BASE, sessionId, userId(), name);
    editor.disabled = false;
    editor.focus();
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
  client.on('text', live(onText));
  client.on('ack', live(renderDetails));
  client.on('presence', live(renderPeople));
  client.on('cursor', live(() => {
    renderPeople();
    renderGutter();
  }));
  client.on('language', live(({ language }) => {
    $('language').value = language;
  }));
  client.on('error', live(({ error, message }) => {
    showAlert(error, message);
    if (client.language) $('language').value = client.language; // undo a refused change
  }));
  client.on('session-ended', live(({ reason }) => {
    ui.ended = true;
    $('editor').readOnly = true;
    setStatus('ended');
    showAlert('SESSION_NOT_FOUND', `the session has ended (${reason})`, true);
  }));
}

function onText() {
  renderGutter();
  renderPeople();
  renderDetails();
}

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
  const me = client.users.find((u) => u.id === client.userId);
  if (me && COLOR.test(me.color)) $('me').style.color = me.color;
}

function renderDetails() {
  const client = ui.client;
  if (!client) return;
  $('version').textContent = String(client.version);
  $('sync-state').textContent = client.state;
}

// renderGutter draws line numbers and, for every remote cursor, a coloured
// marker on its line with the person's name.
function renderGutter() {
  const editor = $('editor');
  const inner = $('gutter-inner');
  const lines = ui.client ? shownText(ui.client.text).split('\n').length : 1;
  const numbers = el('div', 'line-numbers');
  numbers.textContent = Array.from({ length: lines }, (_, i) => String(i + 1)).join('\n');
  const parts = [numbers];
  const lineHeight = parseFloat(getComputedStyle(editor).lineHeight) || 20;
  for (const c of ui.client ? ui.client.cursors : []) {
    const m = el('div', 'marker', c.name.slice(0, 12));
    m.title = `${c.name}: line ${c.position.line + 1}, column ${c.position.column + 1}`;
    m.dataset.userId = c.userId;
    if (COLOR.test(c.color)) m.style.backgroundColor = c.color;
    m.style.top = `${c.position.line * lineHeight}px`;
    parts.push(m);
  }
  inner.replaceChildren(...parts);
  syncScroll();
}

function syncScroll() {
  $('gutter-inner').style.transform = `translateY(${-$('editor').scrollTop}px)`;
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
  if (ui.binding) ui.binding.destroy();
  if (ui.client) ui.client.close();
  ui.binding = null;
  ui.client = null;
}

function leave() {
  stop();
  history.replaceState(null, '', '/');
  showStart();
}

function init() {
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
  const editor = $('editor');
  editor.addEventListener('scroll', syncScroll);
  editor.addEventListener('keydown', (e) => {
    // Tab indents instead of leaving the editor.
    if (e.key !== 'Tab' || e.ctrlKey || e.altKey || e.metaKey || editor.readOnly) return;
    e.preventDefault();
    document.execCommand('insertText', false, '  ');
  });

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
