// A whole interview through the demo page, against the real all-in-one
// server, in Debian's Chromium through playwright-core: three people in three
// browser contexts (interviewer, candidate, observer). The interviewer
// creates the session (title, language, starter code) and keeps the host key
// in the tab; the candidate opens the candidate link; the observer the
// observer link. Both type; the interviewer writes a note that the
// candidate's page never holds in its DOM nor receives in any WebSocket
// frame; JavaScript runs in the sandboxed worker and everyone sees the
// output (also after a reload); the interviewer ends the interview, the
// candidate sees it ended, downloads the code and replays its versions.
//
//   node --test interview.test.mjs
//
// PAIRPAD_BIN names a prebuilt binary; otherwise bin/pairpad is built with
// `go build` first. CHROMIUM names the browser (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { WAIT, artifacts, launchBrowser, newPage, startServer } from './harness.mjs';

let server;
let browser;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  server = await startServer();
  const bundle = await fetch(`${server.base}/client/dist/editor.js`);
  if (bundle.status !== 200) throw new Error('the server has no editor bundle (/client/dist/editor.js): run `make editor` before building it');
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// The note only interviewers and observers may ever see.
const SECRET = 'NOTE-7f3a: strong on recursion, weak on tests';

const connected = (page) => page.waitForFunction(() => window.pairpad && window.pairpad.status === 'connected', null, { timeout: WAIT });
const codeOf = (page) => page.evaluate(() => ({ text: window.pairpad.text, version: window.pairpad.version, state: window.pairpad.state, editor: window.pairpadEditor.state.doc.toString() }));

