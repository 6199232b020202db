/**
 * LAN discovery on loopback (127.255.255.255 broadcast, N = 10 nodes on one machine):
 * - a newcomer joins 9 online nodes: time to its first peer and to all 9;
 * - 10 nodes come online together: time until every node has found every other;
 * - the responder's cost of checking one query against 100 announced networks.
 * Reference: a bare UDP broadcast query/echo round trip on the same loopback, and one
 * HMAC-SHA256 over 42 bytes.
 * Run: node --import tsx bench/lan-discovery.ts
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { pathToFileURL } from 'node:url';
import type { BenchRow } from './types.js';
import { LanDiscovery, type LanDiscoveryOptions } from '../plugins/lan-discovery/service.js';
import { decodePacket, deriveLanKey, encodeQuery, type LanQuery } from '../plugins/lan-discovery/packet.js';
import { Responder } from '../plugins/lan-discovery/responder.js';
import { createStats } from '../plugins/lan-discovery/stats.js';

const NODES = 10;
const ROUNDS = 5;
const WAIT_LIMIT_MS = 10_000;
const QUIET = { warn: () => {}, debug: () => {} };

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '0.0.0.0', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function options(port: number): Partial<LanDiscoveryOptions> {
  return { port, ipv6: false, broadcastAddresses: ['127.255.255.255'], loopbackOnly: true, interfaceCheckIntervalMs: 0 };
}

interface Node {
  service: LanDiscovery;
  found: Set<number>;
  firstAt: number;
  allAt: number;
}

async function startNodes(count: number, port: number, want: number): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 0; i < count; i += 1) {
    const node: Node = { service: undefined as unknown as LanDiscovery, found: new Set(), firstAt: 0, allAt: 0 };
    node.service = new LanDiscovery(options(port), {
      logger: QUIET,
      onPeer: (_id, endpoint) => {
        node.found.add(endpoint.port);
        const t = performance.now();
        if (node.firstAt === 0) node.firstAt = t;
        if (node.allAt === 0 && node.found.size >= want) node.allAt = t;
      },
    });
    await node.service.start();
    nodes.push(node);
  }
  return nodes;
}

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function newcomer(): Promise<{ first: number; all: number }> {
  const port = await freePort();
  const net = randomBytes(20);
  const online = await startNodes(NODES - 1, port, 1);
  online.forEach((n, i) => n.service.announce(net, 10_000 + i));
  // Let the online nodes' own first round settle: the newcomer joins an established chat.
  await new Promise((r) => setTimeout(r, 300));
  const [late] = await startNodes(1, port, NODES - 1);
  const t0 = performance.now();
  late!.service.announce(net, 10_100);
  await until(() => late!.allAt > 0);
  const result = { first: late!.firstAt - t0, all: late!.allAt - t0 };
  await Promise.all([...online, late!].map((n) => n.service.stop()));
  return result;
}

async function together(): Promise<number> {
  const port = await freePort();
  const net = randomBytes(20);
  const nodes = await startNodes(NODES, port, NODES - 1);
  const t0 = performance.now();
  nodes.forEach((n, i) => n.service.announce(net, 10_000 + i));
  await until(() => nodes.every((n) => n.allAt > 0));
  const mesh = Math.max(...nodes.map((n) => n.allAt)) - t0;
  await Promise.all(nodes.map((n) => n.service.stop()));
  return mesh;
}

/** A bare broadcast round trip: one socket broadcasts, one echoes, no crypto, no bookkeeping. */
async function bareRoundTrip(): Promise<number> {
  const port = await freePort();
  const echo = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => echo.bind(port, '0.0.0.0', () => r()));
  echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
  const asker = createSocket('udp4');
  await new Promise<void>((r) => asker.bind(0, '127.0.0.1', () => r()));
  asker.setBroadcast(true);
  const times: number[] = [];
  for (let i = 0; i < 50; i += 1) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      asker.once('message', () => resolve());
      asker.send(randomBytes(74), port, '127.255.255.255');
    });
    times.push(performance.now() - t0);
  }
  await Promise.all([echo, asker].map((s) => new Promise<void>((r) => s.close(() => r()))));
  return median(times);
}

function responderCost(): { perQueryUs: number; hmacUs: number } {
  const networks = Array.from({ length: 100 }, () => ({ key: deriveLanKey(randomBytes(20)), servicePort: 1000 }));
  const stats = createStats();
  const responder = new Responder({ maxClockSkewMs: 300_000, maxAnswersPerSecond: 1e9, maxAnswersPerSourcePerSecond: 1e9 }, stats, Date.now());
  const foreignKey = deriveLanKey(randomBytes(20));
  const queries = Array.from({ length: 2000 }, () => decodePacket(encodeQuery(foreignKey, { timestamp: Date.now(), challenge: randomBytes(32) })) as LanQuery);
  const t0 = performance.now();
  for (const q of queries) responder.answer(q, networks, '127.0.0.1', Date.now());
  const perQueryUs = ((performance.now() - t0) * 1000) / queries.length;
  const data = randomBytes(42);
  const t1 = performance.now();
  for (let i = 0; i < 20_000; i += 1) createHmac('sha256', foreignKey).update(data).digest();
  const hmacUs = ((performance.now() - t1) * 1000) / 20_000;
  return { perQueryUs, hmacUs };
}

export async function run(): Promise<BenchRow[]> {
  const firsts: number[] = [];
  const alls: number[] = [];
  const meshes: number[] = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    const n = await newcomer();
    firsts.push(n.first);
    alls.push(n.all);
    meshes.push(await together());
  }
  const bare = await bareRoundTrip();
  const cost = responderCost();
  const reference = { name: 'bare UDP broadcast round trip', value: bare };
  return [
    { name: `newcomer -> first peer (N=${NODES}, median of ${ROUNDS})`, value: median(firsts), unit: 'ms', reference, target: '< 1000 ms' },
    { name: `newcomer -> all ${NODES - 1} peers (median of ${ROUNDS})`, value: median(alls), unit: 'ms', reference },
    { name: `${NODES} nodes online together -> full mesh (median of ${ROUNDS})`, value: median(meshes), unit: 'ms', reference },
    {
      name: 'check one foreign query against 100 networks',
      value: cost.perQueryUs,
      unit: 'us',
      reference: { name: '100 x HMAC-SHA256 of 42 bytes', value: cost.hmacUs * 100 },
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await run()) {
    const ref = row.reference ? ` (reference ${row.reference.name}: ${row.reference.value.toFixed(3)} ${row.unit})` : '';
    process.stdout.write(`${row.name}: ${row.value.toFixed(3)} ${row.unit}${ref}${row.target ? ` target ${row.target}` : ''}\n`);
  }
}
