// What Origo's browser tests share: checks that print one line each and a closing tally,
// waiting for a condition, median, and processes started for a test (their output in
// tests/artifacts/{label}.log, all stopped by stopLaunched and killed should the test die).

import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const artifacts = join(repo, 'tests/artifacts');
mkdirSync(artifacts, { recursive: true });

const started = Date.now();
let log = null;
/** Where `note` writes (tests/artifacts/NAME), opened once by the test. */
export function openLog(name) {
  log = createWriteStream(join(artifacts, name));
  return log;
}
export const note = (...a) => log?.write(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${a.join(' ')}\n`);
export const elapsedSecs = () => ((Date.now() - started) / 1000).toFixed(0);

export const results = [];
/** Runs one check; ONLY=text runs just the checks whose name contains it (the benches use it). */
export async function check(name, fn) {
  if (process.env.ONLY && !name.includes(process.env.ONLY)) return;
  const t = Date.now();
  try {
    const detail = await fn();
    results.push({ name, ok: true });
    console.log(`ok    ${name}${detail ? ` — ${detail}` : ''} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL  ${name}: ${e.message.split('\n')[0]}`);
    note(`FAIL ${name}: ${e.stack}`);
  }
}

export async function waitFor(what, fn, { timeout = 20_000, interval = 150 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

const launched = [];
export const scratchDirs = [];

export function launch(label, bin, args, { env = {} } = {}) {
  const proc = spawn(bin, args, { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const file = createWriteStream(join(artifacts, `${label}.log`));
  const p = { label, proc, output: '', exit: null, listeners: new Set() };
  const changed = () => p.listeners.forEach((f) => f());
  for (const s of [proc.stdout, proc.stderr]) {
    s.on('data', (d) => {
      p.output += d;
      file.write(d);
      changed();
    });
  }
  p.exited = new Promise((r) => proc.once('close', (code, signal) => {
    p.exit = signal || code;
    file.end();
    changed();
    r();
  }));
  proc.on('error', (e) => {
    p.exit = e.message;
    changed();
  });
  launched.push(p);
  return p;
}

/** Waits for `re` in a launched process's output (stdout and stderr); fails at once if it exits. */
export function outputMatch(p, re, { timeout = 30_000 } = {}) {
  return new Promise((resolveMatch, reject) => {
    const done = (f) => {
      clearTimeout(timer);
      p.listeners.delete(look);
      f();
    };
    const look = () => {
      const m = p.output.match(re);
      if (m) done(() => resolveMatch(m));
      else if (p.exit !== null) done(() => reject(new Error(`${p.label} exited (${p.exit}) before printing ${re} (see tests/artifacts/${p.label}.log)`)));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`${p.label} did not print ${re} within ${timeout} ms (see tests/artifacts/${p.label}.log)`))), timeout);
    p.listeners.add(look);
    look();
  });
}

export async function stopLaunched() {
  await Promise.all(
    launched.splice(0).map(async (p) => {
      if (p.exit !== null) return;
      p.proc.kill('SIGTERM');
      const t = setTimeout(() => p.proc.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(t);
    }),
  );
  for (const d of scratchDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

process.on('exit', () => {
  for (const p of launched) if (p.exit === null) p.proc.kill('SIGKILL');
});

/** Prints `PREFIX: N passed, M failed (S s)` and gives the exit code. */
export function tally(prefix) {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`${prefix}: ${passed} passed, ${failed} failed (${elapsedSecs()} s)`);
  return failed ? 1 : 0;
}

/**
 * Opens a room's link in a new context of `browser`, waits for the camera preview and clicks
 * Join, as a person would; with `autojoin` the link joins by itself (receive-only) and nothing
 * is clicked. `headers` go with every request of the page to `at` (as a trusted proxy in
 * front of the edge adds `X-Origo-Geo`), not with its calls to media nodes.
 * Gives `{name, context, page, identity, moves}`, `moves` being the `reconnect_to_node`
 * messages the room sends it, as they arrive.
 */
export async function joinRoom(browser, name, { extra = '', viewport = { width: 1280, height: 800 }, at, inRoom, autojoin = false, headers, ignoreHTTPSErrors = false } = {}) {
  const context = await browser.newContext({ viewport, ignoreHTTPSErrors });
  await context.grantPermissions(['camera', 'microphone', 'clipboard-read', 'clipboard-write'], { origin: at });
  if (headers) await context.route(`${at}/**`, (route) => route.continue({ headers: { ...route.request().headers(), ...headers } }));
  const page = await context.newPage();
  page.on('console', (m) => note(`[${name}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => note(`[${name}] pageerror: ${e.message}`));
  const p = { name, context, page, moves: [] };
  page.on('websocket', (ws) =>
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload !== 'string' || !payload.includes('reconnect_to_node')) return;
      try {
        const msg = JSON.parse(payload);
        if (msg.type === 'reconnect_to_node') p.moves.push({ at: Date.now(), msg });
      } catch {}
    }),
  );
  const trace = process.env.TRACE ? '&trace=1' : '';
  await page.goto(`${at}/?room=${inRoom}&name=${encodeURIComponent(name)}${autojoin ? '&autojoin=1' : ''}${extra}${trace}`);
  if (!autojoin) {
    await waitFor(`${name}'s camera preview playing`, () => page.evaluate(() => document.querySelector('#preview').videoWidth > 0), { timeout: 10_000 });
    await page.click('#join-button');
  }
  p.identity = await waitFor(`${name}'s identity`, () => page.evaluate(() => window.origo?.state.identity), { timeout: 20_000 });
  await waitFor(`${name} connected`, () => page.evaluate(() => document.body.dataset.state === 'connected'), { timeout: 25_000 });
  note(`${name} is ${p.identity}`);
  return p;
}

/** The arguments every test browser gets: fake camera and microphone, no background traffic. */
export const BROWSER_ARGS = [
  // Names of the https check (origo.test is reserved for testing and never resolves elsewhere).
  '--host-resolver-rules=MAP origo.test 127.0.0.1, MAP *.origo.test 127.0.0.1',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  ...(process.env.CHROMIUM_ARGS ? process.env.CHROMIUM_ARGS.split(' ') : []),
];
