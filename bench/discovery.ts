/**
 * Discovery latency on loopback: a chat with N = 10 peers, 9 already online;
 * the 10th comes online (service start + announce) and we time its first peer
 * found and all 9 found ("full mesh" known). Median over RUNS.
 *
 * - DHT: 20 local `bittorrent-dht` nodes. Reference: a bare `bittorrent-dht`
 *   client doing the same lookup (our layer's overhead).
 * - Trackers: the `bittorrent-tracker` server over UDP and HTTP, and Debian's
 *   opentracker over UDP when installed.
 *
 * Run: node --import tsx bench/discovery.ts
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import DHT from 'bittorrent-dht';
import type { NetworkId } from '../core/types.js';
import { DhtDiscovery } from '../plugins/dht/dht-discovery.js';
import { TrackerDiscovery } from '../plugins/trackers/tracker-discovery.js';
import { startLocalDht } from '../test/helpers/local-dht.js';
import { startLocalTracker, startOpentracker, type LocalTracker } from '../test/helpers/local-tracker.js';
import type { BenchRow } from './types.js';

const PEERS = 10;
const DHT_NODES = 20;
const RUNS = 5;
const GIVE_UP_MS = 10_000;
const FIRST_PORT = 30_000;

interface Timing {
  firstMs: number;
  allMs: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Times from `t0` to the first and the (PEERS-1)th distinct report, bounded by GIVE_UP_MS. */
function watcher(t0: () => number): { onPeer(port: number): void; done: Promise<Timing> } {
  const seen = new Set<number>();
  let first = Number.NaN;
  let resolve!: (t: Timing) => void;
  const done = new Promise<Timing>((r) => (resolve = r));
  const timer = setTimeout(() => resolve({ firstMs: first, allMs: Number.NaN }), GIVE_UP_MS);
  return {
    onPeer(port) {
      if (seen.has(port)) return;
      seen.add(port);
      if (seen.size === 1) first = performance.now() - t0();
      if (seen.size === PEERS - 1) {
        clearTimeout(timer);
        resolve({ firstMs: first, allMs: performance.now() - t0() });
      }
    },
    done,
  };
}

async function dhtRun(bootstrap: string[]): Promise<Timing> {
  const net: NetworkId = randomBytes(20);
  const online: DhtDiscovery[] = [];
  try {
    for (let i = 0; i < PEERS - 1; i++) {
      const s = new DhtDiscovery({ bootstrap, port: 0, host: '127.0.0.1', allowPrivateAddresses: true }, { onPeer: () => {} });
      online.push(s);
      await s.start();
      await s.announce(net, FIRST_PORT + i);
    }
    let t0 = 0;
    const w = watcher(() => t0);
    const newcomer = new DhtDiscovery(
      { bootstrap, port: 0, host: '127.0.0.1', allowPrivateAddresses: true },
      { onPeer: (_n, ep) => w.onPeer(ep.port) },
    );
    online.push(newcomer);
    t0 = performance.now();
    await newcomer.start();
    await newcomer.announce(net, FIRST_PORT + PEERS);
    return await w.done;
  } finally {
    for (const s of online) await s.stop();
  }
}

/** The same newcomer measurement with a bare bittorrent-dht client (reference). */
async function bareDhtRun(bootstrap: string[]): Promise<Timing> {
  const net = randomBytes(20);
  const online: DHT[] = [];
  const stop = (d: DHT): Promise<void> => new Promise((r) => d.destroy(() => r()));
  try {
    for (let i = 0; i < PEERS - 1; i++) {
      const d = new DHT({ bootstrap });
      d.listen(0, '127.0.0.1');
      online.push(d);
      await new Promise<void>((r) => d.announce(net, FIRST_PORT + i, () => r()));
    }
    let t0 = 0;
    const w = watcher(() => t0);
    t0 = performance.now();
    const d = new DHT({ bootstrap });
    d.listen(0, '127.0.0.1');
    online.push(d);
    d.on('peer', (peer: { port: number }) => w.onPeer(peer.port));
    d.announce(net, FIRST_PORT + PEERS);
    return await w.done;
  } finally {
    for (const d of online) await stop(d);
  }
}

async function trackerRun(tracker: LocalTracker, url: string): Promise<Timing> {
  const net: NetworkId = randomBytes(20);
  await tracker.allow(net);
  const online: TrackerDiscovery[] = [];
  const options = { announce: [url], allowPrivateAddresses: true, honourMinInterval: false };
  try {
    for (let i = 0; i < PEERS - 1; i++) {
      const s = new TrackerDiscovery(options, { onPeer: () => {} });
      online.push(s);
      await s.start();
      await s.announce(net, FIRST_PORT + i);
    }
    let t0 = 0;
    const w = watcher(() => t0);
    const newcomer = new TrackerDiscovery(options, { onPeer: (_n, ep) => w.onPeer(ep.port) });
    online.push(newcomer);
    t0 = performance.now();
    await newcomer.start();
    await newcomer.announce(net, FIRST_PORT + PEERS);
    return await w.done;
  } finally {
    for (const s of online) await s.stop();
  }
}

/**
 * All PEERS come online at the same moment; time until every pair is covered
 * (one of the two knows the other, which is enough to connect).
 */
