// The load run across the simulated regions: started by tests/bench/load through
// tests/browser/regions (which makes the namespaces and the link emulator, and runs this file in
// the edge's namespace). `origo dev` on the edge's address and a media node in each region's
// data centre, as for the regions checks; then, per step, the load generators in each region's
// users namespace at once:
//
// * origo-chat-load: WebSocket participants signed in as guests and joined through the edge's
//   API, 10 per room, 2 of them chatting once a second; every member must get every message;
// * origo-media-load: rooms of 5 str0m participants on their region's node, each publishing
//   synthetic VP8 at 300 kbit/s and Opus-sized audio and receiving the 4 others.
//
// The full load is 1,000 WebSocket participants in 100 rooms and 200 media participants in 40
// rooms, spread evenly over the regions; LOAD_STEPS (JSON, fractions of it, default
// [0.25,0.5,0.75,1]) are run one after another, LOAD_SECONDS (default 20) each. Counting
// starts at the same moment for every generator of a step. CPU is each process's user+system
// time over the counted window (the edge, the nodes, the emulator, the generators) and the
// machine's busy share. Prints `load step: {…}` per step and `load figures: {…}` at the end.
//
// Environment: ORIGO_REGIONS, ORIGO_EMULATOR_PID (from tests/browser/regions), ORIGO_BIN,
// ORIGO_MEDIA_NODE_BIN, ORIGO_CHAT_LOAD_BIN, ORIGO_MEDIA_LOAD_BIN.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, note, openLog, scratchDirs, stopLaunched } from './harness.mjs';
import { inNs, startEdge, startMediaNode } from './regions-platform.mjs';

const plan = JSON.parse(process.env.ORIGO_REGIONS);
const CHAT_LOAD = process.env.ORIGO_CHAT_LOAD_BIN;
const MEDIA_LOAD = process.env.ORIGO_MEDIA_LOAD_BIN;
const STEPS = JSON.parse(process.env.LOAD_STEPS || '[0.25,0.5,0.75,1]');
const SECONDS = Number(process.env.LOAD_SECONDS || 20);
const FULL = { chatRooms: 100, chatMembers: 10, chatSenders: 2, mediaRooms: 40, mediaSize: 5, kbps: 300 };
const log = openLog('regions-load.log');
const HZ = 100; // USER_HZ: the clock ticks of /proc/<pid>/stat

/** User+system clock ticks of process `pid` (0 when it is gone). */
function ticks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** The machine's busy and total clock ticks since boot (/proc/stat's first line). */
function machine() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

/** Splits `n` rooms over the regions as evenly as possible (the first ones get one more). */
const share = (n) => plan.regions.map((_, i) => Math.floor(n / plan.regions.length) + (i < n % plan.regions.length ? 1 : 0));

