// A whole Origo call in real Chromium: `origo dev` on loopback, participants opening a link,
// checking their camera preview and clicking Join, with fake camera and microphone, checked
// through the page and through getStats. One participant joins by `autojoin` link and is
// checked to send nothing until they click to turn their microphone and camera on.
//
//   cd tests/browser && npm install && node call.test.mjs
//
// Environment: ORIGO_BIN (default ../../target/debug/origo), ORIGO_MEDIA_NODE_BIN (default
// ../../target/debug/origo-media-node), CHROMIUM (default /usr/bin/chromium), ORIGO_URL (use a server that is already running instead of starting
// one), SAMPLES (fresh joiners whose join → first frame is measured, default 3; tests/bench/browser takes more), HEADED=1 (show the browser),
// TRACE=1 (the pages log their HTTP calls to tests/artifacts/browser-test.log), ONLY=text (run
// the checks whose name contains it), KILLS (media node kills in the failover check, default 1).
// Prints one line per check, the join → first remote frame figures, and
// `browser: N passed, M failed`; exits 1 when anything failed. Screenshots and logs go to
// tests/artifacts/. The media node move runs in an `origo dev` of its own (started even with
// ORIGO_URL) with two standalone media nodes, and so do the plan quota checks (an organisation
// whose monthly minutes run out in the call, then a join refused in words); everything binds
// 127.0.0.1.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, createWriteStream } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { artifacts, check, launch, median, note, openLog, outputMatch, repo, scratchDirs, BROWSER_ARGS, joinRoom, stopLaunched, tally, waitFor, results } from './harness.mjs';

const ORIGO_BIN = process.env.ORIGO_BIN || join(repo, 'target/debug/origo');
const MEDIA_NODE_BIN = process.env.ORIGO_MEDIA_NODE_BIN || join(repo, 'target/debug/origo-media-node');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SAMPLES = Number(process.env.SAMPLES || 3);
const log = openLog('browser-test.log');

// ------------------------------------------------------------------------------------ origo

let origo = null;
let dataDir = null;
// Compiled components are cached between runs (safe to share): start-up in well under a second.
const cacheDir = join(tmpdir(), 'origo-browser-test-components');

async function startOrigo() {
  if (process.env.ORIGO_URL) return process.env.ORIGO_URL.replace(/\/$/, '');
  dataDir = mkdtempSync(join(tmpdir(), 'origo-browser-'));
  const args = [
    'dev', '--no-build',
    '--listen', '127.0.0.1:0',
    '--data-dir', dataDir,
    '--cache-dir', cacheDir,
    '--manifest', join(repo, 'spin.toml'),
    '--turn-listen', '127.0.0.1:0',
    '--media-listen', '127.0.0.1:0',
  ];
  origo = spawn(ORIGO_BIN, args, {
    cwd: repo,
    // The client compiled into the binary (ORIGO_WEB_DIR, if set, serves web/ from disk).
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const err = createWriteStream(join(artifacts, 'origo.log'));
  origo.stderr.pipe(err);
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('origo did not start within 60 s (see tests/artifacts/origo.log)')), 60_000);
    let buf = '';
    origo.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/origo listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    origo.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`origo exited with ${code} before it was ready (see tests/artifacts/origo.log)`));
    });
    origo.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function stopOrigo() {
  if (origo && origo.exitCode === null) {
    const exited = new Promise((r) => origo.once('exit', r));
    origo.kill('SIGTERM');
    const t = setTimeout(() => origo.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

// Further processes (the media node move's own origo and media nodes) come from harness.mjs.

// Should the test itself die, nothing it started outlives it.
process.on('exit', () => {
  if (origo && origo.exitCode === null) origo.kill('SIGKILL');
});

// ------------------------------------------------------------------------------------ browser

let browser = null;
let base = null;
const room = `browser-${Date.now().toString(36)}`;

// A participant opening the room's link in this test's browser (harness.mjs `joinRoom`).
const joinAs = (name, { extra = '', viewport, at = base, inRoom = room, autojoin = false, ignoreHTTPSErrors = false } = {}) =>
  joinRoom(browser, name, { extra, viewport, at, inRoom, autojoin, ignoreHTTPSErrors });

const stats = (p) => p.page.evaluate(() => window.origoStats());

// What a page sends: outbound audio and video RTP bytes (getStats), the kinds of the tracks on
// its senders, and how many tracks it has captured from the camera and microphone.
const outbound = (p) =>
  p.page.evaluate(async () => {
    const { pc, stream } = window.origo.state;
    const out = { audio: 0, video: 0, senderTracks: [], captured: stream?.getTracks().length || 0 };
    if (!pc) return out;
    out.senderTracks = pc.getSenders().filter((s) => s.track).map((s) => s.track.kind);
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) out[s.kind] += s.bytesSent || 0;
    });
    return out;
  });

async function seesVideoOf(viewer, others, timeout = 25_000) {
  return waitFor(
    `${viewer.name} decoding video of ${others.map((o) => o.name).join(', ')}`,
    async () => {
      const s = await stats(viewer);
      return others.every((o) => s[o.identity]?.framesDecoded > 0) && s;
    },
    { timeout },
  );
}

async function firstFrameMs(p) {
  return waitFor(`${p.name}'s first remote frame`, () => p.page.evaluate(() => window.origoTimings.joinToFirstFrameMs), { timeout: 20_000 });
}

async function leave(p) {
  await p.page.click('#btn-leave');
  await waitFor(`${p.name} left`, () => p.page.evaluate(() => document.body.dataset.state === 'left'), { timeout: 5000 });
  await p.context.close();
}

