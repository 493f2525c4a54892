// app.js — the pairpad demo page: create or open a session, edit one
// document together in a CodeMirror 6 editor (the bundle at
// /client/dist/editor.js, built from npm at build time), see who is here and
// where their carets are. Every string from the server or a user is shown
// through textContent.
//
// The interview: whoever creates a session joins as the interviewer with the
// host key (kept in this tab's sessionStorage, never in the shared link),
// shares a candidate link, writes notes only interviewers and observers get,
// runs JavaScript in a sandboxed worker (runner.js) and shares the output,
// ends the interview, downloads the code and replays its history.
//
// Sections: page helpers, status line, start screen, session (open, leave),
// editor, people, notes, run, end and download, playback, start-up. A
// feature for the session view adds its own section and hooks into
// openSession/stop.

import { LANGUAGES, PairpadClient, apply } from './client/index.js';

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
  FORBIDDEN: 'Your role does not allow that.',
  USER_ID_TAKEN: 'This tab’s identity already joined this session with another role.',
  NOT_RUNNABLE: 'This language cannot run in the browser.',
  PLAYBACK_UNAVAILABLE: 'The playback could not be loaded.',
  EDIT_REFUSED: 'The server refused your last edits for good; they were undone.',
};

const ROLE_NAMES = { candidate: 'candidate', interviewer: 'interviewer', observer: 'observer' };

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
  notes: null, // the notes' EditorView
  unbindNotes: null,
  ended: false,
  hostKey: null, // this tab's host key for the open session (interviewer, observer)
  running: false,
};

// The host key of a session is kept in this tab only (sessionStorage): the
// page's URL and the candidate link never carry it.
const hostKeyOf = (sessionId) => sessionStorage.getItem(`pairpad.hostKey.${sessionId}`);
const roleOf = (sessionId) => sessionStorage.getItem(`pairpad.role.${sessionId}`) || 'interviewer';
function keepHostKey(sessionId, hostKey, role) {
  sessionStorage.setItem(`pairpad.hostKey.${sessionId}`, hostKey);
  sessionStorage.setItem(`pairpad.role.${sessionId}`, role);
}

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
    const s = await PairpadClient.createSession(BASE, $('new-language').value, {
      title: $('title').value.trim(),
      starterCode: $('starter').value,
    });
    keepHostKey(s.id, s.hostKey, 'interviewer');
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
  // The candidate link: the session only, never the host key.
  $('share').value = location.href;
  $('session-label').textContent = `session ${sessionId.slice(0, 8)}`;
  $('session-label').hidden = false;
  $('status').hidden = false;
  setStatus('connecting');
  ui.ended = false;
  ui.hostKey = hostKeyOf(sessionId);
  const role = ui.hostKey ? roleOf(sessionId) : 'candidate';
  showRole(sessionId, role);
  showEnded(false);
  renderRun(null);
  PairpadClient.getSession(BASE, sessionId).then(
    (s) => {
      if (s.title && ui.client && ui.client.sessionId === sessionId) $('session-label').textContent = s.title;
    },
    () => {},
  );

  const client = new PairpadClient();
  ui.client = client;
  window.pairpad = client; // handy in the console and for tests
  wire(client);
  const editor = await openEditor(client);
  if (ui.client !== client) return; // left meanwhile
  try {
    await client.join(BASE, sessionId, userId(), name, role === 'candidate' ? {} : { role, hostKey: ui.hostKey });
    if (ui.client !== client) return;
    if (editor) {
      editor.bundle.setEditable(editor.view, client.role !== 'observer');
      if (client.role !== 'observer') editor.view.focus();
    }
    $('language').disabled = client.role === 'observer';
    if (client.hasNotes) await openNotes(client);
    renderRun(client.lastRun);
  } catch (err) {
    if (ui.client !== client) return;
    if (err.code === 'SESSION_ENDED') {
      sessionEnded(); // the banner says so; the code stays readable
      return;
    }
    showAlert(err.code || 'NETWORK_ERROR', err.message, true);
    showStart();
  }
}

