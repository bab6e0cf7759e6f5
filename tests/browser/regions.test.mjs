// Origo across three regions on one machine, in Chromium: started by tests/browser/regions,
// which makes the network namespaces and the link emulator between them and runs this file
// inside the edge's namespace. Here: `origo dev` (no media inside) on the edge's address, one
// origo-media-node and one origo-turn in each region's data-centre namespace, heartbeating to
// it across the emulated links, and one Chromium per region in that region's users namespace,
// its requests carrying a trusted proxy's `X-Origo-Geo` for a city there.
//
// Environment (set by tests/browser/regions): ORIGO_REGIONS (JSON: the edge's address, and for
// each region its id, city, data-centre and users namespaces and addresses, the Chromium
// wrapper that runs in the users namespace, and the one-way delays), ORIGO_BIN,
// ORIGO_MEDIA_NODE_BIN, ORIGO_TURN_BIN. Prints one line per check and `regions: N passed, M failed`.

import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BROWSER_ARGS, check, joinRoom, note, openLog, scratchDirs, stopLaunched, tally, waitFor, results } from './harness.mjs';
import { startEdge, startMediaNode, startTurn } from './regions-platform.mjs';

const plan = JSON.parse(process.env.ORIGO_REGIONS);
const log = openLog('regions-test.log');
const room = `regions-${Date.now().toString(36)}`;
const browsers = new Map();
// A region's media node takes this many sessions (the spill check fills the first region's).
const CAPACITY = 4;
// What the checks measured, printed as one `regions figures:` JSON line (tests/bench/regions).
const figures = { links: [], placement: [], spill: null, visitor: null, relay: null, turn_failover_ms: null, node_failover: null, hung_failover: null };

const oneWay = (a, b) => (a === b ? plan.intra_region_ms : plan.delays.find((d) => (d.a === a && d.b === b) || (d.a === b && d.b === a)).ms);
const stats = (p) => p.page.evaluate(() => window.origoStats());
const transport = (p) => p.page.evaluate(() => window.origoTransport());
const onNode = (p) => p.page.evaluate(() => window.origo.state.join?.media?.node_id);

// The least time a TCP connection from this namespace (the edge's) to addr:port takes to open,
// over `n` tries: one round trip across the emulated links.
async function connectRtt(host, port, n = 5) {
  const times = [];
  for (let i = 0; i < n; i++) {
    times.push(await new Promise((ok, fail) => {
      const t = process.hrtime.bigint();
      const s = connect({ host, port }, () => {
        ok(Number(process.hrtime.bigint() - t) / 1e6);
        s.destroy();
      });
      s.on('error', fail);
    }));
  }
  return Math.min(...times);
}

async function seesVideoOf(viewer, others, timeout = 30_000) {
  return waitFor(`${viewer.name} decoding video of ${others.map((o) => o.name).join(', ')}`, async () => {
    const s = await stats(viewer);
    return others.every((o) => s[o.identity]?.framesDecoded > 0) && s;
  }, { timeout });
}

