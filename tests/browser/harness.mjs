// harness.mjs — what the browser tests share: the real all-in-one server
// (bin/pairpad: api + realtime + janitor + embedded NATS on one port), Debian's
// Chromium through playwright-core, and a static file server for built pages.
//
// PAIRPAD_BIN names a prebuilt binary; otherwise bin/pairpad is built with
// `go build` first. CHROMIUM names the browser (default /usr/bin/chromium).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, createReadStream, statSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

import { chromium } from 'playwright-core';

export const here = fileURLToPath(new URL('.', import.meta.url));
export const repo = resolve(here, '../..');
export const artifacts = join(here, 'artifacts');

/** WAIT is how long a test waits for an event in the page: generous, the machine is shared. */
export const WAIT = 15000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function freePort() {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function binary() {
  if (process.env.PAIRPAD_BIN) return process.env.PAIRPAD_BIN;
  const bin = join(repo, 'bin', 'pairpad');
  execFileSync('go', ['build', '-o', bin, './deploy/local/cmd/pairpad'], { cwd: repo, stdio: 'inherit' });
  return bin;
}

/**
 * startServer runs the all-in-one on a free port with a fresh data
 * directory; origins are allowed besides its own (FRONTEND_URL). It resolves
 * with {base, logs, stop()} once /readyz answers 200.
 */
export async function startServer({ origins = [] } = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'pairpad-e2e-'));
  const logs = [];
  const proc = spawn(binary(), [], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      NATS_LISTEN: '127.0.0.1:-1',
      DATA_DIR: dataDir,
      FRONTEND_URL: [base, ...origins].join(','),
      TOKEN_SECRET: randomBytes(24).toString('hex'),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [proc.stdout, proc.stderr]) stream.on('data', (d) => logs.push(d.toString()));
  const exited = new Promise((res) => proc.on('exit', (code) => res(code)));
  const stop = async () => {
    proc.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15000))]);
    if (code === 'timeout') proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60000;
  for (;;) {
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 200))]);
    if (code !== undefined) throw new Error(`pairpad exited with ${code} before it was ready:\n${logs.join('')}`);
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pairpad not ready within 60 s:\n${logs.join('')}`);
    }
  }
  return { base, proc, logs, exited, stop };
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json', '.ttf': 'font/ttf', '.woff2': 'font/woff2' };

/**
 * serveStatic serves the files below dir on a port the system picks and
 * resolves with {origin, close()}.
 */
export async function serveStatic(dir) {
  const root = resolve(dir);
  const server = createHttpServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      statSync(file);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-cache' });
    createReadStream(file).pipe(res);
  });
  await new Promise((res, rej) => {
    server.on('error', rej);
    server.listen(0, '127.0.0.1', res);
  });
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((res) => server.close(res)),
  };
}

/** launchBrowser starts Debian's Chromium; it never downloads a browser. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/**
 * newPage opens a browser context (one person) and records what would make
 * the page misbehave: uncaught errors, CSP violations, and requests to hosts
 * other than allowed (the page's own and the server's origins).
 */
export async function newPage(browser, allowed = []) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 720 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  if (allowed.length > 0) {
    const hosts = allowed.map((o) => new URL(o).host);
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (!['data:', 'blob:'].includes(u.protocol) && !hosts.includes(u.host)) page.problems.push(`request to another host: ${r.url()}`);
    });
  }
  return { context, page };
}