// showRole sets up the controls a role has: the interviewer ends the
// interview and gets the observer link; an observer cannot run or edit.
function showRole(sessionId, role) {
  $('end').hidden = role !== 'interviewer';
  $('run').disabled = role === 'observer';
  $('observer-box').hidden = role !== 'interviewer';
  $('share-label').textContent = role === 'candidate' ? 'Share' : 'Candidate link';
  if (role === 'interviewer') {
    // The observer link carries the host key in its fragment, which
    // browsers never send to a server; the page moves it into sessionStorage.
    $('observer-link').value = `${location.origin}/?session=${encodeURIComponent(sessionId)}&role=observer#hostKey=${encodeURIComponent(ui.hostKey)}`;
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
  client.on('refused', live(({ document: doc, error, message }) => {
    // Edits the server can never accept: say which were lost and why.
    showAlert('EDIT_REFUSED', `${doc === 'notes' ? 'notes' : 'code'}: ${MESSAGES[error] || ''} ${message}`.trim(), true);
  }));
  client.on('run', live(renderRun));
  client.on('session-ended', live(({ reason }) => {
    // An interview the interviewer ended gets the banner (and the playback);
    // a session an operator deleted or the janitor expired, an alert too.
    if (reason !== 'ended') showAlert('SESSION_ENDED', `the session has ended (${reason})`, true);
    sessionEnded();
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
  if (ui.unbindNotes) ui.unbindNotes();
  if (ui.notes) ui.notes.destroy();
  if (ui.client) ui.client.close();
  ui.unbind = null;
  ui.editor = null;
  ui.unbindNotes = null;
  ui.notes = null;
  ui.client = null;
  $('editor').replaceChildren();
  $('notes').replaceChildren();
  $('notes-box').hidden = true;
  $('playback').hidden = true;
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
  list.classList.toggle('people-ended', ui.ended);
  if (ui.ended) {
    // Nobody is connected to an ended interview (the client cleared who was here).
    list.append(el('li', 'person person-ended', 'The interview has ended: nobody is connected.'));
    $('people-count').textContent = '0';
    return;
  }
  for (const u of client.users) {
    const li = el('li', 'person');
    li.dataset.userId = u.id;
    const dot = el('span', 'dot');
    if (COLOR.test(u.color)) dot.style.backgroundColor = u.color;
    li.append(dot, el('span', 'person-name', u.name));
    const role = ROLE_NAMES[u.role] || 'candidate';
    li.dataset.role = role;
    li.append(el('span', `tag role role-${role}`, role));
    if (u.id === client.userId) li.append(el('span', 'tag', 'you'));
    const c = cursors.get(u.id);
    if (c) li.append(el('span', 'where', `line ${c.position.line + 1}`));
    list.append(li);
  }
  $('people-count').textContent = String(client.users.length);
}

// ---- notes ------------------------------------------------------------------

// openNotes makes the second editor, bound to the notes document. Only
// interviewers and observers have notes (the server never sends them to a
// candidate), so a candidate's page never creates it.
async function openNotes(client) {
  const mod = await loadEditorBundle();
  if (!mod || ui.client !== client || ui.notes) return;
  $('notes-box').hidden = false;
  const view = mod.createEditor($('notes'), { label: 'Interviewer notes', nonce: STYLE_NONCE, wrap: true });
  ui.notes = view;
  ui.unbindNotes = mod.bindCodeMirror(view, client.notesDocument, { shareCursor: false });
  window.pairpadNotes = view; // for the console and the browser tests
}

// ---- run --------------------------------------------------------------------

// RUN_TIME_LIMIT is how long a run may take before its worker is terminated.
const RUN_TIME_LIMIT = 5000;
// What is shared stays well under the server's 64 KiB run-output limit,
// measured as the JSON the payload is sent as.
const STDOUT_BYTES = 40000;
const STDERR_BYTES = 16000;
const TRUNCATED = '\n… output truncated';
const encoder = new TextEncoder();

// fitJSON cuts s so that its JSON encoding takes at most max bytes.
function fitJSON(s, max) {
  const size = (x) => encoder.encode(JSON.stringify(x)).length;
  const text = s.toWellFormed ? s.toWellFormed() : s;
  if (size(text) <= max) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (size(text.slice(0, mid) + TRUNCATED) <= max) lo = mid;
    else hi = mid - 1;
  }
  const cut = text.slice(0, lo);
  return (cut.toWellFormed ? cut.toWellFormed() : cut) + TRUNCATED;
}

// runJavaScript runs code in a fresh worker (runner.js: no DOM, no network)
// and resolves with {stdout, stderr, exitCode, durationMs}; past
// RUN_TIME_LIMIT the worker is terminated (exit code 124, as timeout(1)).
function runJavaScript(code) {
  return new Promise((resolve) => {
    const worker = new Worker('/runner.js');
    const started = performance.now();
    const out = { stdout: '', stderr: '' };
    let truncated = false;
    let timer = null;
    const finish = (exitCode, note = '') => {
      clearTimeout(timer);
      worker.terminate();
      if (truncated) out.stdout += TRUNCATED;
      resolve({ stdout: out.stdout, stderr: out.stderr + note, exitCode, durationMs: Math.round(performance.now() - started) });
    };
    timer = setTimeout(() => finish(124, `Stopped: the run took longer than ${RUN_TIME_LIMIT / 1000} s.\n`), RUN_TIME_LIMIT);
    worker.onmessage = ({ data }) => {
      if (!data) return;
      if (data.kind === 'out' && (data.stream === 'stdout' || data.stream === 'stderr')) out[data.stream] += String(data.text);
      else if (data.kind === 'truncated') truncated = true;
      else if (data.kind === 'done') finish(Number.isInteger(data.exitCode) ? data.exitCode : 1);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      finish(1, `${e.message || 'the worker failed'}\n`);
    };
    worker.postMessage({ code });
  });
}

async function runCode() {
  const client = ui.client;
  if (!client || !client.loaded || ui.running) return;
  const language = client.language;
  if (language !== 'javascript') {
    const name = LANGUAGE_NAMES[language] || language;
    renderRun({ runId: '', language, stdout: '', stderr: `${name} is not runnable in the browser: only JavaScript runs here.`, exitCode: -1, durationMs: 0, local: true });
    return;
  }
  ui.running = true;
  $('run').disabled = true;
  $('run').textContent = 'Running…';
  try {
    const r = await runJavaScript(client.text);
    if (ui.client !== client) return;
    const run = {
      runId: `r-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
      language,
      stdout: fitJSON(r.stdout, STDOUT_BYTES),
      stderr: fitJSON(r.stderr, STDERR_BYTES),
      exitCode: r.exitCode,
      durationMs: r.durationMs,
    };
    // Everyone, this page too, gets it back as `run`; offline it is shown here only.
    if (!client.shareRun(run)) renderRun({ ...run, local: true });
  } finally {
    $('run').textContent = 'Run';
    // The server takes one run per 2 s per person.
    setTimeout(() => {
      ui.running = false;
      if (ui.client === client && client.role !== 'observer' && !ui.ended) $('run').disabled = false;
    }, 2000);
  }
}

// renderRun shows a run (shared or local), or the placeholder for none.
function renderRun(run) {
  const text = $('output-text');
  const meta = $('output-meta');
  if (!run) {
    text.textContent = 'Run the code to see its output here (JavaScript runs in your browser; everyone sees the result).';
    text.classList.remove('failed');
    meta.textContent = '';
    return;
  }
  const out = [run.stdout, run.stderr].filter((x) => typeof x === 'string' && x !== '').join(run.stdout && !run.stdout.endsWith('\n') ? '\n' : '');
  text.textContent = out || '(no output)';
  text.classList.toggle('failed', run.exitCode !== 0);
  const who = run.local ? 'only you see this' : `run by ${run.userName || run.userId || 'someone'}`;
  meta.textContent = run.exitCode === -1 ? who : `${who} · exit ${run.exitCode} · ${run.durationMs} ms`;
  text.dataset.runId = run.runId || '';
}

// ---- end and download -------------------------------------------------------

// credential is what this tab reads and ends the session with: the host key
// (interviewers, observers), else its join token.
function credential() {
  return ui.hostKey || (ui.client && ui.client.token) || '';
}

async function endInterview() {
  const client = ui.client;
  if (!client || !confirm('End the interview for everyone? The code becomes read-only.')) return;
  $('end').disabled = true;
  try {
    await PairpadClient.endSession(BASE, client.sessionId, client.token || ui.hostKey);
    // Everyone, this page too, gets session-ended from the server.
  } catch (err) {
    showAlert(err.code || 'NETWORK_ERROR', err.message);
    $('end').disabled = false;
  }
}

async function downloadCode() {
  const client = ui.client;
  const sessionId = client ? client.sessionId : new URLSearchParams(location.search).get('session');
  if (!sessionId) return;
  try {
    const { text, filename } = await PairpadClient.downloadCode(BASE, sessionId, credential());
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    const a = el('a');
    a.href = url;
    a.download = filename || 'main.txt';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    showAlert(err.code || 'NETWORK_ERROR', err.message);
  }
}

function showEnded(on) {
  $('ended').hidden = !on;
  $('run').hidden = on;
  if (on) $('end').hidden = true;
}

// sessionEnded turns the page read-only and opens the playback.
function sessionEnded() {
  ui.ended = true;
  if (ui.editor) ui.editor.bundle.setEditable(ui.editor.view, false);
  if (ui.notes && ui.editor) ui.editor.bundle.setEditable(ui.notes, false);
  $('language').disabled = true;
  setStatus('ended');
  renderPeople();
  showEnded(true);
  showEndedCode();
  openPlayback();
}

// showEndedCode fills the editor of a page that opened an ended interview
// (its join was refused, so no document arrived) with the code over REST.
async function showEndedCode() {
  const client = ui.client;
  const cred = credential();
  if (!client || client.loaded || !cred || !ui.editor) return;
  try {
    const { code } = await PairpadClient.getCode(BASE, client.sessionId, cred);
    if (ui.client !== client || !ui.editor) return;
    const view = ui.editor.view;
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: code.replace(/\r\n?/g, '\n') } });
  } catch (err) {
    showAlert(err.code || 'NETWORK_ERROR', err.message);
  }
}

// ---- playback ---------------------------------------------------------------

// openPlayback loads the history and shows a slider over its versions; the
// text of each version is rebuilt by applying the ops in order.
async function openPlayback() {
  const client = ui.client;
  const sessionId = client ? client.sessionId : null;
  const cred = credential();
  if (!sessionId) return;
  if (!cred) {
    showAlert('PLAYBACK_UNAVAILABLE', 'this tab has no join token or host key for the session');
    return;
  }
  let updates;
  try {
    updates = await PairpadClient.getHistory(BASE, sessionId, cred);
  } catch (err) {
    showAlert('PLAYBACK_UNAVAILABLE', `${err.code}: ${err.message}`);
    return;
  }
  if (ui.client !== client) return;
  const versions = [{ version: 0, text: '', userId: '', userName: '', role: '', timestamp: 0 }];
  let text = '';
  for (const u of updates) {
    try {
      text = apply(text, u.ops);
    } catch (err) {
      showAlert('PLAYBACK_UNAVAILABLE', `version ${u.version} does not apply: ${err.message}`);
      break;
    }
    versions.push({ ...u, text });
  }
  const slider = $('playback-slider');
  slider.max = String(versions.length - 1);
  slider.value = slider.max;
  $('playback-count').textContent = String(versions.length - 1);
  const show = () => {
    const v = versions[Number(slider.value)];
    $('playback-text').textContent = v.text;
    let who;
    if (v.version === 0) who = 'version 0: the empty document';
    else if (!v.userId) who = `version ${v.version}: the starter code`;
    else who = `version ${v.version} by ${v.userName || v.userId} (${ROLE_NAMES[v.role] || 'candidate'})`;
    if (v.timestamp) who += ` · ${new Date(v.timestamp).toLocaleString()}`;
    $('playback-who').textContent = who;
  };
  slider.oninput = show;
  show();
  $('playback').hidden = false;
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
  $('copy-observer').addEventListener('click', () => {
    $('observer-link').select();
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText($('observer-link').value).catch(() => document.execCommand('copy'));
    else document.execCommand('copy');
  });
  $('run').addEventListener('click', runCode);
  $('end').addEventListener('click', endInterview);
  $('download').addEventListener('click', downloadCode);
  $('leave').addEventListener('click', leave);
  loadEditorBundle(); // start fetching it while the person types their name

  const params = new URLSearchParams(location.search);
  const sessionId = params.get('session');
  // An observer link: the host key is in the fragment; keep it in this tab
  // and take it out of the address bar at once.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (sessionId && fragment.get('hostKey')) {
    keepHostKey(sessionId, fragment.get('hostKey'), params.get('role') === 'observer' ? 'observer' : 'interviewer');
    history.replaceState(null, '', `/?session=${encodeURIComponent(sessionId)}`);
  }
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
