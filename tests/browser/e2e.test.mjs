// Browser tests of the demo page and the JavaScript client against the real
// all-in-one server (bin/pairpad: api + realtime + janitor + embedded NATS
// on one port), driven in Debian's Chromium through playwright-core.
//
//   node --test e2e.test.mjs
//
// PAIRPAD_BIN names a prebuilt binary; otherwise the test builds bin/pairpad
// with `go build` first. CHROMIUM names the browser (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer as createHTTPServer } from 'node:http';
import { join } from 'node:path';

import { WAIT, artifacts, launchBrowser, newPage as openPage, startServer } from './harness.mjs';

let server; // {base, logs, stop}
let browser;
let frontend; // another origin, listed in FRONTEND_URL: {origin, close}
let stranger; // another origin, not listed: {origin, close}

// appPage is a page of a frontend app on another origin: it imports the
// client package from the pairpad server, creates a session, joins it and
// sends an edit, and leaves the outcome in window.result.
function appPage(base) {
  return `<!doctype html><meta charset="utf-8"><title>app</title>
<script type="module">
const base = ${JSON.stringify(base)};
try {
  const { PairpadClient } = await import(base + '/client/index.js');
  const session = await PairpadClient.createSession(base, 'python');
  const client = new PairpadClient();
  await client.join(base, session.id, 'app-user', 'App');
  const acked = new Promise((resolve) => client.on('ack', resolve));
  client.setText('hello from ' + location.origin);
  const ack = await acked;
  window.result = { status: client.status, version: ack.version, text: client.text };
} catch (err) {
  window.result = { error: String(err) };
}
</script>`;
}

// startFrontend serves appPage(base()) at / on a free port of 127.0.0.1: an
// origin other than the pairpad server's.
async function startFrontend(base) {
  const srv = createHTTPServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(appPage(base()));
  });
  await new Promise((res) => srv.listen(0, '127.0.0.1', res));
  return { origin: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((res) => srv.close(res)) };
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  frontend = await startFrontend(() => server.base);
  stranger = await startFrontend(() => server.base);
  server = await startServer({ origins: [frontend.origin] });
  const page = await fetch(`${server.base}/`);
  if (page.status !== 200 || !/^text\/html/.test(page.headers.get('content-type') || '')) {
    throw new Error(
      `GET / answered ${page.status} ${page.headers.get('content-type')}: the all-in-one does not serve the demo page ` +
        '(services/realtime must mount web.Handler() at /)',
    );
  }
  const bundle = await fetch(`${server.base}/client/dist/editor.js`);
  if (bundle.status !== 200) {
    throw new Error('the server has no editor bundle (/client/dist/editor.js): run `make editor` (npm ci and esbuild in clients/js) before building it');
  }
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  for (const f of [frontend, stranger]) if (f) await f.close();
});

// newPage opens a browser context (one person) that records uncaught errors and CSP violations.
const newPage = () => openPage(browser);

// The editor is CodeMirror 6 (window.pairpadEditor is the page's EditorView).
const editorText = (page) => page.evaluate(() => window.pairpadEditor.state.doc.toString());
const clientState = (page) =>
  page.evaluate(() => ({ status: window.pairpad.status, state: window.pairpad.state, text: window.pairpad.text, version: window.pairpad.version }));
const shown = (text) => text.replace(/\r\n?/g, '\n');