// An `origo dev` of a check's own, keeping its data in `dir`, with no TURN server inside and
// the settings `args`; `env` is added to its environment. Gives its URL.
async function startOwnOrigo(label, dir, args, { env } = {}) {
  const edge = launch(label, ORIGO_BIN, [
    'dev', '--no-build',
    '--listen', '127.0.0.1:0',
    '--data-dir', join(dir, 'data'),
    '--cache-dir', cacheDir,
    '--manifest', join(repo, 'spin.toml'),
    '--turn-listen', 'off',
    ...args,
  ], { env });
  return (await outputMatch(edge, /origo listening on (http:\/\/\S+)/, { timeout: 60_000 }))[1];
}

// An origo whose organisations' plan allows one participant-minute a month, with an owner
// account, its organisation and a room: {url, token (the owner's), inRoom}.
async function startQuotaOrigo() {
  const dir = mkdtempSync(join(tmpdir(), 'origo-quota-'));
  scratchDirs.push(dir);
  const plans = {
    currency: 'USD', default_plan: 'tiny', guest_plan: 'links', usage_grace_secs: 5,
    plans: [
      { id: 'tiny', name: 'Tiny', monthly_fee: '0', limits: { participant_minutes: 1 } },
      { id: 'links', name: 'Links', monthly_fee: '0' },
    ],
  };
  const url = await startOwnOrigo('origo-quota', dir, [
    '--media-listen', '127.0.0.1:0',
    '--room-sweep-ms', '500',
    '--var', `plans=${JSON.stringify(plans)}`,
  ]);
  const call = async (path, body, token) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  // `origo dev` activates accounts without email verification.
  const email = 'owner@example.com';
  const password = 'a long enough password';
  await call('/v1/auth/signup', { email, password });
  const { access_token: token } = await call('/v1/auth/login', { email, password });
  await call('/v1/orgs', { name: 'Acme' }, token);
  const inRoom = 'quota';
  await call('/v1/rooms', { name: inRoom }, token);
  return { url, token, inRoom, call };
}

// A member of the quota origo's organisation in its room, joined by `autojoin` link. The web
// client signs in as a guest (a meeting link); here that sign-in is answered with a token the
// organisation mints for the person (POST /v1/tokens), so the join the page makes, unchanged,
// is the organisation's and counts against its plan.
async function joinAsMember(q, name) {
  const identity = name.toLowerCase();
  const grants = { room: q.inRoom, join: true, publish: true, subscribe: true, publish_data: true };
  const minted = await q.call('/v1/tokens', { identity, name, grants }, q.token);
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.grantPermissions(['camera', 'microphone'], { origin: q.url });
  await context.route('**/v1/auth/guest', (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ access_token: minted.token, identity, expires_in: minted.expires_in }) }),
  );
  const page = await context.newPage();
  page.on('console', (m) => note(`[${name}] ${m.type()}: ${m.text()}`));
  const p = { name, context, page, identity, sockets: 0 };
  page.on('websocket', () => p.sockets++);
  await page.goto(`${q.url}/?room=${q.inRoom}&name=${encodeURIComponent(name)}&autojoin=1`);
  await waitFor(`${name} connected`, () => page.evaluate(() => document.body.dataset.state === 'connected'), { timeout: 25_000 });
  return p;
}

