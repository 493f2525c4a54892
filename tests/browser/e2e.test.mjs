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
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  for (const f of [frontend, stranger]) if (f) await f.close();
});

// newPage opens a browser context (one person) that records uncaught errors and CSP violations.
const newPage = () => openPage(browser);

const editorValue = (page) => page.inputValue('#editor');
const clientState = (page) =>
  page.evaluate(() => ({ status: window.pairpad.status, state: window.pairpad.state, text: window.pairpad.text, version: window.pairpad.version }));

// converged waits until every client holds the same text at the same
// version with nothing pending, each page's textarea showing it (with LF
// line ends, as textareas do), and returns that text.
async function converged(pages, message) {
  const deadline = Date.now() + WAIT;
  let last;
  for (;;) {
    last = await Promise.all(pages.map(async (p) => ({ ...(await clientState(p)), editor: await editorValue(p) })));
    const ok = last.every((s) => s.status === 'connected' && s.state === 'synchronized' && s.editor === s.text.replace(/\r\n?/g, '\n') && s.text === last[0].text && s.version === last[0].version);
    if (ok) return last[0].text;
    if (Date.now() > deadline) assert.fail(`${message}: no convergence within ${WAIT} ms: ${JSON.stringify(last)}\nserver log:\n${server.logs.join('').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

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

test('two people edit one session in the demo page', { timeout: 240000 }, async () => {
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

  // Presence: both see both, with colours.
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.querySelectorAll('#people li').length === 2, null, { timeout: WAIT });
    const names = await p.$$eval('#people .person-name', (els) => els.map((e) => e.textContent).sort());
    assert.deepEqual(names, ['Alice', bobName].sort());
    const colors = await p.$$eval('#people .dot', (els) => els.map((e) => getComputedStyle(e).backgroundColor));
    assert.ok(colors.every((c) => /^rgb\(/.test(c)), `colours ${colors}`);
    assert.equal(await p.$$eval('#people img', (els) => els.length), 0, 'a user name became markup');
  }

  // Alice writes a first line; then both type at once, Alice at the top and
  // Bob at the bottom: each one's text must arrive whole, where it was typed.
  const seed = '# warm-up: reverse a string\n';
  await a.click('#editor');
  await a.keyboard.type(seed, { delay: 10 });
  let text = await converged([a, b], 'after the first line');
  assert.equal(text, seed);
  const typedA = 'def reverse(s):\n    return s[::-1]\n';
  const typedB = '\nprint(reverse("pairpad 😀 ünïcödé"))\n';
  await b.click('#editor');
  await a.keyboard.press('Control+Home');
  await b.keyboard.press('Control+End');
  await Promise.all([a.keyboard.type(typedA, { delay: 15 }), b.keyboard.type(typedB, { delay: 15 })]);
  text = await converged([a, b], 'after typing together');
  assert.equal(text, typedA + seed + typedB);

  // Remote cursors: each sees the other's line next to their name and in the gutter.
  await a.waitForFunction(() => document.querySelector('#people li .where'), null, { timeout: WAIT });
  assert.match(await a.textContent('#people li .where'), /^line \d+$/);
  assert.equal(await a.$$eval('#gutter .marker', (els) => els.length), 1);

  // A language change reaches the other.
  await a.selectOption('#language', 'typescript');
  await b.waitForFunction(() => document.querySelector('#language').value === 'typescript', null, { timeout: WAIT });
  assert.equal(await b.evaluate(() => window.pairpad.language), 'typescript');

  // Bob goes offline while both keep typing; back online, nothing is lost.
  await bob.context.setOffline(true);
  await b.waitForFunction(() => window.pairpad.status !== 'connected', null, { timeout: WAIT });
  const whileOffA = '// typed while Bob was away\n';
  const whileOffB = '# Bob, offline\n';
  await a.click('#editor');
  await a.keyboard.press('Control+Home');
  await a.keyboard.type(whileOffA, { delay: 5 });
  await b.click('#editor');
  await b.keyboard.press('Control+End');
  await b.keyboard.type(whileOffB, { delay: 5 });
  assert.notEqual(await editorValue(a), await editorValue(b));
  await bob.context.setOffline(false);
  const before = text;
  text = await converged([a, b], 'after Bob came back');
  assert.equal(text, whileOffA + before + whileOffB);

  // Bob puts his caret on the first line; Alice's page is the screenshot.
  await b.keyboard.press('Control+Home');
  await a.waitForFunction(() => document.querySelector('#people li .where')?.textContent === 'line 1', null, { timeout: WAIT });
  await a.screenshot({ path: join(artifacts, 'demo.png') });

  // Both type at the very same place at once: the texts may interleave,
  // but every character arrives once, in its writer's order.
  const sameA = 'AAAA-aaaa-';
  const sameB = 'BBBB-bbbb-';
  await a.keyboard.press('Control+End');
  await b.keyboard.press('Control+End');
  const prefix = await converged([a, b], 'before typing at one place');
  await Promise.all([a.keyboard.type(sameA, { delay: 10 }), b.keyboard.type(sameB, { delay: 10 })]);
  text = await converged([a, b], 'after typing at one place');
  assert.ok(text.startsWith(prefix), `the text before the shared place changed: ${JSON.stringify(text)}`);
  assert.ok(isInterleaving(text.slice(prefix.length), [sameA, sameB]), `${JSON.stringify(text.slice(prefix.length))} lost or doubled something`);

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
  await context.close();
});

test('CRLF line ends and emoji survive editing in the real textarea', { timeout: 120000 }, async () => {
  const { context, page } = await newPage();
  await page.goto(`${server.base}/`);
  await page.fill('#name', 'Dora');
  await page.click('#create');
  await page.waitForFunction(() => window.pairpad && window.pairpad.status === 'connected', null, { timeout: WAIT });
  // A document with Windows line ends, as another client may have sent it.
  await page.evaluate(() => window.pairpad.setText('one\r\ntwo\r\n'));
  assert.equal(await editorValue(page), 'one\ntwo\n');
  await page.click('#editor');
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
  assert.equal(await editorValue(other), 'onetwo\nthree ');
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