async function meshRun(make: (onPeer: (self: number, port: number) => void) => Array<{ start(): Promise<void>; announce(n: NetworkId, p: number): Promise<void>; stop(): Promise<void> }>, net: NetworkId): Promise<number> {
  const knows = Array.from({ length: PEERS }, () => new Set<number>());
  let resolve!: (ms: number) => void;
  const done = new Promise<number>((r) => (resolve = r));
  const t0 = performance.now();
  const covered = (): boolean => {
    for (let i = 0; i < PEERS; i++) for (let j = i + 1; j < PEERS; j++) if (!knows[i]!.has(j) && !knows[j]!.has(i)) return false;
    return true;
  };
  const nodes = make((self, port) => {
    knows[self]!.add(port - FIRST_PORT);
    if (covered()) resolve(performance.now() - t0);
  });
  const timer = setTimeout(() => resolve(Number.NaN), GIVE_UP_MS);
  try {
    await Promise.all(nodes.map(async (n, i) => {
      await n.start();
      await n.announce(net, FIRST_PORT + i);
    }));
    return await done;
  } finally {
    clearTimeout(timer);
    for (const n of nodes) await n.stop();
  }
}

async function withTestnet(run: (bootstrap: string[]) => Promise<Timing>): Promise<Timing> {
  const testnet = await startLocalDht(DHT_NODES);
  try {
    return await run(testnet.bootstrap);
  } finally {
    await testnet.close();
  }
}

async function repeat(run: () => Promise<Timing>): Promise<Timing> {
  const firsts: number[] = [];
  const alls: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = await run();
    firsts.push(t.firstMs);
    alls.push(t.allMs);
  }
  return { firstMs: median(firsts), allMs: median(alls) };
}

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  {
    // A fresh testnet per run: stopped peers of earlier runs would linger in its tables as dead nodes.
    const ours = await repeat(() => withTestnet(dhtRun));
    const bare = await repeat(() => withTestnet(bareDhtRun));
    const mesh: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      mesh.push(
        await withTestnet(async (bootstrap) => ({
          firstMs: 0,
          allMs: await meshRun(
            (onPeer) => Array.from({ length: PEERS }, (_, k) => new DhtDiscovery({ bootstrap, port: 0, host: '127.0.0.1', allowPrivateAddresses: true }, { onPeer: (_n, ep) => onPeer(k, ep.port) })),
            randomBytes(20),
          ),
        })).then((t) => t.allMs),
      );
    }
    rows.push(
      { name: `dht (${DHT_NODES} nodes): ${PEERS} online at once -> every pair known`, value: median(mesh), unit: 'ms' },
      { name: `dht (${DHT_NODES} nodes): online -> first peer`, value: ours.firstMs, unit: 'ms', reference: { name: 'bare bittorrent-dht', value: bare.firstMs }, target: '< 3000 ms' },
      { name: `dht (${DHT_NODES} nodes): online -> all ${PEERS - 1} peers`, value: ours.allMs, unit: 'ms', reference: { name: 'bare bittorrent-dht', value: bare.allMs } },
    );
  }

  const bt = await startLocalTracker();
  try {
    const udp = await repeat(() => trackerRun(bt, bt.udpUrl));
    const http = await repeat(() => trackerRun(bt, bt.httpUrl));
    const mesh: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      mesh.push(
        await meshRun(
          (onPeer) => Array.from({ length: PEERS }, (_, k) => new TrackerDiscovery({ announce: [bt.udpUrl], allowPrivateAddresses: true }, { onPeer: (_n, ep) => onPeer(k, ep.port) })),
          randomBytes(20),
        ),
      );
    }
    rows.push(
      { name: `tracker bittorrent-tracker UDP: ${PEERS} online at once -> every pair known`, value: median(mesh), unit: 'ms' },
      { name: 'tracker bittorrent-tracker UDP: online -> first peer', value: udp.firstMs, unit: 'ms', target: '< 1000 ms' },
      { name: `tracker bittorrent-tracker UDP: online -> all ${PEERS - 1} peers`, value: udp.allMs, unit: 'ms' },
      { name: 'tracker bittorrent-tracker HTTP: online -> first peer', value: http.firstMs, unit: 'ms', reference: { name: 'same tracker over UDP', value: udp.firstMs }, target: '< 1000 ms' },
    );
  } finally {
    await bt.close();
  }

  const ot = await startOpentracker();
  if (ot) {
    try {
      const udp = await repeat(() => trackerRun(ot, ot.udpUrl));
      rows.push({ name: 'tracker opentracker UDP: online -> first peer', value: udp.firstMs, unit: 'ms', target: '< 1000 ms' });
      rows.push({ name: `tracker opentracker UDP: online -> all ${PEERS - 1} peers`, value: udp.allMs, unit: 'ms' });
    } finally {
      await ot.close();
    }
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run();
  for (const r of rows) {
    const ref = r.reference ? `  (ref ${r.reference.name}: ${r.reference.value.toFixed(1)} ${r.unit})` : '';
    process.stdout.write(`${r.name}: ${r.value.toFixed(1)} ${r.unit}${ref}${r.target ? `  target ${r.target}` : ''}\n`);
  }
}
