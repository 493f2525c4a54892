// runner.js — runs the session's JavaScript for the demo page in a dedicated
// Web Worker: no DOM, no network (the server answers this file with the
// policy RunnerPolicy, whose connect-src and script-src allow nothing but
// eval, and the network APIs are removed from the worker's globals besides),
// console output posted to the page line by line up to a budget. The page
// terminates the worker at its time limit. Messages to the page:
// {kind: 'out', stream: 'stdout'|'stderr', text}, {kind: 'truncated'},
// {kind: 'done', exitCode}.
'use strict';

const post = self.postMessage.bind(self);
const realSetTimeout = self.setTimeout.bind(self);
const realClearTimeout = self.clearTimeout.bind(self);
const realSetInterval = self.setInterval.bind(self);
const realClearInterval = self.clearInterval.bind(self);

// No way out: the network and worker APIs are deleted from the global and
// every prototype it inherits from (so Object.getPrototypeOf(self).fetch is
// gone too), then shadowed with undefined. The policy blocks them anyway.
const CLOSED = ['fetch', 'XMLHttpRequest', 'WebSocket', 'WebTransport', 'EventSource', 'importScripts', 'Worker', 'SharedWorker', 'BroadcastChannel', 'indexedDB', 'caches'];
for (let o = self; o; o = Object.getPrototypeOf(o)) {
  for (const name of CLOSED) {
    try {
      delete o[name];
    } catch {
      // not configurable here
    }
  }
}
for (const name of CLOSED) {
  try {
    Object.defineProperty(self, name, { value: undefined, writable: false, configurable: false });
  } catch {
    // not present in this browser
  }
}

// BUDGET is how many characters of output are posted at most; the page cuts
// what it shares to the server's run-output limit anyway.
const BUDGET = 200000;
let budget = BUDGET;

function show(value) {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.stack || String(value);
  if (typeof value === 'function') return `[Function ${value.name || 'anonymous'}]`;
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined || typeof value === 'symbol') return String(value);
  try {
    const s = JSON.stringify(value);
    return s === undefined ? String(value) : s;
  } catch {
    return String(value);
  }
}

function write(stream, args) {
  if (budget <= 0) return;
  let text = `${args.map(show).join(' ')}\n`;
  if (text.length > budget) text = text.slice(0, budget);
  budget -= text.length;
  post({ kind: 'out', stream, text });
  if (budget <= 0) post({ kind: 'truncated' });
}

for (const m of ['log', 'info', 'debug', 'trace']) console[m] = (...args) => write('stdout', args);
for (const m of ['warn', 'error']) console[m] = (...args) => write('stderr', args);

// The run ends when the code has returned (a returned promise settled) and
// no timer it set is pending: an interval that is never cleared runs into
// the page's time limit.
let exitCode = 0;
let started = false;
let finished = false;
let main = false; // the code itself has returned
const timers = new Set();

function fail(err) {
  exitCode = 1;
  write('stderr', [err instanceof Error ? err.stack || String(err) : `Uncaught ${show(err)}`]);
}

function maybeDone() {
  if (finished || !main || timers.size > 0) return;
  realSetTimeout(() => {
    if (finished || timers.size > 0) return;
    finished = true;
    post({ kind: 'done', exitCode });
  }, 0);
}

function guard(fn, args) {
  try {
    const r = fn(...args);
    if (r && typeof r.then === 'function') r.then(undefined, fail);
  } catch (err) {
    fail(err);
  }
}

self.setTimeout = (fn, ms, ...args) => {
  const id = realSetTimeout(() => {
    timers.delete(id);
    if (typeof fn === 'function') guard(fn, args);
    maybeDone();
  }, ms);
  timers.add(id);
  return id;
};
self.clearTimeout = (id) => {
  timers.delete(id);
  realClearTimeout(id);
  maybeDone();
};
self.setInterval = (fn, ms, ...args) => {
  const id = realSetInterval(() => {
    if (typeof fn === 'function') guard(fn, args);
  }, ms);
  timers.add(id);
  return id;
};
self.clearInterval = (id) => {
  timers.delete(id);
  realClearInterval(id);
  maybeDone();
};

self.addEventListener('unhandledrejection', (e) => {
  e.preventDefault();
  fail(e.reason);
});

const AsyncFunction = (async () => {}).constructor;

self.onmessage = async (e) => {
  if (started) return;
  started = true;
  const code = e.data && typeof e.data.code === 'string' ? e.data.code : '';
  try {
    // An async function, so the code may use await at its top level.
    await new AsyncFunction(`${code}\n//# sourceURL=main.js`)();
  } catch (err) {
    fail(err);
  }
  main = true;
  maybeDone();
};
