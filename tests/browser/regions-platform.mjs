// The platform of the simulated regions (tests/browser/regions makes the namespaces and the
// link emulator between them): `origo dev` (no media inside) on the edge's address, and in
// each region's data-centre namespace an origo-media-node and an origo-turn heartbeating to it
// across the emulated links. Used by the regions checks (regions.test.mjs) and the load run
// (regions-load.mjs).

import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, note, outputMatch, repo } from './harness.mjs';

export const ORIGO_BIN = process.env.ORIGO_BIN || join(repo, 'target/debug/origo');
export const MEDIA_NODE_BIN = process.env.ORIGO_MEDIA_NODE_BIN || join(repo, 'target/debug/origo-media-node');
export const TURN_BIN = process.env.ORIGO_TURN_BIN || join(repo, 'target/debug/origo-turn');

// `ip netns exec NS BIN ARGS…`: the process runs in that namespace (and is the process spawned).
export const inNs = (ns, bin, args) => ['netns', 'exec', ns, bin, ...args];

/** Starts the edge in this (the edge's) namespace; `vars` are more `--var` settings. Gives
 * `{url, vars, proc}`, `vars` being the deployment's generated secrets. */
export async function startEdge(plan, dir, { vars = [] } = {}) {
  const proc = launch('regions-origo', ORIGO_BIN, [
    'dev', '--no-build',
    '--listen', `${plan.edge.addr}:0`,
    '--data-dir', join(dir, 'data'),
    '--cache-dir', join(tmpdir(), 'origo-browser-test-components'),
    '--manifest', join(repo, 'spin.toml'),
    '--turn-listen', 'off',
    '--media-listen', 'off',
    // Every users namespace stands behind the CDN of its region: its X-Origo-Geo is believed.
    '--var', `trusted_proxies=${plan.network}`,
    ...vars.flatMap((v) => ['--var', v]),
  ]);
  const url = (await outputMatch(proc, /origo listening on (http:\/\/\S+)/, { timeout: 60_000 }))[1];
  const secrets = JSON.parse(readFileSync(join(dir, 'data', 'dev-variables.json'), 'utf8'));
  note(`origo at ${url}`);
  return { url, vars: secrets, proc };
}

/** Starts region `r`'s media node (`media-<short>`), registered with `edge`; gives the process
 * with its `control` and `udp` addresses. */
export async function startMediaNode(r, edge, dir, { capacity, shards = 1 }) {
  const id = `media-${r.short}`;
  const n = launch(`regions-${id}`, 'ip', inNs(r.dc.ns, MEDIA_NODE_BIN, [
    '--listen', `${r.dc.addr}:0`, '--udp', `${r.dc.addr}:0`,
    '--node-id', id, '--region', r.id, '--edge-url', edge.url,
    '--node-secret', edge.vars.node_secret, '--token-signing-keys', edge.vars.token_signing_keys,
    '--state-dir', join(dir, id), '--shards', String(shards), '--capacity', String(capacity),
  ]));
  const m = await outputMatch(n, /origo-media-node listening on http:\/\/(\S+) \(udp (\S+)\)/);
  n.control = m[1];
  n.udp = m[2];
  await outputMatch(n, /registered with the edge/);
  return n;
}

/** Starts region `r`'s TURN server (`turn-<short>`) on port 3478 of its data centre. */
export async function startTurn(plan, r, edge, dir) {
  const t = launch(`regions-turn-${r.short}`, 'ip', inNs(r.dc.ns, TURN_BIN, [
    '--listen', `${r.dc.addr}:3478`, '--relay-ip', r.dc.addr, '--allowed-peer-ip', plan.network,
    '--auth-secret', edge.vars.turn_secret, '--metrics-listen', `${r.dc.addr}:0`, '--data-dir', join(dir, `turn-${r.short}`),
    '--registry', edge.url, '--node-token', edge.vars.node_secret, '--node-id', `turn-${r.short}`, '--region', r.id,
  ]));
  await outputMatch(t, /registered with the edge/, { timeout: 30_000 });
  return t;
}