// converged waits until every page holds the same code, nothing pending, its editor showing it.
async function converged(pages, message) {
  const deadline = Date.now() + WAIT;
  let last;
  for (;;) {
    last = await Promise.all(pages.map(codeOf));
    if (last.every((s) => s.state === 'synchronized' && s.editor === s.text && s.text === last[0].text && s.version === last[0].version)) return last[0].text;
    if (Date.now() > deadline) assert.fail(`${message}: no convergence within ${WAIT} ms: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// setCode replaces the code from page's editor, as typing a paste would.
async function setCode(page, text) {
  await page.click('.editor-wrap .cm-content');
  await page.keyboard.press('Control+a');
  await page.keyboard.press('Backspace');
  await page.keyboard.insertText(text);
}

// outputOf waits for a shared run with text in page's output panel.
async function outputOf(page, text) {
  await page.waitForFunction((t) => document.querySelector('#output-text').textContent.includes(t), text, { timeout: WAIT });
  return { text: await page.textContent('#output-text'), meta: await page.textContent('#output-meta') };
}

test('a whole interview: create, candidate link, notes the candidate never gets, run, end, download, playback', { timeout: 300000 }, async () => {
  const ivy = await newPage(browser, [server.base]);
  const cam = await newPage(browser, [server.base]);
  const oli = await newPage(browser, [server.base]);
  const i = ivy.page;
  const c = cam.page;
  const o = oli.page;
  i.on('dialog', (d) => d.accept());

  // Every frame the candidate's page receives, and whether its DOM ever holds the note.
  const candidateFrames = [];
  c.on('websocket', (ws) => ws.on('framereceived', (f) => candidateFrames.push(String(f.payload))));
  await cam.context.addInitScript((secret) => {
    window.__sawNote = false;
    const check = () => {
      if (document.documentElement && document.documentElement.outerHTML.includes(secret)) window.__sawNote = true;
    };
    new MutationObserver(check).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  }, SECRET);

  // 1. Ivy creates the interview: title, language, starter code.
  await i.goto(`${server.base}/`);
  await i.fill('#name', 'Ivy');
  await i.fill('#title', 'Backend pairing');
  await i.selectOption('#new-language', 'javascript');
  await i.fill('#starter', '// warm-up\n');
  await i.click('#create');
  await connected(i);
  assert.equal(await i.evaluate(() => window.pairpad.role), 'interviewer');
  const link = await i.inputValue('#share');
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/\?session=[0-9a-f-]{36}$/, 'the candidate link is the session, nothing more');
  assert.equal(i.url(), link, 'the host key is not in the address bar');
  const sessionId = new URL(link).searchParams.get('session');
  const hostKey = await i.evaluate((id) => sessionStorage.getItem(`pairpad.hostKey.${id}`), sessionId);
  assert.ok(hostKey && hostKey.length >= 22);
  assert.ok(!link.includes(hostKey));
  await i.waitForFunction(() => document.querySelector('#session-label').textContent === 'Backend pairing', null, { timeout: WAIT });
  assert.equal(await i.isVisible('#end'), true);
  assert.equal(await i.isVisible('#notes-box'), true);
  const observerLink = await i.inputValue('#observer-link');
  assert.ok(observerLink.endsWith(`#hostKey=${encodeURIComponent(hostKey)}`), observerLink);
  assert.match(await i.textContent('#observer-box'), /host key/);
  assert.equal((await codeOf(i)).text, '// warm-up\n');

  // 2. Cam opens the candidate link and joins as the candidate.
  await c.goto(link);
  await c.fill('#name', 'Cam');
  await c.click('#join');
  await connected(c);
  assert.equal(await c.evaluate(() => window.pairpad.role), 'candidate');
  assert.equal(await c.isVisible('#notes-box'), false);
  assert.equal(await c.isVisible('#end'), false);
  assert.equal(await c.isVisible('#observer-box'), false);

  // 3. Oli opens the observer link: read-only code, the notes.
  await o.goto(observerLink);
  await o.fill('#name', 'Oli');
  await o.click('#join');
  await connected(o);
  assert.equal(await o.evaluate(() => window.pairpad.role), 'observer');
  assert.equal(o.url(), link, 'the observer page drops the host key from its address');
  assert.equal(await o.evaluate(() => window.pairpadEditor.state.readOnly), true);
  assert.equal(await o.isDisabled('#run'), true);
  assert.equal(await o.isVisible('#notes-box'), true);

  // Roles are shown to everyone.
  for (const p of [i, c, o]) {
    await p.waitForFunction(() => document.querySelectorAll('#people li').length === 3, null, { timeout: WAIT });
    const roles = await p.$$eval('#people li', (lis) => lis.map((li) => `${li.querySelector('.person-name').textContent}:${li.dataset.role}`).sort());
    assert.deepEqual(roles, ['Cam:candidate', 'Ivy:interviewer', 'Oli:observer']);
  }

  // 4. Both type.
  await c.click('.editor-wrap .cm-content');
  await c.keyboard.press('Control+End');
  await c.keyboard.type('const answer = 6 * 7;\n', { delay: 10 });
  await converged([i, c, o], 'after Cam typed');
  await i.click('.editor-wrap .cm-content');
  await i.keyboard.press('Control+End');
  await i.keyboard.type('console.log(answer);\n', { delay: 10 });
  let code = await converged([i, c, o], 'after Ivy typed');
  assert.equal(code, '// warm-up\nconst answer = 6 * 7;\nconsole.log(answer);\n');

  // 5. Ivy writes a note; Oli sees it, Cam never does.
  await i.click('#notes .cm-content');
  await i.keyboard.type(SECRET, { delay: 5 });
  await o.waitForFunction((s) => window.pairpadNotes && window.pairpadNotes.state.doc.toString() === s, SECRET, { timeout: WAIT });
  await i.waitForFunction(() => window.pairpad.notesState === 'synchronized', null, { timeout: WAIT });
  assert.equal(await c.evaluate(() => window.pairpad.hasNotes), false);

  // 6. Cam runs the code: everyone sees the output, stamped with who ran it.
  await c.click('#run');
  for (const p of [i, c, o]) {
    const out = await outputOf(p, '42');
    assert.equal(out.text, '42\n');
    assert.match(out.meta, /run by Cam · exit 0 · \d+ ms/);
  }
  // The worker has no network, and a run that never ends is stopped.
  await setCode(
    i,
    "let net = 'no network';\n" +
      "try { await fetch('/api/sessions'); net = 'network!'; } catch {}\n" +
      "for (let o = self; o; o = Object.getPrototypeOf(o)) if (Object.hasOwn(o, 'fetch') && o.fetch) net = 'fetch left on a prototype';\n" +
      "try { new XMLHttpRequest(); net = 'xhr!'; } catch {}\n" +
      "console.log(net);\nconsole.error('to stderr');\nwhile (true) {}\n",
  );
  code = await converged([i, c, o], 'after the endless program');
  await i.click('#run');
  for (const p of [i, c]) {
    const out = await outputOf(p, 'longer than 5 s');
    assert.match(out.text, /^no network\nto stderr\nStopped: the run took longer than 5 s\.\n$/);
    assert.match(out.meta, /run by Ivy · exit 124/);
  }
  // After a reload the candidate finds the latest run (lastRun).
  await c.reload();
  await connected(c);
  await outputOf(c, 'longer than 5 s');
  // Output past the limit is cut so the shared run stays under the server's 64 KiB (as JSON: the
  // control characters take six bytes each there), and everyone still gets it.
  await c.waitForFunction(() => !document.querySelector('#run').disabled, null, { timeout: WAIT });
  await setCode(c, "for (let n = 0; n < 100000; n++) console.log('line ' + n + ' \\u0001\\u0002');\n");
  await converged([i, c, o], 'after the chatty program');
  await c.click('#run');
  for (const p of [i, c]) {
    const out = await outputOf(p, 'output truncated');
    assert.ok(out.text.startsWith('line 0 \u0001\u0002\nline 1 '), out.text.slice(0, 40));
    assert.match(out.meta, /run by Cam · exit 0/);
    const shared = await p.evaluate(() => window.pairpad.lastRun);
    assert.ok(new TextEncoder().encode(JSON.stringify(shared)).length < 64 * 1024);
  }
  assert.equal(await c.$$eval('.alert', (as) => as.length), 0, 'the run was refused');
  // Other languages say they do not run here.
  await c.waitForFunction(() => !document.querySelector('#run').disabled, null, { timeout: WAIT });
  await i.selectOption('#language', 'python');
  await c.waitForFunction(() => window.pairpad.language === 'python', null, { timeout: WAIT });
  await c.click('#run');
  assert.match((await outputOf(c, 'not runnable in the browser')).meta, /only you see this/);
  await setCode(c, 'print("final")\n');
  code = await converged([i, c, o], 'the final code');
  await i.screenshot({ path: join(artifacts, 'interview.png') });

  // 7. Ivy ends the interview: everyone sees it ended.
  await i.click('#end');
  for (const p of [i, c, o]) {
    await p.waitForSelector('#ended:not([hidden])', { timeout: WAIT });
    await p.waitForFunction(() => document.querySelector('#status').textContent === 'ended', null, { timeout: WAIT });
    assert.equal(await p.evaluate(() => window.pairpadEditor.state.readOnly), true);
    // Nobody is listed as present any more, and no remote caret is drawn.
    await p.waitForFunction(() => document.querySelector('#people-count').textContent === '0', null, { timeout: WAIT });
    assert.equal(await p.$$eval('#people .person', (li) => li.map((e) => e.textContent).join('|')), 'The interview has ended: nobody is connected.');
    assert.equal(await p.$$eval('[data-remote-cursor]', (els) => els.length), 0);
  }
  const session = await (await fetch(`${server.base}/api/sessions/${sessionId}`)).json();
  assert.equal(session.status, 'ended');

  // 8. Cam downloads the code as a file.
  const [download] = await Promise.all([c.waitForEvent('download', { timeout: WAIT }), c.click('#download')]);
  assert.equal(download.suggestedFilename(), 'main.py');
  assert.equal(readFileSync(await download.path(), 'utf8'), code);

  // 9. Playback: a slider over every version, who typed it and when.
  await c.waitForSelector('#playback:not([hidden])', { timeout: WAIT });
  const versions = Number(await c.getAttribute('#playback-slider', 'max'));
  assert.ok(versions >= 5, `only ${versions} versions`);
  assert.equal(await c.textContent('#playback-text'), code);
  await c.fill('#playback-slider', '1');
  assert.equal(await c.textContent('#playback-text'), '// warm-up\n');
  assert.match(await c.textContent('#playback-who'), /^version 1: the starter code/);
  const seen = new Set();
  for (let v = 2; v <= versions; v++) {
    await c.fill('#playback-slider', String(v));
    const who = await c.textContent('#playback-who');
    assert.match(who, new RegExp(`^version ${v} by (Cam \\(candidate\\)|Ivy \\(interviewer\\)) · `));
    seen.add(who.split(' by ')[1].split(' · ')[0]);
  }
  assert.deepEqual([...seen].sort(), ['Cam (candidate)', 'Ivy (interviewer)']);
  await c.fill('#playback-slider', String(versions));
  assert.equal(await c.textContent('#playback-text'), code);
  await i.waitForSelector('#playback:not([hidden])', { timeout: WAIT });
  await i.screenshot({ path: join(artifacts, 'interview-ended.png') });

  // Ivy reopens the ended interview: the join is refused, the page shows the code and the playback.
  await i.reload();
  await i.waitForSelector('#ended:not([hidden])', { timeout: WAIT });
  await i.waitForFunction((t) => window.pairpadEditor.state.doc.toString() === t, code, { timeout: WAIT });
  await i.waitForSelector('#playback:not([hidden])', { timeout: WAIT });
  assert.equal(await i.getAttribute('#playback-slider', 'max'), String(versions));
  assert.equal(await i.$$eval('.alert', (as) => as.length), 0);

  // The note never reached the candidate: not in the DOM, not in a frame.
  assert.ok(candidateFrames.length > 10, `only ${candidateFrames.length} frames captured`);
  assert.deepEqual(candidateFrames.filter((f) => f.includes(SECRET) || f.includes('NOTE-7f3a') || /"notes/.test(f)), []);
  assert.equal(await c.evaluate(() => window.__sawNote), false);
  assert.ok(!(await c.content()).includes('NOTE-7f3a'));

  for (const p of [i, c, o]) assert.deepEqual(p.problems, []);
  for (const x of [ivy, cam, oli]) await x.context.close();
});
