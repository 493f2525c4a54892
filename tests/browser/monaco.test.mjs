// Browser test of the Monaco binding: the example app examples/react-monaco
// (Vite + React + monaco-editor + @pairpad/client) is built from its
// lockfile, served from its own origin, and two people edit one session in
// it against the real all-in-one server, in Debian's Chromium.
//
//   node --test monaco.test.mjs
//
// The example's node_modules come from `npm ci` (make test-deps); the test
// runs `npm ci` itself when they are missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WAIT, artifacts, launchBrowser, newPage, repo, serveStatic, startServer } from './harness.mjs';

const example = join(repo, 'examples', 'react-monaco');

let dist;
let site; // the built example, on its own origin
let server;
let browser;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  if (!existsSync(join(example, 'node_modules'))) {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: example, stdio: 'inherit' });
  }
  dist = mkdtempSync(join(tmpdir(), 'pairpad-react-monaco-'));
  execFileSync('npm', ['run', 'build', '--', '--outDir', dist, '--emptyOutDir', '--logLevel', 'warn'], { cwd: example, stdio: 'inherit' });
  site = await serveStatic(dist);
  server = await startServer({ origins: [site.origin] });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (site) await site.close();
  if (dist) rmSync(dist, { recursive: true, force: true });
});

// state reads the client and the editor of a page.
const state = (page) =>
  page.evaluate(() => ({
    status: window.pairpad.status,
    state: window.pairpad.state,
    text: window.pairpad.text,
    version: window.pairpad.version,
    editor: window.pairpadEditor.getValue(),
  }));