// Waits until each of `people` (who had `before` moves) is told to move to node `to` (for a
// reason matching `why`, when given), then until `pair` decode each other there; gives the
// times from `since` (ms) to the last move and to both decoding.
async function movedAndDecoding(people, before, pair, to, since, why) {
  for (const [i, p] of people.entries()) {
    const m = await waitFor(`${p.name} told to move`, () => p.moves[before[i]], { timeout: 30_000, interval: 50 });
    if (m.msg.media?.node_id !== to) throw new Error(`${p.name} was told to move to ${JSON.stringify(m.msg.media)}`);
    if (why && !why.test(m.msg.reason)) throw new Error(`${p.name} was moved because ${m.msg.reason}`);
  }
  const told = Math.max(...people.map((p, i) => p.moves[before[i]].at)) - since;
  const [a, b] = pair;
  await waitFor(`both decoding each other on ${to}`, async () => {
    for (const [x, y] of [[a, b], [b, a]]) {
      if ((await onNode(x)) !== to) return false;
      if (!((await stats(x))[y.identity]?.framesDecoded > 0)) return false;
    }
    return true;
  }, { timeout: 40_000, interval: 50 });
  return { told, flowing: Date.now() - since };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'origo-regions-'));
  scratchDirs.push(dir);
  const edge = await startEdge(plan, dir);
  const { url } = edge;

  const nodes = new Map();
  const turns = new Map();
  for (const r of plan.regions) {
    nodes.set(r.id, await startMediaNode(r, edge, dir, { capacity: CAPACITY }));
    turns.set(r.id, await startTurn(plan, r, edge, dir));
  }
  for (const r of plan.regions) {
    browsers.set(r.id, await chromium.launch({
      executablePath: r.chromium,
      headless: !process.env.HEADED,
      // The page is plain http on a private address: let it use the camera as on https.
      args: [...BROWSER_ARGS, `--unsafely-treat-insecure-origin-as-secure=${url}`],
    }));
  }
  const [home, second, third] = plan.regions;
  const join_ = (r, name, inRoom, { extra = '', autojoin = false } = {}) =>
    joinRoom(browsers.get(r.id), name, { at: url, inRoom, extra, autojoin, headers: { 'X-Origo-Geo': r.geo } });

  await check('the link emulator holds each packet for the one-way delay between its regions', async () => {
    const seen = [];
    for (const r of plan.regions) {
      const [host, port] = nodes.get(r.id).control.split(':');
      const rtt = await connectRtt(host, Number(port));
      const want = 2 * oneWay(plan.edge.region, r.id);
      seen.push(`${r.id} ${rtt.toFixed(1)} ms (configured ${want})`);
      figures.links.push({ from: plan.edge.region, to: r.id, rtt_ms: Number(rtt.toFixed(1)), configured_ms: want });
      if (rtt < want || rtt > want + 25) throw new Error(`a round trip from the edge to ${r.id} took ${rtt.toFixed(1)} ms, configured ${want} ms`);
    }
    return `edge → ${seen.join(', ')}`;
  });

  const locals = new Map();
  await check('every participant is placed on its own region’s node, its region’s TURN server offered first', async () => {
    const seen = [];
    for (const r of plan.regions) {
      const p = await join_(r, `Local ${r.short}`, `${room}-${r.short}`);
      locals.set(r.id, p);
      const node = await onNode(p);
      if (node !== `media-${r.short}`) throw new Error(`${p.name} (${r.city}) was placed on ${node}`);
      const t = await waitFor(`${p.name}'s transport`, async () => { const t = await transport(p); return t?.remoteAddress && t.rttMs != null && t; });
      if (t.remoteAddress !== nodes.get(r.id).udp) throw new Error(`${p.name}'s media goes to ${t.remoteAddress}, not ${nodes.get(r.id).udp}`);
      // The round trip the browser measures (STUN consent checks) can catch a moment of load
      // on these 2 cores: the least over a few seconds of checks is the path's.
      const want = 2 * plan.intra_region_ms;
      let least = t.rttMs;
      await waitFor(`${p.name}'s round trip within ${want + 30} ms`, async () => {
        least = Math.min(least, (await transport(p))?.rttMs ?? Infinity);
        return least <= want + 30;
      }, { timeout: 8000, interval: 250 }).catch(() => {
        throw new Error(`${p.name}'s round trip to its node is at least ${least} ms (inside a region: ${want} ms)`);
      });
      t.rttMs = least;
      const urls = await p.page.evaluate(() => window.origo.state.join.ice_servers.flatMap((s) => s.urls));
      if (!urls[0]?.includes(`${r.dc.addr}:`)) throw new Error(`${p.name} is offered ${JSON.stringify(await p.page.evaluate(() => window.origo.state.join.ice_servers))}`);
      if (!urls.some((u) => plan.regions.some((o) => o.id !== r.id && u.includes(`${o.dc.addr}:`)))) throw new Error(`${p.name} is offered no TURN server in another region: ${urls.join(' ')}`);
      seen.push(`${r.city} → ${node} (rtt ${t.rttMs} ms)`);
      figures.placement.push({ city: r.city, region: r.id, node, region_of_node: r.id, rtt_ms: t.rttMs, turn_first: urls[0] });
    }
    return seen.join(', ');
  });

  let visitor = null;
  await check('a participant from another region joins a room opened elsewhere on its own region’s node; the nodes link and both see each other', async () => {
    const host = locals.get(home.id);
    visitor = await join_(second, `Visitor ${second.short}`, `${room}-${home.short}`);
    const node = await onNode(visitor);
    if (node !== `media-${second.short}`) throw new Error(`${visitor.name} (${second.city}) was placed on ${node}, not media-${second.short}`);
    if ((await onNode(host)) !== `media-${home.short}`) throw new Error(`the host moved to ${await onNode(host)}`);
    // Only the link between the two nodes carries each side's video to the other.
    for (const [a, b] of [[host, visitor], [visitor, host]]) await seesVideoOf(a, [b]);
    const t = await transport(visitor);
    figures.visitor = { city: second.city, room_of: home.city, node, rtt_ms: t.rttMs };
    return `${second.city} in ${home.city}'s room: on ${node}, round trip ${t.rttMs} ms`;
  });

  let relayed = null;
  await check('through TURN in its own region: a relay-only participant joins and both sides decode', async () => {
    const local = locals.get(third.id);
    relayed = await join_(third, `Relayed ${third.short}`, `${room}-${third.short}`, { extra: '&relay=1' });
    for (const [a, b] of [[local, relayed], [relayed, local]]) await seesVideoOf(a, [b]);
    const t = await transport(relayed);
    if (t.local !== 'relay' || !t.relayUrl?.includes(third.dc.addr)) throw new Error(`the relayed participant's pair is ${JSON.stringify(t)}`);
    figures.relay = { city: third.city, through: t.relayUrl, rtt_ms: t.rttMs };
    return `through ${t.relayUrl}, round trip ${t.rttMs} ms`;
  });

  // Kills the TURN server `relayed` goes through (its region's) and measures until its video
  // decodes again at `local` through the standby's TURN server; the node must stay.
  const turnFailover = async (relayed, local) => {
    // A relayed session keeps a standby transport to its node through another region's TURN.
    const standby = await waitFor('the relayed participant’s standby transport connected', async () => {
      const s = await relayed.page.evaluate(() => window.origoStandby());
      return s?.state === 'connected' && s;
    }, { timeout: 20_000 });
    if (standby.via.startsWith(`${third.dc.addr}:`)) throw new Error(`the standby goes through the same TURN server: ${standby.via}`);
    const killed = Date.now();
    turns.get(third.id).proc.kill('SIGKILL');
    // Moved once the relayed side's pair goes through another TURN server and the local side's
    // count of its decoded frames grows from one poll to the next (its new track counts anew).
    let prev = null;
    const t = await waitFor('the relayed participant on another TURN server, its video decoding on', async () => {
      const t = await transport(relayed);
      if (!t?.relayUrl || t.relayUrl.includes(third.dc.addr)) return false;
      const frames = (await stats(local))[relayed.identity]?.framesDecoded || 0;
      const grew = prev !== null && frames > prev;
      prev = frames;
      return grew && t;
    }, { timeout: 60_000, interval: 100 });
    const took = Date.now() - killed;
    if (!t.relayUrl.includes(standby.via)) throw new Error(`the session went on through ${t.relayUrl}, not its standby through ${standby.via}`);
    // The media node is healthy: the room's probe of it must not move anyone else off it.
    if ((await onNode(local)) !== `media-${third.short}`) throw new Error(`${local.name} was moved to ${await onNode(local)} when only a TURN server died`);
    return { took, through: t.relayUrl };
  };

  await check('its TURN server killed: the relay-only participant goes on over its standby through another region’s TURN', async () => {
    if (!relayed) throw new Error('no relayed participant (the check before failed)');
    const { took, through } = await turnFailover(relayed, locals.get(third.id));
    figures.turn_failover_ms = took;
    figures.turn_failover_to = through;
    figures.turn_failover_samples = [took];
    return `over its standby through ${through} after ${took} ms`;
  });

  // More kills (`TURN_KILLS`, tests/bench/regions): the TURN server started again, and a new
  // pair in a room of its own each time (one from Mumbai, one relay-only from Mumbai).
  const kills = Number(process.env.TURN_KILLS || 1);
  if (kills > 1 && figures.turn_failover_ms !== null) {
    await check(`${kills - 1} more TURN kills, a new pair each time`, async () => {
      // Leaving a page ends its sessions (pagehide), as closing the tab does, so the node (at
      // its capacity of CAPACITY sessions) has room for the next pair.
      const leave = async (p) => {
        await p?.page.goto('about:blank').catch(() => {});
        await p?.context.close();
      };
      await leave(relayed);
      relayed = null;
      await leave(locals.get(third.id));
      locals.delete(third.id);
      for (let i = 1; i < kills; i++) {
        turns.set(third.id, await startTurn(plan, third, edge, dir));
        const inRoom = `${room}-${third.short}-kill${i}`;
        const local = await join_(third, `Local ${third.short} ${i}`, inRoom);
        const relay = await join_(third, `Relayed ${third.short} ${i}`, inRoom, { extra: '&relay=1' });
        try {
          for (const [a, b] of [[local, relay], [relay, local]]) await seesVideoOf(a, [b]);
          const t = await transport(relay);
          if (!t.relayUrl?.includes(third.dc.addr)) throw new Error(`the relayed participant's pair is ${JSON.stringify(t)}`);
          figures.turn_failover_samples.push((await turnFailover(relay, local)).took);
        } catch (e) {
          throw new Error(`kill ${i + 1}: ${e.message}`);
        } finally {
          await leave(relay);
          await leave(local);
        }
      }
      const xs = [...figures.turn_failover_samples].sort((a, b) => a - b);
      return `${xs.length} kills: p50 ${xs[Math.floor(xs.length / 2)]} ms, max ${xs[xs.length - 1]} ms`;
    });
  }
  await relayed?.context.close();
  for (const r of [second, third]) await locals.get(r.id)?.context.close();

  await check('a full node: the next participant near it is placed in the next nearest region', async () => {
    // Receive-only participants in rooms of their own fill the home node (its links to other
    // nodes are not sessions that fill it); the one after the last that fits goes elsewhere.
    const fillers = [];
    try {
      let node = `media-${home.short}`;
      let sessions = 0;
      for (let i = 0; node === `media-${home.short}`; i++) {
        if (i > CAPACITY) throw new Error(`${CAPACITY + 1} fillers all placed on ${node}`);
        // The node's heartbeat says it is full at once (at most 250 ms later).
        if (i > 0) await new Promise((r) => setTimeout(r, 1000));
        sessions = (await (await fetch(`http://${nodes.get(home.id).control}/health`)).json()).sessions;
        const p = await join_(home, `Filler ${i}`, `${room}-fill-${i}`, { autojoin: true });
        fillers.push(p);
        node = await onNode(p);
      }
      const spilled = fillers.at(-1);
      if (sessions < CAPACITY) throw new Error(`${spilled.name} was placed on ${node} with ${home.id} holding ${sessions} of ${CAPACITY} sessions`);
      if (node !== `media-${second.short}`) throw new Error(`with ${home.id} full, ${spilled.name} (${home.city}) was placed on ${node}, not media-${second.short}`);
      figures.spill = { city: home.city, full: home.id, node };
      return `${home.id} full (${CAPACITY} sessions): ${home.city} → ${node}`;
    } finally {
      for (const p of fillers) await p.context.close();
    }
  });

  await check('a region’s node killed: its participants move to the next nearest region and decode again', async () => {
    const host = locals.get(home.id);
    if (!visitor) throw new Error('no cross-region room (the check before failed)');
    // The host is on the killed node; the visitor, on its own region's node, stays there.
    const people = [host];
    const before = people.map((p) => p.moves.length);
    const killed = Date.now();
    nodes.get(home.id).proc.kill('SIGKILL');
    const { told, flowing } = await movedAndDecoding(people, before, [host, visitor], `media-${second.short}`, killed);
    figures.node_failover = { killed: `media-${home.short}`, to: `media-${second.short}`, told_ms: told, decoding_ms: flowing };
    return `told to move after ${told} ms, decoding again after ${flowing} ms`;
  });

  await check('a region’s node hung (SIGSTOP): its participants move when the room’s probe gets no answer, and decode again', async () => {
    const host = locals.get(home.id);
    if (!visitor || (await onNode(host)) !== `media-${second.short}`) throw new Error('the room is not on the second region’s node (the check before failed)');
    // A hung node refuses nothing: the probe waits its whole deadline. Both lost their media,
    // so both move, long before the registry finds the node's heartbeats stale (15 s).
    const people = [host, visitor];
    const before = people.map((p) => p.moves.length);
    const hung = nodes.get(second.id).proc;
    const stopped = Date.now();
    hung.kill('SIGSTOP');
    try {
      const { told, flowing } = await movedAndDecoding(people, before, [host, visitor], `media-${third.short}`, stopped, /did not answer in time/);
      figures.hung_failover = { hung: `media-${second.short}`, to: `media-${third.short}`, told_ms: told, decoding_ms: flowing };
      return `told to move after ${told} ms, decoding again after ${flowing} ms`;
    } finally {
      hung.kill('SIGCONT');
    }
  });
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  console.log(`FAIL  setup: ${e.message}`);
  note(e.stack);
  results.push({ name: 'setup', ok: false });
} finally {
  for (const b of browsers.values()) await b.close().catch(() => {});
  await stopLaunched().catch(() => {});
  console.log(`regions figures: ${JSON.stringify(figures)}`);
  exitCode = tally('regions');
  log.end();
}
process.exit(exitCode);