// A CA and a certificate it signed for `names`, made with openssl in `dir`: paths of the CA,
// the certificate and its key.
function testCertificate(dir, names) {
  const f = (n) => join(dir, n);
  const run = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=Origo test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${names[0]}`,
    '-keyout', f('key.pem'), '-out', f('req.pem'));
  writeFileSync(f('ext.cnf'), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  run('x509', '-req', '-in', f('req.pem'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2',
    '-extfile', f('ext.cnf'), '-out', f('cert.pem'));
  return { ca: f('ca.pem'), cert: f('cert.pem'), key: f('key.pem') };
}

// TLS in front of origo, as a load balancer or CDN does it: HTTPS and WebSocket upgrades on
// 127.0.0.1, passed to http://127.0.0.1:{port()}.
function httpsProxy(cert, port) {
  const tls = { cert: readFileSync(cert.cert), key: readFileSync(cert.key) };
  const server = createHttpsServer(tls, (req, res) => {
    const up = httpRequest({ host: '127.0.0.1', port: port(), path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  server.on('upgrade', (req, socket, head) => {
    const up = netConnect(port(), '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      up.write(head);
      socket.pipe(up).pipe(socket);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  return new Promise((ready) => server.listen(0, '127.0.0.1', () => ready(server)));
}

const tileCount = (p, who) => p.page.locator(`.tile[data-participant="${who.identity}"]`).count();
const attr = (p, who, name) => p.page.getAttribute(`.tile[data-participant="${who.identity}"]`, name, { timeout: 2000 });

// ------------------------------------------------------------------------------------ the call

async function main() {
  base = await startOrigo();
  note(`origo at ${base}, room ${room}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: !process.env.HEADED,
    args: BROWSER_ARGS,
  });

  const firstFrames = {};
  let alice, bob, carol, dave, erin;

  await check('landing page renders with labelled fields', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(`${base}/?room=${room}`);
    await page.getByLabel('Your name').fill('Preview');
    await waitFor('camera preview playing', () => page.evaluate(() => document.querySelector('#preview').videoWidth > 0), { timeout: 10_000 });
    for (const label of ['Room', 'Camera', 'Microphone']) await page.getByLabel(label, { exact: true }).waitFor({ timeout: 2000 });
    const roomValue = await page.inputValue('#room');
    if (roomValue !== room) throw new Error(`room field is ${roomValue}`);
    await page.screenshot({ path: join(artifacts, 'landing-phone.png') });
    await context.close();
  });

  await check('joining from the landing page with the keyboard only', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${base}/?room=${room}-keys`);
    // Focus starts in the name field; Enter submits the form.
    await page.keyboard.type('Kim');
    await page.keyboard.press('Enter');
    await waitFor('Kim connected', () => page.evaluate(() => document.body.dataset.state === 'connected'), { timeout: 20_000 });
    await page.locator('body').press('m'); // mute shortcut
    const pressed = await page.getAttribute('#btn-mic', 'aria-pressed');
    if (pressed !== 'true') throw new Error(`mute button aria-pressed=${pressed} after pressing M`);
    // Tab from the skip link reaches the controls.
    await page.keyboard.press('Escape');
    await page.focus('.skip-link');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.id);
    if (focused !== 'btn-mic') throw new Error(`after the skip link, focus is on ${focused}`);
    await page.keyboard.press('Enter'); // unmute with the keyboard
    if ((await page.getAttribute('#btn-mic', 'aria-pressed')) !== 'false') throw new Error('Enter on the mute button did not unmute');
    await page.click('#btn-leave');
    await waitFor('Kim left', () => page.evaluate(() => document.body.dataset.state === 'left'), { timeout: 5000 });
    await context.close();
  });

  await check('three participants join by link and each decodes the other two', async () => {
    alice = await joinAs('Alice');
    bob = await joinAs('Bob');
    firstFrames.Bob = await firstFrameMs(bob);
    carol = await joinAs('Carol');
    firstFrames.Carol = await firstFrameMs(carol);
    const all = [alice, bob, carol];
    for (const p of all) await seesVideoOf(p, all.filter((o) => o !== p));
    for (const p of all) {
      for (const o of all.filter((x) => x !== p)) {
        const n = await tileCount(p, o);
        if (n !== 1) throw new Error(`${p.name} has ${n} tiles for ${o.name}`);
      }
    }
    // The fake microphone beeps: the SFU names an active speaker and the tile shows it.
    await waitFor('an active speaker on Alice’s screen', async () => (await alice.page.locator('.tile[data-speaking="true"]').count()) === 1, { timeout: 10_000 });
    const s = await stats(alice);
    return `Alice decoded ${all.filter((o) => o !== alice).map((o) => `${o.name} ${s[o.identity].framesDecoded}`).join(', ')} frames`;
  });

  await check('chat round-trips between participants', async () => {
    await alice.page.click('#btn-chat');
    await alice.page.fill('#chat-input', 'Hello from Alice');
    await alice.page.press('#chat-input', 'Enter');
    for (const p of [bob, carol]) {
      await p.page.locator('#chat-log .msg', { hasText: 'Hello from Alice' }).waitFor({ state: 'attached', timeout: 5000 });
    }
    await bob.page.click('#btn-chat');
    await bob.page.fill('#chat-input', 'Hi Alice, Bob here');
    await bob.page.click('#chat-form button[type=submit]');
    await alice.page.locator('#chat-log .msg', { hasText: 'Hi Alice, Bob here' }).waitFor({ timeout: 5000 });
    await waitFor('Alice’s message acknowledged', async () => (await alice.page.locator('#chat-log .msg.pending').count()) === 0, { timeout: 5000 });
  });

  await check('chat messages are edited, deleted, reacted to and replied to, and the other page sees it', async () => {
    const msg = (p, id) => p.page.locator(`#chat-log .msg[data-id="${id}"]`);
    const text = async (loc) => (await loc.textContent({ timeout: 1000 }))?.trim();
    await alice.page.fill('#chat-input', 'Agenda: budget first');
    await alice.page.press('#chat-input', 'Enter');
    const id = await waitFor('Alice’s message confirmed with its id', () =>
      alice.page.evaluate(() => [...document.querySelectorAll('#chat-log .msg:not(.pending)')].find((li) => li.textContent.includes('Agenda: budget first'))?.dataset.id), { timeout: 5000 });
    if (!/^\d{16}-\d{10}$/.test(id)) throw new Error(`the message's id is ${id}`);
    const onAlice = msg(alice, id);
    const onBob = msg(bob, id);
    await onBob.waitFor({ timeout: 5000 });
    await onBob.hover();
    if (await onBob.locator('[data-action="edit"], [data-action="delete"]').count()) throw new Error('Bob is offered to change Alice’s message');

    // Alice edits it in place; Enter saves.
    await onAlice.hover();
    await onAlice.locator('[data-action="edit"]').click();
    const editor = onAlice.locator('textarea');
    await editor.fill('Agenda: hiring first');
    await editor.press('Enter');
    await waitFor('Bob showing the new text, marked edited', async () => (await text(onBob.locator('.text'))) === 'Agenda: hiring first' && (await text(onBob.locator('.meta .edited'))) === '(edited)', { timeout: 5000 });

    // Bob reacts 👍; Alice sees it and adds hers by clicking it.
    await onBob.hover();
    await onBob.locator('[data-action="react"]').click();
    await onBob.locator('[data-quick="👍"]').click();
    const thumbs = (p) => msg(p, id).locator('.reactions button[data-reaction="👍"]');
    await waitFor('Alice showing 👍 1, not hers', async () => (await text(thumbs(alice))) === '👍 1' && (await thumbs(alice).getAttribute('aria-pressed')) === 'false', { timeout: 5000 });
    await thumbs(alice).click();
    for (const p of [alice, bob]) {
      await waitFor(`${p.name} showing 👍 2, theirs among them`, async () => (await text(thumbs(p))) === '👍 2' && (await thumbs(p).getAttribute('aria-pressed')) === 'true', { timeout: 5000 });
    }

    // Bob replies; Alice sees the quote, and clicking it takes her to the original.
    await onBob.hover();
    await onBob.locator('[data-action="reply"]').click();
    const target = await text(bob.page.locator('#reply-text'));
    if (!target?.startsWith('Replying to Alice: Agenda: hiring first')) throw new Error(`Bob's reply target reads "${target}"`);
    await bob.page.fill('#chat-input', 'Hiring works for me');
    await bob.page.press('#chat-input', 'Enter');
    const replyOn = (p) => p.page.locator('#chat-log .msg', { hasText: 'Hiring works for me' });
    await replyOn(alice).waitFor({ timeout: 5000 });
    const quote = await text(replyOn(alice).locator('.quote'));
    if (!quote?.includes('Alice') || !quote.includes('Agenda: hiring first')) throw new Error(`Alice's copy of the reply quotes "${quote}"`);
    if (!(await bob.page.locator('#reply-target').isHidden())) throw new Error('Bob’s reply target stayed after sending');
    await replyOn(alice).locator('.quote').click();
    await waitFor('Alice’s focus on the original', () => alice.page.evaluate((mid) => document.activeElement?.dataset.id === mid, id), { timeout: 2000 });

    // Alice mentions Bob: the message is highlighted for him, not for her.
    await alice.page.fill('#chat-input', `@${bob.identity} can you take notes?`);
    await alice.page.press('#chat-input', 'Enter');
    const mention = bob.page.locator('#chat-log .msg.mentions-me', { hasText: 'can you take notes?' });
    await mention.waitFor({ timeout: 5000 });
    const span = await text(mention.locator('.mention.me'));
    if (span !== `@${bob.identity}`) throw new Error(`Bob's highlighted mention reads "${span}"`);
    if (await alice.page.locator('#chat-log .msg.mentions-me').count()) throw new Error('Alice’s page highlights a mention of Bob as hers');

    // Alice deletes her first message, confirming: a tombstone for both, the reply's quote says so.
    await onAlice.hover();
    const del = onAlice.locator('[data-action="delete"]');
    await del.click();
    if ((await text(del)) !== 'Confirm delete') throw new Error(`after one click the delete button reads "${await text(del)}"`);
    await del.click();
    for (const p of [alice, bob]) {
      const m = msg(p, id);
      await waitFor(`${p.name} showing the tombstone`, async () => (await m.getAttribute('class')).split(' ').includes('deleted') && (await text(m.locator('.text'))) === 'Message deleted', { timeout: 5000 });
      if (await m.locator('[data-action], .reactions').count()) throw new Error(`${p.name}'s tombstone still has actions or reactions`);
      await waitFor(`${p.name}'s reply quoting a deleted message`, async () => (await text(replyOn(p).locator('.quote')))?.includes('deleted message'), { timeout: 5000 });
    }
    return `message ${id}: edited, 👍 2, replied to, a mention highlighted, deleted`;
  });

  await check('mute shows on the others', async () => {
    for (const p of [bob, carol]) if ((await attr(p, alice, 'data-muted')) !== 'false') throw new Error(`${p.name} shows Alice muted before she muted`);
    await alice.page.click('#btn-mic');
    for (const p of [bob, carol]) await waitFor(`${p.name} shows Alice muted`, async () => (await attr(p, alice, 'data-muted')) === 'true', { timeout: 5000 });
    await alice.page.click('#btn-mic');
    for (const p of [bob, carol]) await waitFor(`${p.name} shows Alice unmuted`, async () => (await attr(p, alice, 'data-muted')) === 'false', { timeout: 5000 });
  });

  await check('camera off shows on the others', async () => {
    await bob.page.click('#btn-cam');
    await waitFor('Alice shows Bob’s camera off', async () => (await attr(alice, bob, 'data-video')) === 'off', { timeout: 5000 });
    await bob.page.click('#btn-cam');
    await waitFor('Alice shows Bob’s camera on', async () => (await attr(alice, bob, 'data-video')) === 'on', { timeout: 8000 });
  });

  await check('raised hand shows on the others', async () => {
    await carol.page.click('#btn-hand');
    await waitFor('Alice shows Carol’s hand', async () => (await attr(alice, carol, 'data-hand')) === 'true', { timeout: 5000 });
  });

  await check('copy invite link puts the room’s link on the clipboard', async () => {
    await alice.page.click('#invite');
    const text = await waitFor('clipboard', () => alice.page.evaluate(() => navigator.clipboard.readText()), { timeout: 3000 });
    if (text !== `${base}/?room=${room}`) throw new Error(`clipboard holds ${text}`);
  });

  await check('a late joiner sees the chat history and everyone’s video', async () => {
    dave = await joinAs('Dave');
    firstFrames.Dave = await firstFrameMs(dave);
    await dave.page.click('#btn-chat');
    for (const text of ['Hello from Alice', 'Hi Alice, Bob here']) {
      await dave.page.locator('#chat-log .msg', { hasText: text }).waitFor({ state: 'attached', timeout: 5000 });
    }
    await seesVideoOf(dave, [alice, bob, carol]);
    await seesVideoOf(alice, [dave]);
  });

  await check('leaving removes the tile for everyone', async () => {
    await leave(carol);
    for (const p of [alice, bob, dave]) await waitFor(`${p.name} drops Carol’s tile`, async () => (await tileCount(p, carol)) === 0, { timeout: 5000 });
    await leave(dave);
    for (const p of [alice, bob]) await waitFor(`${p.name} drops Dave’s tile`, async () => (await tileCount(p, dave)) === 0, { timeout: 5000 });
  });

  await check('an autojoin link joins receive-only: no audio or video leaves until a click', async () => {
    // Camera and microphone permissions are granted, as in a browser that remembers them.
    const finn = await joinAs('Finn', { autojoin: true });
    try {
      // In the room and receiving it: Finn decodes Alice's and Bob's video.
      await seesVideoOf(finn, [alice, bob]);
      await waitFor('Finn’s media connected', () => finn.page.evaluate(() => window.origo.state.mediaConnected));
      const before = await outbound(finn);
      if (before.audio !== 0 || before.video !== 0 || before.senderTracks.length || before.captured) {
        throw new Error(`before any click Finn sends ${JSON.stringify(before)}`);
      }
      for (const a of ['data-muted', 'data-video']) {
        const v = await attr(alice, finn, a);
        if (v !== (a === 'data-muted' ? 'true' : 'off')) throw new Error(`Alice shows Finn's tile with ${a}=${v} before his click`);
      }
      // Finn clicks to turn his microphone and camera on: now both flow, and Alice sees him.
      await finn.page.click('#btn-mic');
      await finn.page.click('#btn-cam');
      const after = await waitFor('Finn sending audio and video', async () => {
        const o = await outbound(finn);
        return o.audio > 0 && o.video > 0 && o;
      }, { timeout: 10_000 });
      await seesVideoOf(alice, [finn]);
      await waitFor('Alice shows Finn unmuted with video', async () => (await attr(alice, finn, 'data-muted')) === 'false' && (await attr(alice, finn, 'data-video')) === 'on', { timeout: 8000 });
      return `before the click: 0 bytes, no sender tracks, nothing captured; after: audio ${after.audio} B, video ${after.video} B`;
    } finally {
      await leave(finn).catch(() => finn.context.close());
    }
  });

  await check('a relay-only participant connects through TURN', async () => {
    erin = await joinAs('Erin', { extra: '&relay=1' });
    const t = await erin.page.evaluate(() => window.origoTransport());
    if (t?.local !== 'relay') throw new Error(`Erin's selected candidate is ${JSON.stringify(t)}`);
    await seesVideoOf(erin, [alice, bob]);
    await seesVideoOf(alice, [erin]);
    await seesVideoOf(bob, [erin]);
    return `local candidate ${t.local}/${t.localProtocol}, remote ${t.remote} ${t.remoteAddress}`;
  });

  await check('screenshots at desktop and phone sizes', async () => {
    // Bob raises his hand so the pictures show it; Alice has the chat open.
    await bob.page.click('#btn-hand');
    await waitFor('Alice shows Bob’s hand', async () => (await attr(alice, bob, 'data-hand')) === 'true', { timeout: 5000 });
    await seesVideoOf(alice, [bob, erin]);
    await alice.page.waitForTimeout(600); // let the tiles paint a few frames
    await alice.page.screenshot({ path: join(artifacts, 'call-desktop.png') });
    await bob.page.setViewportSize({ width: 390, height: 844 });
    await bob.page.click('#side-close'); // Bob's chat was open: close it to show the grid
    await waitFor('Bob’s panel closed', () => bob.page.evaluate(() => document.querySelector('#side').hidden));
    await bob.page.waitForTimeout(600);
    await bob.page.screenshot({ path: join(artifacts, 'call-phone.png') });
    await bob.page.click('#btn-chat');
    await bob.page.waitForTimeout(300);
    await bob.page.screenshot({ path: join(artifacts, 'call-phone-chat.png') });
    await bob.page.click('#side-close');
    await bob.page.setViewportSize({ width: 1280, height: 800 });
    return 'tests/artifacts/call-desktop.png, call-phone.png, call-phone-chat.png';
  });

  await check('screen share reaches the others and stops', async () => {
    await alice.page.click('#btn-screen');
    await alice.page.locator('#tile-self-screen').waitFor({ timeout: 5000 });
    const sizes = (p) =>
      p.page.evaluate((id) => {
        const v = (sel) => document.querySelector(sel)?.querySelector('video');
        const screen = v(`.tile[data-screen-of="${id}"]`);
        const cam = v(`.tile[data-participant="${id}"]`);
        return { screen: screen ? `${screen.videoWidth}x${screen.videoHeight}` : null, camera: cam ? `${cam.videoWidth}x${cam.videoHeight}` : null };
      }, alice.identity);
    for (const p of [bob, erin]) {
      await waitFor(`${p.name} shows Alice's screen`, async () => {
        const s = await sizes(p);
        return s.screen && !s.screen.startsWith('0x') && s.screen !== s.camera && s;
      }, { timeout: 15_000 });
    }
    const seen = await sizes(bob);
    await bob.page.waitForTimeout(500);
    await bob.page.screenshot({ path: join(artifacts, 'call-desktop-presenting.png') });
    await alice.page.click('#btn-screen');
    for (const p of [bob, erin]) {
      await waitFor(`${p.name} drops Alice's screen`, async () => (await p.page.locator(`.tile[data-screen-of="${alice.identity}"]`).count()) === 0, { timeout: 5000 });
    }
    return `Bob sees screen ${seen.screen}, camera ${seen.camera}; tests/artifacts/call-desktop-presenting.png`;
  });

  await check('the room connection comes back after a drop, with the chat it missed', async () => {
    await alice.page.evaluate(() => window.origo.state.ws.close(4000, 'test: drop'));
    if (await bob.page.locator('#chat-input').isHidden()) await bob.page.click('#btn-chat');
    await bob.page.fill('#chat-input', 'Said while Alice was away');
    await bob.page.press('#chat-input', 'Enter');
    await waitFor('Alice reconnected', () => alice.page.evaluate(() => document.body.dataset.state === 'connected' && window.origo.state.wsJoined), { timeout: 10_000 });
    await alice.page.locator('#chat-log .msg', { hasText: 'Said while Alice was away' }).waitFor({ state: 'attached', timeout: 5000 });
    if ((await tileCount(bob, alice)) !== 1) throw new Error('Bob lost Alice’s tile');
  });

  await check('the media session is rebuilt after it fails, and video flows again', async () => {
    const before = (await stats(bob))[alice.identity]?.framesDecoded || 0;
    await alice.page.evaluate(() => window.origo.restartMedia('test: transport lost'));
    await waitFor('Alice connected again', () => alice.page.evaluate(() => document.body.dataset.state === 'connected' && window.origo.state.mediaConnected), { timeout: 15_000 });
    await seesVideoOf(alice, [bob, erin]);
    // Bob receives Alice's new tracks (a new stream) and shows them in her tile.
    await waitFor('Bob showing Alice’s new video in her tile', async () => {
      const newest = await bob.page.evaluate((id) => {
        const recs = [...window.origo.state.remote.values()].filter((r) => r.identity === id && r.kind === 'video');
        const latest = recs.sort((a, b) => b.at - a.at)[0];
        const shown = document.querySelector(`.tile[data-participant="${id}"] video`)?.srcObject?.getVideoTracks()[0];
        return recs.length >= 2 && latest && shown === latest.track && latest.live;
      }, alice.identity);
      const s = await stats(bob);
      return newest && s[alice.identity]?.framesDecoded > before + 10;
    }, { timeout: 15_000 });
  });

  await check(`join → first remote video frame, ${SAMPLES} fresh joiners`, async () => {
    // Measured against one publisher (Alice), so the two-core machine measures the path, not
    // how many decoders it can run at once.
    await leave(erin);
    await leave(bob);
    const samples = [];
    for (let i = 0; i < SAMPLES; i++) {
      const p = await joinAs(`Sample ${i + 1}`);
      const ms = await firstFrameMs(p);
      const t = await p.page.evaluate(() => window.origoTimings);
      samples.push(ms);
      const at = (k) => (t[k] === undefined ? '-' : Math.round(t[k] - t.joinStart));
      note(`sample ${i + 1}: ${ms} ms (joined ${at('joined')}, offer ${at('offerReady')}, session ${at('sessionCreated')}, connected ${at('mediaConnected')}, subscribed ${at('subscribed')}, track ${at('firstRemoteTrack')}, camera ${at('mediaReady')})`);
      await leave(p);
    }
    firstFrames.samples = samples;
    return `p50 ${median(samples)} ms`;
  });

  await check('the service worker shows what web push delivers (DevTools push delivery)', async () => {
    // Offline Chromium reaches no real push service: DevTools hands the worker the payload
    // the push service would have decrypted, in the form Origo sends ({kind, title, body, url}).
    const context = await browser.newContext();
    try {
      await context.grantPermissions(['notifications'], { origin: base });
      const page = await context.newPage();
      await page.goto(`${base}/`);
      const cdp = await context.newCDPSession(page);
      const registrations = new Map();
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: rs }) => rs.forEach((r) => registrations.set(r.registrationId, r)));
      await cdp.send('ServiceWorker.enable');
      const state = await page.evaluate(async () => {
        const r = await navigator.serviceWorker.register('/web/sw.js', { scope: '/web/' });
        const w = r.active || r.installing || r.waiting;
        if (w.state !== 'activated') await new Promise((ok) => w.addEventListener('statechange', () => w.state === 'activated' && ok()));
        return w.state;
      });
      if (state !== 'activated') throw new Error(`worker ${state}`);
      const reg = await waitFor('the worker in DevTools', () => [...registrations.values()].find((r) => r.scopeURL === `${base}/web/` && !r.isDeleted));
      const shown = () => page.evaluate(async () => {
        const r = await navigator.serviceWorker.getRegistration('/web/');
        return (await r.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data?.url }));
      });
      const payload = { kind: 'meeting_reminder', title: 'Starting in 10 minutes: Standup', body: '"Standup" starts in 10 minutes.', url: `${base}/?room=standup` };
      // A message DevTools hands a worker that is still starting can be dropped (seen under
      // load): deliver it again, up to four times, until it shows. The same tag replaces it.
      const deliver = async (data, tag, what) => {
        for (let attempt = 1; ; attempt++) {
          await cdp.send('ServiceWorker.deliverPushMessage', { origin: base, registrationId: reg.registrationId, data });
          try {
            return await waitFor(what, async () => (await shown()).find((n) => n.tag === tag), { timeout: 5_000 });
          } catch (e) {
            if (attempt === 4) throw e;
          }
        }
      };
      const first = await deliver(JSON.stringify(payload), 'meeting_reminder', 'the reminder shown');
      if (first.title !== payload.title || first.body !== payload.body || first.url !== payload.url) throw new Error(`shown ${JSON.stringify(first)}`);
      // Anything but Origo's JSON is shown as plain text under the name "Origo".
      const plain = await deliver('not json', 'origo', 'the plain message shown');
      if (plain.title !== 'Origo' || plain.body !== 'not json') throw new Error(`shown ${JSON.stringify(plain)}`);
      return `"${first.title}" with its link, and a plain-text message`;
    } finally {
      await context.close();
    }
  });

  await check('a killed media node: its participants are moved and decoding again within seconds', async () => {
    // An origo of its own with no media node inside and media nodes in one region, with the
    // registry's default staleness (15 s): the move must come from the participants' reports
    // and the room's probe, not from missed heartbeats. KILLS kills (tests/bench/failover takes
    // 10), each of the node the room is on, which is then started again.
    const dir = mkdtempSync(join(tmpdir(), 'origo-move-'));
    scratchDirs.push(dir);
    const people = [];
    const kills = Number(process.env.KILLS || 1);
    try {
      const url = await startOwnOrigo('origo-move', dir, ['--media-listen', 'off']);
      const vars = JSON.parse(readFileSync(join(dir, 'data', 'dev-variables.json'), 'utf8'));
      const nodes = new Map();
      let starts = 0;
      const startNode = async (id) => {
        const n = launch(`origo-${id}-${starts++}`, MEDIA_NODE_BIN, [
          '--listen', '127.0.0.1:0',
          '--udp', '127.0.0.1:0',
          '--node-id', id,
          '--region', 'eu-west',
          '--edge-url', url,
          '--node-secret', vars.node_secret,
          '--token-signing-keys', vars.token_signing_keys,
          '--state-dir', join(dir, id),
          '--shards', '1',
        ]);
        n.udp = (await outputMatch(n, /origo-media-node listening on \S+ \(udp (\S+)\)/))[1];
        await outputMatch(n, /registered with the edge/);
        nodes.set(id, n);
      };
      for (const id of kills > 1 ? ['media-a', 'media-b', 'media-c'] : ['media-a', 'media-b']) await startNode(id);
      const inRoom = `${room}-move`;
      for (const name of ['Mia', 'Noah']) people.push(await joinAs(name, { at: url, inRoom }));
      const [mia, noah] = people;
      const pairs = [[mia, noah], [noah, mia]];
      for (const [p, o] of pairs) await seesVideoOf(p, [o]);
      const samples = [];
      let told = [];
      for (let k = 0; k < kills; k++) {
        const on = await Promise.all(people.map((p) => p.page.evaluate(() => window.origo.state.join.media.node_id)));
        if (on[0] !== on[1] || !nodes.has(on[0])) throw new Error(`the participants are on ${on.join(' and ')}`);
        const from = on[0];
        for (const p of people) {
          const t = await p.page.evaluate(() => window.origoTransport());
          if (t?.remoteAddress !== nodes.get(from).udp) throw new Error(`${p.name}'s media goes to ${t?.remoteAddress}, not ${from} (${nodes.get(from).udp})`);
        }
        const movesBefore = people.map((p) => p.moves.length);
        const killedAt = Date.now();
        nodes.get(from).proc.kill('SIGKILL');
        note(`move: killed ${from}`);
        // The coordinator tells each of them to go to a node still running...
        for (const [i, p] of people.entries()) {
          const m = await waitFor(`${p.name} told to move off ${from}`, () => p.moves[movesBefore[i]], { timeout: 30_000, interval: 50 });
          if (m.msg.media?.node_id === from || !nodes.has(m.msg.media?.node_id)) throw new Error(`${p.name} was told to move to ${JSON.stringify(m.msg.media)}`);
          note(`move: ${p.name} told to move after ${m.at - killedAt} ms: ${JSON.stringify(m.msg)}`);
        }
        const to = people[0].moves[movesBefore[0]].msg.media.node_id;
        told.push(Math.max(...people.map((p, i) => p.moves[movesBefore[i]].at)) - killedAt);
        // ... and each is back, on that node, decoding the other's video.
        await waitFor(`both connected through ${to} and decoding each other`, async () => {
          for (const [p, o] of pairs) {
            const here = await p.page.evaluate(() => ({
              media: window.origo.state.mediaConnected,
              node: window.origo.state.join.media.node_id,
            }));
            if (!here.media || here.node !== to) return false;
            if (!((await stats(p))[o.identity]?.framesDecoded > 0)) return false;
          }
          return true;
        }, { timeout: 40_000, interval: 50 });
        samples.push(Date.now() - killedAt);
        note(`move: video decoding through ${to} ${samples.at(-1)} ms after ${from} was killed`);
        for (const [p, o] of pairs) {
          const t = await p.page.evaluate(() => window.origoTransport());
          if (t?.remoteAddress !== nodes.get(to).udp) throw new Error(`${p.name}'s media goes to ${t?.remoteAddress}, not ${to} (${nodes.get(to).udp})`);
        }
        nodes.delete(from);
        if (k + 1 < kills) await startNode(from);
      }
      for (const [p, o] of pairs) {
        const before = (await stats(p))[o.identity].framesDecoded;
        await waitFor(`${p.name}'s tile showing ${o.name}'s video, decoded frames growing`, async () => {
          const shown = await p.page.evaluate((id) => {
            const recs = [...window.origo.state.remote.values()].filter((r) => r.identity === id && r.kind === 'video');
            const v = document.querySelector(`.tile[data-participant="${id}"] video`);
            const track = v?.srcObject?.getVideoTracks()[0];
            return recs.some((r) => r.track === track && r.live && track.readyState === 'live') && v.videoWidth > 0;
          }, o.identity);
          return shown && (await stats(p))[o.identity]?.framesDecoded > before + 10;
        }, { timeout: 15_000 });
      }
      console.log(`failover: kill → frames decoding again (ms): samples [${samples.join(', ')}] p50 ${median(samples)} max ${Math.max(...samples)}; told to move (ms): [${told.join(', ')}]`);
      return `${kills} kill(s): told to move in ${told.join(', ')} ms → video decoding again in ${samples.join(', ')} ms`;
    } finally {
      for (const p of people) await p.context.close().catch(() => {});
      await stopLaunched();
    }
  });

  await check('a page served over https reaches its media node over https (no mixed content)', async () => {
    // The deployment operators run: TLS ends at a proxy in front of origo (here one of the
    // test's, https://origo.test:P), and the media node serves its control API over TLS with a
    // certificate for media.origo.test, which it advertises. The browser resolves *.origo.test
    // to 127.0.0.1 (BROWSER_ARGS) and ignores that the test's CA is not one it knows; mixed
    // content rules are its own: a page on https may not call http://media.origo.test.
    const dir = mkdtempSync(join(tmpdir(), 'origo-https-'));
    scratchDirs.push(dir);
    const people = [];
    let proxy = null;
    try {
      const cert = testCertificate(dir, ['media.origo.test', 'origo.test']);
      let edgePort = 0;
      proxy = await httpsProxy(cert, () => edgePort);
      const site = `https://origo.test:${proxy.address().port}`;
      const url = await startOwnOrigo('origo-https', dir, ['--media-listen', 'off', '--var', `public_url=${site}`], { env: { SSL_CERT_FILE: cert.ca } });
      edgePort = Number(new URL(url).port);
      const vars = JSON.parse(readFileSync(join(dir, 'data', 'dev-variables.json'), 'utf8'));
      const node = launch('origo-https-node', MEDIA_NODE_BIN, [
        '--listen', '127.0.0.1:0',
        '--udp', '127.0.0.1:0',
        '--node-id', 'media-tls',
        '--edge-url', url,
        '--node-secret', vars.node_secret,
        '--token-signing-keys', vars.token_signing_keys,
        '--state-dir', join(dir, 'node'),
        '--shards', '1',
        '--tls-cert', cert.cert,
        '--tls-key', cert.key,
      ]);
      const control = (await outputMatch(node, /origo-media-node listening on (\S+) \(udp/))[1];
      if (!control.startsWith('https://media.origo.test:')) throw new Error(`the node advertises ${control}`);
      await outputMatch(node, /registered with the edge/);
      const inRoom = `${room}-https`;
      for (const name of ['Ines', 'Omar']) people.push(await joinAs(name, { at: site, inRoom, ignoreHTTPSErrors: true }));
      const [ines, omar] = people;
      for (const [p, o] of [[ines, omar], [omar, ines]]) await seesVideoOf(p, [o]);
      const seen = await ines.page.evaluate(async (control) => {
        const plain = control.replace('https://', 'http://');
        const attempt = (u) => fetch(`${u}/health`).then((r) => `${r.status}`, (e) => `refused: ${e.message}`);
        return { session: window.origo.state.join.media.session_url, tls: await attempt(control), plain: await attempt(plain), page: location.protocol };
      }, control);
      note(`https: ${JSON.stringify(seen)}`);
      if (seen.page !== 'https:' || !seen.session.startsWith(`${control}/`)) throw new Error(`page on ${seen.page}, session at ${seen.session}`);
      if (seen.tls !== '200') throw new Error(`the node over https answered ${seen.tls}`);
      // The browser's own rule, shown: the same node over plain http is not callable from here.
      if (!seen.plain.startsWith('refused')) throw new Error(`http://media.origo.test from an https page gave ${seen.plain}`);
      return `session at ${seen.session}; plain http from the page: ${seen.plain}`;
    } finally {
      for (const p of people) await p.context.close().catch(() => {});
      proxy?.close();
      proxy?.closeAllConnections?.();
      await stopLaunched();
    }
  });

  // An organisation's plan running out: an origo of its own whose organisations are on a plan
  // of one participant-minute a month (meeting links keep a plan without limits), rooms
  // billing every half second and ending a meeting 5 s after its warning.
  let quota = null;
  await check('a meeting that uses up its organisation’s minutes shows a countdown, then ends for good', async () => {
    quota = await startQuotaOrigo();
    const [ana, ben] = [await joinAsMember(quota, 'Ana'), await joinAsMember(quota, 'Ben')];
    // Two participants bill the minute in some 30 s; then the room warns everyone.
    const banner = await waitFor('the minutes warning', async () => {
      const b = await Promise.all([ana, ben].map((p) => p.page.evaluate(() => {
        const el = document.querySelector('#usage-banner');
        return !el.hidden && { role: el.getAttribute('role'), countdown: el.querySelector('#usage-countdown').textContent, text: el.innerText, clock: document.querySelector('#usage-clock-text').textContent };
      })));
      return b.every(Boolean) && b[0];
    }, { timeout: 60_000, interval: 200 });
    if (banner.role !== 'alert' || !/^The meeting ends in 0:0\d$/.test(banner.countdown) || !/participant-minutes/.test(banner.text) || !/^Ends in 0:0\d$/.test(banner.clock)) {
      throw new Error(`banner ${JSON.stringify(banner)}`);
    }
    await ana.page.screenshot({ path: join(artifacts, 'minutes-used-up.png') });
    // Dismissed, the countdown stays in the header.
    await ana.page.click('#usage-dismiss');
    const clock = await ana.page.evaluate(() => !document.querySelector('#usage-clock').hidden && document.querySelector('#usage-banner').hidden && document.querySelector('#usage-clock-text').textContent);
    if (!clock || !/^(Ends in 0:0\d|Ending…)$/.test(clock)) throw new Error(`after dismissing, the header shows ${JSON.stringify(clock)}`);
    // Close code 4402: the end screen, and no reconnecting.
    for (const p of [ana, ben]) {
      await waitFor(`${p.name}'s end screen`, () => p.page.evaluate(() => document.body.dataset.state === 'left' && !document.querySelector('#ended').hidden), { timeout: 15_000 });
      const reason = await p.page.textContent('#ended-reason');
      if (reason !== 'The meeting ended: this organisation has used its monthly minutes.') throw new Error(`${p.name} reads “${reason}”`);
    }
    const sockets = ana.sockets;
    await new Promise((r) => setTimeout(r, 2500));
    const after = await ana.page.evaluate(() => document.body.dataset.state);
    if (after !== 'left' || ana.sockets !== sockets) throw new Error(`after the end: state ${after}, ${ana.sockets - sockets} new room connections`);
    quota.ana = ana;
    await ben.context.close();
    return `“${banner.countdown}” with the room's message, then the end screen`;
  });

  await check('a used-up plan is explained in words', async () => {
    if (!quota?.ana) throw new Error('no organisation with its minutes used up (the check before failed)');
    const { page } = quota.ana;
    // Rejoining from the end screen is refused with a 402 naming participant_minutes.
    await page.click('#rejoin');
    await waitFor('the join refused', () => page.evaluate(() => document.body.dataset.state === 'failed'), { timeout: 15_000 });
    const said = await page.locator('#call-problem').innerText({ timeout: 2000 });
    if (!/participant-minutes/.test(said) || !/operator/.test(said) || !(await page.isVisible('#call-problem'))) throw new Error(`the page says “${said}”`);
    await page.screenshot({ path: join(artifacts, 'plan-used-up.png') });
    await quota.ana.context.close();
    // Meeting links on the same server have no such limit.
    const guest = await joinAs('Link guest', { at: quota.url, inRoom: `${room}-link` });
    await leave(guest);
    return `“${said}”; a meeting link still joins`;
  });
  await stopLaunched();

  // What the join → first frame figures are.
  const s = firstFrames.samples || [];
  console.log(
    `join → first remote frame (ms): Bob ${firstFrames.Bob ?? '-'}, Carol ${firstFrames.Carol ?? '-'}, Dave ${firstFrames.Dave ?? '-'}; ` +
      `samples [${s.join(', ')}] p50 ${s.length ? median(s) : '-'} min ${s.length ? Math.min(...s) : '-'} max ${s.length ? Math.max(...s) : '-'}`,
  );
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  console.log(`FAIL  setup: ${e.message}`);
  note(e.stack);
  results.push({ name: 'setup', ok: false });
} finally {
  await browser?.close().catch(() => {});
  await stopLaunched().catch(() => {});
  await stopOrigo().catch(() => {});
  exitCode = tally('browser');
  log.end();
}
process.exit(exitCode);