// converged waits until every page's client holds the same text at the same
// version with nothing pending and its editor shows it, and returns the text.
async function converged(pages, message) {
  const deadline = Date.now() + WAIT;
  let last;
  for (;;) {
    last = await Promise.all(pages.map(state));
    const ok = last.every((s) => s.status === 'connected' && s.state === 'synchronized' && s.editor === s.text.replace(/\r\n?/g, '\n') && s.text === last[0].text && s.version === last[0].version);
    if (ok) return last[0].text;
    if (Date.now() > deadline) assert.fail(`${message}: no convergence within ${WAIT} ms: ${JSON.stringify(last)}\nserver log:\n${server.logs.join('').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// lineClasses returns the token classes Monaco rendered for the line whose text is text.
const lineClasses = (page, text) =>
  page.evaluate((text) => {
    for (const line of document.querySelectorAll('.monaco-editor .view-line')) {
      if (line.textContent.replace(/\u00a0/g, ' ') === text) return [...line.querySelectorAll('span span')].map((s) => s.className).join(' ');
    }
    return null;
  }, text);

// pressUntil presses key in the first page, at most once per character
// that differs between from and to (one inserted or deleted run of text),
// until every page shows to. Each step may touch only that run: an undo or
// redo that changes anything else fails.
async function pressUntil(pages, key, from, to) {
  const [short, long] = from.length < to.length ? [from, to] : [to, from];
  let head = 0;
  while (head < short.length && short[head] === long[head]) head++;
  let tail = 0;
  while (tail < short.length - head && short[short.length - 1 - tail] === long[long.length - 1 - tail]) tail++;
  const [before, after] = [long.slice(0, head), long.slice(long.length - tail)];
  let text = from;
  for (let i = 0; i < long.length - short.length && text !== to; i++) {
    await pages[0].keyboard.press(key);
    await pages[0].waitForFunction((t) => window.pairpad.text !== t, text, { timeout: WAIT });
    text = await converged(pages, `after ${key}`);
    const inside = text.startsWith(before) && text.endsWith(after) && text.length >= short.length && text.length <= long.length;
    assert.ok(inside, `${key} changed more than the last change: ${JSON.stringify(text)}`);
  }
  assert.equal(text, to);
  return text;
}

// textIs waits until the page's client holds text.
async function textIs(page, text) {
  await page
    .waitForFunction((t) => window.pairpad.text === t, text, { timeout: WAIT })
    .catch(async () => assert.fail(`the text is ${JSON.stringify(await page.evaluate(() => window.pairpad.text))}, want ${JSON.stringify(text)}`));
}

// person opens a browser context for one person whose page may talk only to
// the example's origin and the server, and must log no error at all.
async function person() {
  const p = await newPage(browser, [site.origin, server.base]);
  p.page.on('console', (m) => {
    if (m.type() === 'error') p.page.problems.push(`console: ${m.text()}`);
  });
  return p;
}

// joined waits until the page has joined and shows the editor. Word
// suggestions are turned off: Enter would take a suggestion instead of
// breaking the line, and what the test types would depend on the words
// around it.
async function joined(page) {
  await page.waitForFunction(() => window.pairpad && window.pairpad.status === 'connected' && window.pairpadEditor, null, { timeout: WAIT });
  await page.evaluate(() => window.pairpadEditor.updateOptions({ quickSuggestions: false, suggestOnTriggerCharacters: false }));
}

test('two people edit one session in the React + Monaco example', { timeout: 240000 }, async () => {
  const alice = await person();
  const bob = await person();
  const a = alice.page;
  const b = bob.page;

  await a.goto(`${site.origin}/?server=${encodeURIComponent(server.base)}`);
  await a.fill('#name', 'Alice');
  await a.selectOption('#new-language', 'python');
  await a.click('#create');
  await joined(a);
  const link = a.url();
  assert.match(link, /[?&]session=[0-9a-f-]{36}/);

  await b.goto(link);
  await b.fill('#name', 'Bob');
  await b.click('#join');
  await joined(b);
  const bobId = await b.evaluate(() => window.pairpad.userId);
  for (const p of [a, b]) await p.waitForFunction(() => document.querySelectorAll('#people li').length === 2, null, { timeout: WAIT });

  // Alice writes a line; then both type in that line at once, Alice at its
  // end and Bob at its start.
  await a.click('.monaco-editor .view-lines');
  await a.keyboard.type('alpha omega', { delay: 10 });
  let text = await converged([a, b], 'after the first line');
  assert.equal(text, 'alpha omega');
  await b.click('.monaco-editor .view-lines');
  await a.keyboard.press('End');
  await b.keyboard.press('Home');
  await Promise.all([a.keyboard.type(' AAAA', { delay: 15 }), b.keyboard.type('BBBB ', { delay: 15 })]);
  text = await converged([a, b], 'after typing in one line together');
  assert.equal(text, 'BBBB alpha omega AAAA');

  // Monaco's editor worker runs from the bundle (a Vite ?worker chunk).
  const deadline = Date.now() + WAIT;
  while (!a.workers().some((w) => /\/assets\/editor\.worker-[\w-]+\.js$/.test(w.url()))) {
    if (Date.now() > deadline) assert.fail(`no editor worker from the bundle: ${JSON.stringify(a.workers().map((w) => w.url()))}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  // Alice sees Bob's caret where it is (after "BBBB "), flagged with his name.
  // (A cursor can overtake the edits typed before it, so Bob moves his caret
  // once everything has arrived; the binding also resends it after the acks.)
  await b.keyboard.press('ArrowLeft');
  await b.keyboard.press('ArrowRight');
  const caret = `[data-remote-cursor="${bobId}"]`;
  await a.waitForSelector(caret, { timeout: WAIT });
  assert.equal(await a.textContent(`${caret} .pairpad-flag`), 'Bob');
  const where = async () =>
    a.evaluate((caret) => {
      const ed = window.pairpadEditor;
      const want = ed.getScrolledVisiblePosition({ lineNumber: 1, column: 6 });
      const box = ed.getDomNode().getBoundingClientRect();
      const got = document.querySelector(caret).getBoundingClientRect();
      return { dx: Math.abs(got.left - box.left - want.left), dy: Math.abs(got.top - box.top - want.top) };
    }, caret);
  await a.waitForFunction(
    (caret) => {
      const ed = window.pairpadEditor;
      const want = ed.getScrolledVisiblePosition({ lineNumber: 1, column: 6 });
      const box = ed.getDomNode().getBoundingClientRect();
      const got = document.querySelector(caret).getBoundingClientRect();
      return Math.abs(got.left - box.left - want.left) <= 3 && Math.abs(got.top - box.top - want.top) <= 3;
    },
    caret,
    { timeout: WAIT },
  ).catch(async () => assert.fail(`Bob's caret is not after "BBBB ": ${JSON.stringify(await where())}`));

  // Bob selects "alpha": Alice sees the selection, and his caret, in his colour.
  for (let i = 0; i < 'alpha'.length; i++) await b.keyboard.press('Shift+ArrowRight');
  const selected = () =>
    a.evaluate(() => {
      const model = window.pairpadEditor.getModel();
      return model
        .getAllDecorations()
        .filter((d) => /pairpad-selection/.test(d.options.className || ''))
        .map((d) => model.getValueInRange(d.range))
        .join('|');
    });
  await a
    .waitForFunction(() => {
      const model = window.pairpadEditor.getModel();
      const d = model.getAllDecorations().filter((d) => /pairpad-selection/.test(d.options.className || ''));
      return d.length === 1 && model.getValueInRange(d[0].range) === 'alpha';
    }, null, { timeout: WAIT })
    .catch(async () => assert.fail(`Alice sees Bob's selection as ${JSON.stringify(await selected())}, want "alpha"`));
  const bobColor = await b.evaluate(() => window.pairpad.users.find((u) => u.id === window.pairpad.userId).color);
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ');
  await a.waitForSelector('.monaco-editor .pairpad-selection', { timeout: WAIT });
  const shade = await a.$eval('.monaco-editor .pairpad-selection', (el) => getComputedStyle(el).backgroundColor);
  assert.ok(shade.startsWith(`rgba(${rgb(bobColor)}, `), `the selection is ${shade}, Bob's colour is ${bobColor}`);
  assert.equal(await a.$eval(`${caret} .pairpad-caret`, (el) => getComputedStyle(el).backgroundColor), `rgb(${rgb(bobColor)})`);
  await a.screenshot({ path: join(artifacts, 'monaco.png') });
  await b.keyboard.press('End');

  // Alice types, then Bob types above her (every offset after it moves):
  // Alice's Ctrl+Z takes back only her own text, Ctrl+Y puts it back.
  // (Home, End: a caret move starts a new undo step, however soon it comes.)
  await a.keyboard.press('Home');
  await a.keyboard.press('End');
  await a.keyboard.type(' done', { delay: 15 });
  const withDone = await converged([a, b], "after Alice's last change");
  assert.equal(withDone, 'BBBB alpha omega AAAA done');
  await b.keyboard.press('Control+Home');
  await b.keyboard.type('# by bob\n', { delay: 15 });
  const withBob = await converged([a, b], "after Bob's line");
  assert.equal(withBob, '# by bob\nBBBB alpha omega AAAA done');
  const undone = '# by bob\nBBBB alpha omega AAAA';
  // One Ctrl+Z takes back the whole word unless the machine paused for
  // half a second while it was typed; every step must only take Alice's.
  text = await pressUntil([a, b], 'Control+z', withBob, undone);
  text = await pressUntil([a, b], 'Control+y', text, withBob);
  // Bob's own Ctrl+Z takes back his line only; Ctrl+Shift+Z puts it back.
  text = await pressUntil([b, a], 'Control+z', withBob, withDone);
  text = await pressUntil([b, a], 'Control+Shift+z', text, withBob);

  // Several carets: one keystroke is one content event with a change per
  // caret, all against the text before it.
  await a.evaluate(() => {
    const ed = window.pairpadEditor;
    ed.setSelections([1, 2].map((n) => ({ selectionStartLineNumber: n, selectionStartColumn: 1, positionLineNumber: n, positionColumn: 1 })));
  });
  await a.keyboard.type('>', { delay: 15 });
  text = await converged([a, b], 'after typing at two carets');
  assert.equal(text, '># by bob\n>BBBB alpha omega AAAA done');
  await a.keyboard.press('Control+z'); // one keystroke, one undo step
  await a.waitForFunction((t) => window.pairpad.text !== t, text, { timeout: WAIT });
  assert.equal(await converged([a, b], 'after undoing the two carets'), withBob);

  // A language switch changes the highlighting on both sides: "# by bob" is
  // a comment in Python and is not in JavaScript.
  const python = {};
  for (const [who, p] of [['a', a], ['b', b]]) {
    await p.waitForFunction(() => window.pairpadEditor.getModel().getLanguageId() === 'python', null, { timeout: WAIT });
    await p.waitForFunction((t) => {
      for (const line of document.querySelectorAll('.monaco-editor .view-line')) {
        if (line.textContent.replace(/\u00a0/g, ' ') === t) return line.querySelectorAll('span span').length > 0;
      }
      return false;
    }, '# by bob', { timeout: WAIT });
    python[who] = await lineClasses(p, '# by bob');
  }
  await a.selectOption('#language', 'javascript');
  for (const [who, p] of [['a', a], ['b', b]]) {
    await p.waitForFunction(() => window.pairpadEditor.getModel().getLanguageId() === 'javascript' && document.querySelector('#language').value === 'javascript', null, { timeout: WAIT });
    await p.waitForFunction(
      ([t, before]) => {
        for (const line of document.querySelectorAll('.monaco-editor .view-line')) {
          if (line.textContent.replace(/\u00a0/g, ' ') === t) return [...line.querySelectorAll('span span')].map((s) => s.className).join(' ') !== before;
        }
        return false;
      },
      ['# by bob', python[who]],
      { timeout: WAIT },
    );
  }

  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  await alice.context.close();
  await bob.context.close();
});

test('CRLF line ends and emoji survive editing in Monaco', { timeout: 120000 }, async () => {
  const { context, page } = await person();
  await page.goto(`${site.origin}/?server=${encodeURIComponent(server.base)}`);
  await page.fill('#name', 'Dora');
  await page.click('#create');
  await joined(page);
  // A document with Windows line ends, as another client may have sent it:
  // the model shows "\n", the document keeps "\r\n".
  await page.evaluate(() => window.pairpad.setText('one\r\ntwo\r\n'));
  await textIs(page, 'one\r\ntwo\r\n');
  assert.equal(await page.evaluate(() => window.pairpadEditor.getValue()), 'one\ntwo\n');
  await page.click('.monaco-editor .view-lines');
  await page.keyboard.press('Control+End');
  await page.keyboard.type('three 😀');
  await textIs(page, 'one\r\ntwo\r\nthree 😀');
  await page.keyboard.press('Backspace'); // one keystroke removes both halves of the emoji
  await page.keyboard.press('Control+Home');
  await page.keyboard.press('End');
  await page.keyboard.press('Delete'); // joins the first two lines: the whole CRLF goes
  await textIs(page, 'onetwo\r\nthree ');
  await page.keyboard.press('Control+z'); // the Delete, on its own (the caret moved before it)
  await textIs(page, 'one\r\ntwo\r\nthree ');

  // A second person loads exactly that text.
  const other = await context.newPage();
  await other.goto(page.url());
  await other.fill('#name', 'Eve');
  await other.click('#join');
  await joined(other);
  const text = await converged([page, other], 'after editing line ends');
  assert.equal(text, 'one\r\ntwo\r\nthree ');
  assert.equal(await other.evaluate(() => window.pairpadEditor.getValue()), 'one\ntwo\nthree ');
  assert.deepEqual(page.problems, []);
  await context.close();
});

test('lines the other person adds above keep what is in view, and the caret, in place', { timeout: 120000 }, async () => {
  const alice = await person();
  const bob = await person();
  const [a, b] = [alice.page, bob.page];
  await a.goto(`${site.origin}/?server=${encodeURIComponent(server.base)}`);
  await a.fill('#name', 'Alice');
  await a.click('#create');
  await joined(a);
  await a.evaluate(() => window.pairpad.setText(Array.from({ length: 200 }, (_, i) => `line ${i}`).join('\n')));
  await b.goto(a.url());
  await b.fill('#name', 'Bob');
  await b.click('#join');
  await joined(b);
  await converged([a, b], 'after loading 200 lines');
  const view = () =>
    a.evaluate(() => {
      const ed = window.pairpadEditor;
      const first = ed.getVisibleRanges()[0].startLineNumber;
      const model = ed.getModel();
      return { first: model.getLineContent(first), top: ed.getTopForLineNumber(first) - ed.getScrollTop(), caret: model.getLineContent(ed.getPosition().lineNumber), column: ed.getPosition().column };
    });
  await a.evaluate(() => {
    const ed = window.pairpadEditor;
    ed.focus();
    ed.setPosition({ lineNumber: 100, column: 3 });
    ed.revealLineInCenter(100);
  });
  const before = await view();
  assert.equal(before.caret, 'line 99');
  assert.notEqual(before.first, 'line 0', 'the editor did not scroll');
  await b.click('.monaco-editor .view-lines');
  await b.keyboard.press('Control+Home');
  await b.keyboard.type('x\ny\nz\n', { delay: 15 });
  await converged([a, b], "after Bob's lines at the top");
  assert.deepEqual(await view(), before);
  assert.deepEqual(a.problems, []);
  await alice.context.close();
  await bob.context.close();
});

test('the creator is the interviewer; an observer follows in a read-only editor; the end makes every editor read-only', { timeout: 120000 }, async () => {
  const alice = await person();
  const bob = await person();
  const olga = await person();
  const [a, b, o] = [alice.page, bob.page, olga.page];
  await a.goto(`${site.origin}/?server=${encodeURIComponent(server.base)}`);
  await a.fill('#name', 'Alice');
  await a.click('#create');
  await joined(a);
  assert.equal(await a.evaluate(() => window.pairpad.role), 'interviewer');
  const candidateLink = await a.inputValue('#share');
  const observerLink = await a.inputValue('#observer-link');
  assert.match(observerLink, /#observe=[^&]+$/);

  await b.goto(candidateLink);
  await b.fill('#name', 'Bob');
  await b.click('#join');
  await joined(b);
  assert.equal(await b.evaluate(() => window.pairpad.role), 'candidate');
  assert.equal(await b.$('#observer-link'), null, 'the candidate sees the host key');

  await o.goto(observerLink);
  await o.fill('#name', 'Olga');
  await o.click('#join');
  await joined(o);
  assert.equal(await o.evaluate(() => window.pairpad.role), 'observer');
  assert.equal(await o.evaluate(() => window.pairpadEditor.getRawOptions().readOnly), true);
  await a.waitForFunction(() => [...document.querySelectorAll('#people li')].some((li) => /Olga · observer/.test(li.textContent)), null, { timeout: WAIT });

  // Bob types; Olga sees his text and his caret, and her own typing goes nowhere.
  await b.click('.monaco-editor .view-lines');
  await b.keyboard.type('def solve():', { delay: 10 });
  let text = await converged([a, b, o], "after Bob's line");
  assert.equal(text, 'def solve():');
  const bobId = await b.evaluate(() => window.pairpad.userId);
  await o.waitForSelector(`[data-remote-cursor="${bobId}"]`, { timeout: WAIT });
  await o.click('.monaco-editor .view-lines');
  await o.keyboard.type('zzz');
  await o.keyboard.press('Control+z');
  await b.keyboard.type(' pass', { delay: 10 });
  text = await converged([a, b, o], "after Olga's attempt and Bob's word");
  assert.equal(text, 'def solve(): pass');

  // The interviewer ends the interview: every editor becomes read-only.
  await a.click('#end');
  for (const p of [a, b, o]) {
    await p.waitForSelector('.alert[data-code="SESSION_ENDED"]', { timeout: WAIT });
    await p.waitForFunction(() => window.pairpadEditor.getRawOptions().readOnly === true, null, { timeout: WAIT });
  }
  await b.click('.monaco-editor .view-lines');
  await b.keyboard.type('zzz');
  assert.equal(await b.evaluate(() => window.pairpadEditor.getValue()), 'def solve(): pass');
  for (const p of [a, b, o]) assert.deepEqual(p.problems, []);
  for (const p of [alice, bob, olga]) await p.context.close();
});