/** The JSON line a generator printed. */
function lastJson(p) {
  const line = p.output.split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${p.label} printed no result: ${p.output.slice(-400)}`);
  return JSON.parse(line);
}

async function step(fraction, i, edge, nodes) {
  const chatRooms = share(Math.round(FULL.chatRooms * fraction));
  const mediaRooms = share(Math.round(FULL.mediaRooms * fraction));
  // Every generator counts from the same moment, once the slowest has set up (a media room
  // takes about 2 s: five sessions, then the mesh's renegotiations).
  const setupMs = 15_000 + 2_500 * Math.max(...mediaRooms);
  const startAt = Date.now() + setupMs;
  const gens = [];
  for (const [k, r] of plan.regions.entries()) {
    if (chatRooms[k] > 0) {
      gens.push({ kind: 'chat', region: r.id, proc: launch(`load-${i}-chat-${r.short}`, 'ip', inNs(r.users.ns, CHAT_LOAD, [
        '--url', edge.url, '--rooms', String(chatRooms[k]), '--members', String(FULL.chatMembers),
        '--senders', String(FULL.chatSenders), '--rate', '1', '--duration', String(SECONDS),
        '--room-prefix', `chat-${i}-${r.short}`, '--start-at', String(startAt),
      ])) });
    }
    if (mediaRooms[k] > 0) {
      const n = nodes.get(r.id);
      gens.push({ kind: 'media', region: r.id, proc: launch(`load-${i}-media-${r.short}`, 'ip', inNs(r.users.ns, MEDIA_LOAD, [
        '--base', `http://${n.control}`, '--node-id', `media-${r.short}`,
        '--token-signing-keys', edge.vars.token_signing_keys, '--client-ip', r.users.addr,
        '--rooms', String(mediaRooms[k]), '--publishers', String(FULL.mediaSize), '--subscribers', '0', '--mesh',
        '--audio', '--kbps', String(FULL.kbps), '--duration', String(SECONDS),
        '--room-prefix', `media-${i}-${r.short}`, '--start-at', String(startAt),
      ])) });
    }
  }
  const pids = {
    edge: [edge.proc.proc.pid],
    nodes: [...nodes.values()].map((n) => n.proc.pid),
    emulator: [Number(process.env.ORIGO_EMULATOR_PID)].filter(Boolean),
    chat_generators: gens.filter((g) => g.kind === 'chat').map((g) => g.proc.proc.pid),
    media_generators: gens.filter((g) => g.kind === 'media').map((g) => g.proc.proc.pid),
  };
  const sample = () => ({ at: Date.now(), procs: Object.fromEntries(Object.entries(pids).map(([k, v]) => [k, v.reduce((a, p) => a + ticks(p), 0)])), machine: machine() });
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  const from = sample();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const to = sample();
  await Promise.all(gens.map((g) => g.proc.exited));
  const failed = gens.filter((g) => g.proc.exit !== 0);
  if (failed.length) throw new Error(`${failed.map((g) => g.proc.label).join(', ')} failed: ${failed[0].proc.output.slice(-400)}`);
  const seconds = (to.at - from.at) / 1000;
  const cpu = Object.fromEntries(Object.keys(pids).map((k) => [k, Number(((to.procs[k] - from.procs[k]) / HZ / seconds * 100).toFixed(1))]));
  cpu.machine_busy = Number(((to.machine.busy - from.machine.busy) / (to.machine.total - from.machine.total) * 100).toFixed(1));
  const results = gens.map((g) => ({ kind: g.kind, region: g.region, ...lastJson(g.proc) }));
  const chats = results.filter((r) => r.kind === 'chat');
  const medias = results.filter((r) => r.kind === 'media');
  const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
  const worst = (xs, f) => Math.max(0, ...xs.map(f));
  const late = results.filter((r) => r.late_ms > 0).map((r) => `${r.kind}/${r.region} ${r.late_ms} ms`);
  const out = {
    fraction,
    seconds: Number(seconds.toFixed(1)),
    chat: {
      rooms: sum(chats, (c) => c.rooms), members: sum(chats, (c) => c.members),
      sent: sum(chats, (c) => c.sent), expected: sum(chats, (c) => c.expected), delivered: sum(chats, (c) => c.delivered),
      by_region: Object.fromEntries(chats.map((c) => [c.region, { p50: c.latency_ms.p50, p99: c.latency_ms.p99, max: c.latency_ms.max, join_p99: c.join_ms.p99 }])),
    },
    media: {
      rooms: sum(medias, (m) => m.rooms), participants: sum(medias, (m) => m.rooms * m.publishers),
      frames_expected: sum(medias, (m) => m.frames_expected), frames_received: sum(medias, (m) => m.frames_received),
      audio_expected: sum(medias, (m) => m.audio.frames_expected), audio_received: sum(medias, (m) => m.audio.frames_received),
      by_region: Object.fromEntries(medias.map((m) => [m.region, { p50: m.latency_ms.p50, p99: m.latency_ms.p99, max: m.latency_ms.max, audio_p99: m.audio.latency_ms.p99, loss: m.loss }])),
      worst_p99: worst(medias, (m) => m.latency_ms.p99),
    },
    cpu,
    late,
  };
  out.chat.loss = out.chat.expected ? 1 - out.chat.delivered / out.chat.expected : 0;
  out.media.loss = out.media.frames_expected ? 1 - out.media.frames_received / out.media.frames_expected : 0;
  out.media.audio_loss = out.media.audio_expected ? 1 - out.media.audio_received / out.media.audio_expected : 0;
  out.chat.worst_p99 = worst(chats, (c) => c.latency_ms.p99);
  return out;
}

const figures = { steps: [], loss_percent: Number(process.env.LOSS_PERCENT || 0), full: FULL };
let exitCode = 0;
try {
  const dir = mkdtempSync(join(tmpdir(), 'origo-load-'));
  scratchDirs.push(dir);
  // Every member signs in and joins from its region's one address: no per-address limits.
  const edge = await startEdge(plan, dir, {
    vars: ['rate_guest_per_minute=0', 'rate_join_per_minute=0', 'rate_join_identity_per_minute=0'],
  });
  const nodes = new Map();
  for (const r of plan.regions) nodes.set(r.id, await startMediaNode(r, edge, dir, { capacity: 1000 }));
  for (const [i, f] of STEPS.entries()) {
    note(`step ${i}: ${f} of the full load`);
    const s = await step(f, i, edge, nodes);
    figures.steps.push(s);
    console.log(`load step: ${JSON.stringify(s)}`);
  }
} catch (e) {
  console.log(`FAIL  load: ${e.message}`);
  note(e.stack);
  exitCode = 1;
} finally {
  await stopLaunched().catch(() => {});
  console.log(`load figures: ${JSON.stringify(figures)}`);
  log.end();
}
process.exit(exitCode);