// converged waits until every client holds the same text at the same
// version with nothing pending, each page's editor showing it (with LF
// line ends, as CodeMirror does), and returns that text.
async function converged(pages, message) {
  const deadline = Date.now() + WAIT;
  let last;
  for (;;) {
    last = await Promise.all(pages.map(async (p) => ({ ...(await clientState(p)), editor: await editorText(p) })));
    const ok = last.every((s) => s.status === 'connected' && s.state === 'synchronized' && s.editor === shown(s.text) && s.text === last[0].text && s.version === last[0].version);
    if (ok) return last[0].text;
    if (Date.now() > deadline) assert.fail(`${message}: no convergence within ${WAIT} ms: ${JSON.stringify(last)}\nserver log:\n${server.logs.join('').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// keywordColored reports whether word is drawn as its own highlighted token
// in page's editor: a span holding exactly word, coloured differently from
// plain text.
function keywordColored(page, word) {
  return page.evaluate((w) => {
    const plain = getComputedStyle(document.querySelector('.cm-content')).color;
    return [...document.querySelectorAll('.cm-content span')].some((s) => s.textContent === w && getComputedStyle(s).color !== plain);
  }, word);
}

// remoteCaret describes the remote caret element of userId in page: the
// document position it is drawn at, and its colour.
function remoteCaret(page, userId) {
  return page.evaluate((id) => {
    const el = document.querySelector(`[data-remote-cursor="${CSS.escape(id)}"]`);
    if (!el) return null;
    return { pos: window.pairpadEditor.posAtDOM(el), color: getComputedStyle(el).borderLeftColor, name: el.textContent };
  }, userId);
}

// remoteSelection returns the selection rectangles drawn in page, with the
// document positions their left and right edges stand at.
function remoteSelections(page) {
  return page.evaluate(() => {
    const view = window.pairpadEditor;
    return [...document.querySelectorAll('.cm-remote-selection')].map((el) => {
      const r = el.getBoundingClientRect();
      const y = r.top + r.height / 2;
      return {
        color: getComputedStyle(el).backgroundColor,
        from: view.posAtCoords({ x: r.left + 1, y }),
        to: view.posAtCoords({ x: r.right - 1, y }),
      };
    });
  });
}

const cssColor = (hex) => `rgb(${parseInt(hex.slice(1, 3), 16)}, ${parseInt(hex.slice(3, 5), 16)}, ${parseInt(hex.slice(5, 7), 16)})`;

// isInterleaving reports whether text is made of exactly the characters of
// parts, each part's in its own order: typed concurrently, nothing lost,
// nothing doubled.
function isInterleaving(text, parts) {
  const chars = parts.map((p) => Array.from(p));
  const t = Array.from(text);
  if (t.length !== chars.reduce((n, c) => n + c.length, 0)) return false;
  // Dynamic programming over positions in each part (two or three parts).
  const key = (pos) => pos.join(',');
  let frontier = new Set([key(chars.map(() => 0))]);
  for (const ch of t) {
    const next = new Set();
    for (const k of frontier) {
      const pos = k.split(',').map(Number);
      chars.forEach((c, i) => {
        if (c[pos[i]] === ch) {
          const p2 = pos.slice();
          p2[i]++;
          next.add(key(p2));
        }
      });
    }
    if (next.size === 0) return false;
    frontier = next;
  }
  return true;
}

test('two people edit one session in the CodeMirror demo page', { timeout: 240000 }, async () => {
  const alice = await newPage();
  const bob = await newPage();
  const a = alice.page;
  const b = bob.page;

  // Alice creates a session; its id goes into the URL so the link can be shared.
  await a.goto(`${server.base}/`);
  await a.fill('#name', 'Alice');
  await a.selectOption('#new-language', 'python');
  await a.click('#create');
  await a.waitForFunction(() => window.pairpad && window.pairpad.status === 'connected', null, { timeout: WAIT });
  const link = a.url();
  assert.match(link, /\?session=[0-9a-f-]{36}$/);
  assert.equal(await a.inputValue('#share'), link);
  assert.equal(await a.inputValue('#language'), 'python');

  // Bob opens the link; his name is shown as text, never as markup.
  const bobName = 'Bob <img src=x onerror=alert(1)>';
  await b.goto(link);
  await b.fill('#name', bobName);
  await b.click('#join');
  await b.waitForFunction(() => window.pairpad && window.pairpad.status === 'connected', null, { timeout: WAIT });
  assert.equal(await b.textContent('#status'), 'connected');
  const bobId = await b.evaluate(() => window.pairpad.userId);

  // Presence: both see both, with colours.
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.querySelectorAll('#people li').length === 2, null, { timeout: WAIT });
    const names = await p.$$eval('#people .person-name', (els) => els.map((e) => e.textContent).sort());
    assert.deepEqual(names, ['Alice', bobName].sort());
    const colors = await p.$$eval('#people .dot', (els) => els.map((e) => getComputedStyle(e).backgroundColor));
    assert.ok(colors.every((c) => /^rgb\(/.test(c)), `colours ${colors}`);
    assert.equal(await p.$$eval('#people img, .cm-content img', (els) => els.length), 0, 'a user name became markup');
  }

  // Alice writes two lines (typed as a person would: the editor indents
  // after the colon and closes the bracket she opens).
  await a.click('.cm-content');
  await a.keyboard.type('def greet(name):\nreturn name\n', { delay: 10 });
  let text = await converged([a, b], 'after the first lines');
  assert.equal(text, 'def greet(name):\n    return name\n    ');
  await a.keyboard.press('Control+a');
  await a.keyboard.press('Backspace');
  await a.keyboard.insertText('def greet(name):\n    return name\n\nfunction go() {}\n');
  text = await converged([a, b], 'after replacing the text');

  // Highlighting follows the language on both sides: Python first...
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.querySelector('.cm-content span'), null, { timeout: WAIT });
    assert.equal(await keywordColored(p, 'def'), true, 'def is a Python keyword');
    assert.equal(await keywordColored(p, 'function'), false, 'function is not a Python keyword');
  }
  // ...then JavaScript, switched by Alice.
  await a.selectOption('#language', 'javascript');
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.querySelector('#language').value === 'javascript', null, { timeout: WAIT });
    await p.waitForFunction(
      () => [...document.querySelectorAll('.cm-content span')].some((s) => s.textContent === 'function' && getComputedStyle(s).color !== getComputedStyle(document.querySelector('.cm-content')).color),
      null,
      { timeout: WAIT },
    );
    assert.equal(await keywordColored(p, 'def'), false, 'def is not a JavaScript keyword');
  }
  assert.equal(await b.evaluate(() => window.pairpad.language), 'javascript');

  // Both type in the same line at once, from its end: each one's keystrokes
  // arrive whole and in order, and both end with the same text.
  const lineEnd = 'def greet(name):'.length;
  for (const p of [a, b]) {
    await p.click('.cm-content');
    await p.keyboard.press('Control+Home');
    await p.keyboard.press('End');
  }
  const before = await converged([a, b], 'before typing in one line');
  const typedA = ' # by Alice';
  const typedB = ' # by Bob';
  await Promise.all([a.keyboard.type(typedA, { delay: 15 }), b.keyboard.type(typedB, { delay: 15 })]);
  text = await converged([a, b], 'after typing in one line');
  assert.equal(text.slice(0, lineEnd), before.slice(0, lineEnd));
  const firstLine = text.split('\n')[0];
  assert.ok(isInterleaving(firstLine.slice(lineEnd), [typedA, typedB]), `${JSON.stringify(firstLine)} lost or doubled something`);
  assert.equal(text.slice(firstLine.length), before.slice(lineEnd), 'the rest of the text changed');

  // Alice sees Bob's caret where Bob's is, in his colour with his name...
  const bobColor = await b.evaluate(() => window.pairpad.users.find((u) => u.id === window.pairpad.userId).color);
  await b.keyboard.press('ArrowDown');
  await b.keyboard.press('End');
  const bobHead = await b.evaluate(() => window.pairpadEditor.state.selection.main.head);
  await a.waitForFunction(
    ([id, pos]) => {
      const el = document.querySelector(`[data-remote-cursor="${CSS.escape(id)}"]`);
      return el && window.pairpadEditor.posAtDOM(el) === pos;
    },
    [bobId, bobHead],
    { timeout: WAIT },
  );
  const caret = await remoteCaret(a, bobId);
  assert.deepEqual(caret, { pos: bobHead, color: cssColor(bobColor), name: bobName });
  // ...and Bob's selection, drawn over the characters he selected.
  await b.keyboard.press('Home');
  await b.keyboard.press('Shift+End');
  const bobSel = await b.evaluate(() => {
    const s = window.pairpadEditor.state.selection.main;
    return { from: s.from, to: s.to };
  });
  assert.ok(bobSel.to > bobSel.from);
  await a.waitForFunction(() => document.querySelectorAll('.cm-remote-selection').length > 0, null, { timeout: WAIT });
  const sels = await remoteSelections(a);
  assert.equal(sels.length, 1, JSON.stringify(sels));
  assert.equal(sels[0].color, cssColor(bobColor));
  assert.deepEqual({ from: sels[0].from, to: sels[0].to }, bobSel);
  assert.equal((await remoteCaret(a, bobId)).pos, bobSel.to);
  await a.screenshot({ path: join(artifacts, 'demo.png') });
  // The name flag covers the line above the caret, so it shows while Bob
  // moves and fades out by itself; the caret stays, and hovering it shows
  // the name again.
  const flagShown = (page, id) =>
    page.evaluate((uid) => {
      const f = document.querySelector(`[data-remote-cursor="${CSS.escape(uid)}"] .cm-remote-flag`);
      return f ? getComputedStyle(f).visibility === 'visible' && getComputedStyle(f).opacity === '1' : null;
    }, id);
  await a.waitForFunction(
    (uid) => {
      const f = document.querySelector(`[data-remote-cursor="${CSS.escape(uid)}"] .cm-remote-flag`);
      return f && getComputedStyle(f).visibility === 'hidden';
    },
    bobId,
    { timeout: WAIT },
  );
  assert.equal((await remoteCaret(a, bobId)).pos, bobSel.to);
  await a.screenshot({ path: join(artifacts, 'demo-flag-faded.png') });
  await a.hover(`[data-remote-cursor="${bobId}"]`);
  assert.equal(await flagShown(a, bobId), true, 'hovering the caret shows the name');
  await a.mouse.move(0, 0);

  // Undo is per person: Alice types, then Bob types; Alice's Ctrl+Z takes
  // back only her own text, and Bob's stays. Redo brings hers back.
  await a.keyboard.press('Control+End');
  await a.keyboard.type('// Alice was here', { delay: 10 });
  const withA = await converged([a, b], 'after Alice typed');
  await b.keyboard.press('Control+Home');
  await b.keyboard.type('/* Bob */ ', { delay: 10 });
  const withAB = await converged([a, b], 'after Bob typed');
  assert.equal(withAB, '/* Bob */ ' + withA);
  // Bob's text went in before Alice's caret, which stayed where she left it.
  assert.equal(await a.evaluate(() => window.pairpadEditor.state.selection.main.head), withAB.length);
  await a.keyboard.press('Control+z');
  text = await converged([a, b], 'after Alice undid');
  assert.equal(text, withAB.replace('// Alice was here', ''));
  await a.keyboard.press('Control+y');
  text = await converged([a, b], 'after Alice redid');
  assert.equal(text, withAB);

  // Bob goes offline while both keep typing; back online, nothing is lost.
  await bob.context.setOffline(true);
  await b.waitForFunction(() => window.pairpad.status !== 'connected', null, { timeout: WAIT });
  assert.match(await b.textContent('#status'), /^(reconnecting|offline)$/);
  const whileOffA = 'A1';
  const whileOffB = 'B1';
  await a.keyboard.press('Control+Home');
  await a.keyboard.type(whileOffA, { delay: 5 });
  await b.keyboard.press('Control+End');
  await b.keyboard.type(whileOffB, { delay: 5 });
  assert.notEqual(await editorText(a), await editorText(b));
  await bob.context.setOffline(false);
  const beforeOff = text;
  text = await converged([a, b], 'after Bob came back');
  assert.equal(text, whileOffA + beforeOff + whileOffB);

  // The page shows people what they need, not the protocol's state.
  for (const p of [a, b]) {
    const visible = await p.evaluate(() => document.body.innerText);
    assert.doesNotMatch(visible, /awaiting|synchroni[sz]ed|buffer|version|opId/i, 'protocol state is shown');
    assert.equal(await p.textContent('#status'), 'connected');
  }

  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  await alice.context.close();
  await bob.context.close();
});

test('every server error is shown to the person', { timeout: 120000 }, async () => {
  const { context, page } = await newPage();
  // A session that does not exist: the REST join answers SESSION_NOT_FOUND.
  await page.goto(`${server.base}/?session=00000000-0000-4000-8000-000000000000`);
  await page.fill('#name', 'Carol');
  await page.click('#join');
  await page.waitForSelector('.alert[data-code="SESSION_NOT_FOUND"]', { timeout: WAIT });
  assert.match(await page.textContent('.alert[data-code="SESSION_NOT_FOUND"]'), /does not exist/);
  assert.equal(await page.isVisible('#start'), true);

  // A refused language change (1 per 5 s) comes back as RATE_LIMIT_EXCEEDED
  // and the selector returns to the session's language.
  const created = await (await fetch(`${server.base}/api/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"language":"javascript"}' })).json();
  await page.goto(`${server.base}/?session=${created.id}`);
  await page.waitForFunction(() => window.pairpad && window.pairpad.status === 'connected', null, { timeout: WAIT });
  await page.selectOption('#language', 'python');
  await page.waitForFunction(() => window.pairpad.language === 'python', null, { timeout: WAIT });
  await page.selectOption('#language', 'typescript');
  await page.waitForSelector('.alert[data-code="RATE_LIMIT_EXCEEDED"]', { timeout: WAIT });
  await page.waitForFunction(() => document.querySelector('#language').value === 'python', null, { timeout: WAIT });
  assert.deepEqual(page.problems, []);

  // An edit the document can never hold is refused for good: the page says
  // the edit was undone (never silently), and the text is the server's again.
  await page.evaluate(() => window.pairpad.setText('x'.repeat(300 * 1024)));
  await page.waitForSelector('.alert[data-code="EDIT_REFUSED"]', { timeout: WAIT });
  assert.match(await page.textContent('.alert[data-code="EDIT_REFUSED"]'), /refused your last edits for good.*code: .*256 KiB/);
  await page.waitForFunction(() => window.pairpad.text === '' && window.pairpad.state === 'synchronized', null, { timeout: WAIT });

  // A server built without the editor bundle: the page says so.
  await page.route('**/client/dist/editor.js', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{}' }));
  await page.goto(`${server.base}/?session=${created.id}`);
  await page.waitForSelector('.alert[data-code="EDITOR_MISSING"]', { timeout: WAIT });
  assert.match(await page.textContent('#editor'), /editor bundle is missing.*make build/);
  await context.close();
});

test('CRLF line ends and emoji survive editing in CodeMirror', { timeout: 120000 }, async () => {
  const { context, page } = await newPage();
  await page.goto(`${server.base}/`);
  await page.fill('#name', 'Dora');
  await page.click('#create');
  await page.waitForFunction(() => window.pairpad && window.pairpad.status === 'connected', null, { timeout: WAIT });
  // A document with Windows line ends, as another client may have sent it.
  await page.evaluate(() => window.pairpad.setText('one\r\ntwo\r\n'));
  assert.equal(await editorText(page), 'one\ntwo\n');
  await page.click('.cm-content');
  await page.keyboard.press('Control+End');
  await page.keyboard.type('three 😀');
  assert.equal(await page.evaluate(() => window.pairpad.text), 'one\r\ntwo\r\nthree 😀');
  await page.keyboard.press('Backspace'); // one keystroke removes both halves of the emoji
  await page.keyboard.press('Control+Home');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Backspace'); // joins the first two lines: the whole CRLF goes
  assert.equal(await page.evaluate(() => window.pairpad.text), 'onetwo\r\nthree ');

  // A second person loads exactly that text.
  const other = await context.newPage();
  await other.goto(page.url());
  await other.waitForFunction(() => window.pairpad && window.pairpad.status === 'connected', null, { timeout: WAIT });
  const text = await converged([page, other], 'after editing line ends');
  assert.equal(text, 'onetwo\r\nthree ');
  assert.equal(await editorText(other), 'onetwo\nthree ');
  assert.deepEqual(page.problems, []);
  await context.close();
});

test('a page on another FRONTEND_URL origin imports /client/index.js and connects', { timeout: 120000 }, async () => {
  const { context, page } = await newPage();
  await page.goto(`${frontend.origin}/`);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: WAIT });
  const result = await page.evaluate(() => window.result);
  assert.deepEqual(result, { status: 'connected', version: 1, text: `hello from ${frontend.origin}` });

  // An origin that FRONTEND_URL does not list gets no CORS header: the
  // browser refuses the module.
  await page.goto(`${stranger.origin}/`);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: WAIT });
  const refused = await page.evaluate(() => window.result);
  assert.match(refused.error ?? '', /Failed to fetch dynamically imported module/, JSON.stringify(refused));
  await context.close();
});
