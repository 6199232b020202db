/**
 * Chat networks end to end, real kernels on loopback in one process: time to full
 * mesh from the first discovery (discovery tells each newcomer only the previous
 * announcer, so the rest of the mesh comes from peer exchange), fan-out latency of
 * one message to every member, sustained messages per second in a group of ten with
 * history on, and RSS per kernel.
 *
 * All kernels share this process's one JS thread, so a mesh of n costs the CPU of all
 * n(n-1)/2 handshakes (both ends) on one core: a real member does only its own n-1.
 * Profiles use RSA-2048 test keys (TEST_KEY_BITS); the N=50 mesh is measured again
 * with production-size RSA-4096 keys, whose signatures cost ~4-5x more. Counters of
 * wasted work (sessions opened beyond one per member pair, channel collisions) and
 * peer lists are reported for N=50.
 *
 *     node --import tsx bench/chat-mesh.ts
 */
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { StoredMessage } from '../core/chat/history-store.js';
import type { InlinePlugin } from '../core/plugin-loader.js';
import type { PluginApi } from '../core/plugin.js';
import { Rendezvous, TEST_KEY_BITS, Testnet, type TestnetKeys, testKeyPair, waitFor } from '../test/helpers/testnet.js';
import type { BenchRow } from './types.js';

const MESH_SIZES = [10, 25, 50];
const FANOUT_SIZES = [10, 50];
const FANOUT_MESSAGES = 20;
const THROUGHPUT_MEMBERS = 10;
const THROUGHPUT_MESSAGES = 1000;
const MESH_TIMEOUT_MS = 120_000;
/**
 * The N=50 mesh once more with its kernels spread over this many worker threads
 * (real members each have their own process; the one-thread figures stay above).
 */
const WORKER_THREADS = 2;
const POLL_MS = 20;
/** The production-size run: RSA-4096, a few distinct keys shared by the 50 profiles (key generation ~1 s each). */
const PRODUCTION_KEYS: TestnetKeys = { bits: 4096, distinct: 4 };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
}

interface Mesh {
  net: Testnet;
  chatIds: number[];
  fullMeshMs: number;
  /** CPU time of this process (all kernels share its one JS thread) while forming the mesh. */
  cpuMs: number;
}

async function formMesh(n: number, keys?: TestnetKeys): Promise<Mesh> {
  const net = await Testnet.start(n, undefined, new Rendezvous({ maxReports: 1 }), keys);
  const chatIds: number[] = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (const p of net.peers) chatIds.push((await p.chat.createGroup('bench mesh')).chatId);
  await waitFor(() => net.peers.every((p, i) => p.chat.service.onlineMembers(chatIds[i]!).length === n - 1), `full mesh of ${n}`, MESH_TIMEOUT_MS);
  const cpu = process.cpuUsage(cpu0);
  return { net, chatIds, fullMeshMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** One sender at a time; latency = first send to each receiver's message event. */
async function fanOut(mesh: Mesh): Promise<number[]> {
  const { net, chatIds } = mesh;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  net.peers.forEach((p) =>
    p.chat.on('message', (_c: number, m: StoredMessage) => {
      const t = sentAt.get(m.id.toString('hex'));
      if (t !== undefined) latencies.push(performance.now() - t);
    }),
  );
  for (let k = 0; k < FANOUT_MESSAGES; k++) {
    const i = k % net.peers.length;
    const before = latencies.length;
    const t = performance.now();
    const m = net.peers[i]!.chat.send(chatIds[i]!, `fan-out ${k}`);
    sentAt.set(m.id.toString('hex'), t);
    await waitFor(() => latencies.length - before === net.peers.length - 1, 'fan-out', 10_000);
  }
  return latencies.sort((a, b) => a - b);
}

async function throughput(mesh: Mesh): Promise<number> {
  const { net, chatIds } = mesh;
  let received = 0;
  net.peers.forEach((p) => p.chat.on('message', () => received++));
  const expected = THROUGHPUT_MESSAGES * (net.peers.length - 1);
  const t0 = performance.now();
  for (let k = 0; k < THROUGHPUT_MESSAGES; k++) {
    const i = k % net.peers.length;
    net.peers[i]!.chat.send(chatIds[i]!, `message ${k} with a line of ordinary chat text in it`);
    if (k % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => received >= expected, 'all messages delivered', 60_000);
  return THROUGHPUT_MESSAGES / ((performance.now() - t0) / 1000);
}

/** Work beyond the n(n-1)/2 sessions a full mesh needs, and peer-exchange traffic, summed over all members. */
function wasteRows(mesh: Mesh, n: number): BenchRow[] {
  let sessions = 0;
  let collisions = 0;
  let lists = 0;
  mesh.net.peers.forEach((p, i) => {
    const { transport } = p.chat.stats;
    collisions += transport.collisions;
    const m = p.chat.service.meshStats(mesh.chatIds[i]!);
    sessions += m?.sessionsOpened ?? 0;
    lists += m?.peerExchangesReceived ?? 0;
  });
  return [
    { name: `sessions opened per member pair and end, N=${n} (1.00 = no duplicate torn down)`, value: sessions / (n * (n - 1)), unit: 'x' },
    { name: `channel open collisions (both ends opened at once), N=${n}`, value: collisions, unit: 'opens' },
    { name: `peer lists received per member while forming, N=${n}`, value: lists / n, unit: 'lists' },
  ];
}

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  await Promise.all(Array.from({ length: Math.max(...MESH_SIZES) }, (_, i) => testKeyPair(i)));
  for (const n of MESH_SIZES) {
    const rssBefore = process.memoryUsage().rss;
    const mesh = await formMesh(n);
    try {
      rows.push({ name: `time to full mesh, N=${n}, RSA-${TEST_KEY_BITS} (discovery names 1 peer, rest by peer exchange)`, value: mesh.fullMeshMs, unit: 'ms', ...(n === 50 ? { target: '< 10 000 ms (original ~60 s)' } : {}) });
      rows.push({ name: `CPU time spent forming it, N=${n} (one thread for all kernels: ${(n * (n - 1)) / 2} handshakes)`, value: mesh.cpuMs, unit: 'ms' });
      if (n === Math.max(...MESH_SIZES)) {
        rows.push({ name: `RSS per kernel, N=${n}, full mesh`, value: (process.memoryUsage().rss - rssBefore) / n / 1024 / 1024, unit: 'MiB' });
        rows.push(...wasteRows(mesh, n));
      }
      if (FANOUT_SIZES.includes(n)) {
        const lat = await fanOut(mesh);
        rows.push({ name: `fan-out latency median, N=${n}`, value: percentile(lat, 0.5), unit: 'ms' });
        rows.push({ name: `fan-out latency p99, N=${n}`, value: percentile(lat, 0.99), unit: 'ms', ...(n === 50 ? { target: '< 50 ms' } : {}) });
      }
      if (n === THROUGHPUT_MEMBERS) {
        rows.push({ name: `messages/s sustained, ${n}-member group, each to ${n - 1} members, history on`, value: await throughput(mesh), unit: 'msg/s' });
      }
    } finally {
      await mesh.net.stop();
    }
  }
  const n = Math.max(...MESH_SIZES);
  rows.push(...(await threadedRows(n)));
  await Promise.all(Array.from({ length: PRODUCTION_KEYS.distinct! }, (_, i) => testKeyPair(i, PRODUCTION_KEYS.bits)));
  const mesh = await formMesh(n, PRODUCTION_KEYS);
  try {
    rows.push({ name: `time to full mesh, N=${n}, RSA-${PRODUCTION_KEYS.bits} (production key size)`, value: mesh.fullMeshMs, unit: 'ms', target: '< 10 000 ms' });
    rows.push({ name: `CPU time spent forming it, N=${n}, RSA-${PRODUCTION_KEYS.bits}`, value: mesh.cpuMs, unit: 'ms' });
  } finally {
    await mesh.net.stop();
  }
  return rows;
}

// ---- the same mesh over worker threads ----

type ToWorker =
  | { cmd: 'join'; index: number }
  | { cmd: 'report'; index: number; ports: number[] }
  | { cmd: 'send'; index: number }
  | { cmd: 'stop' };
type FromWorker =
  | { ev: 'ready' }
  | { ev: 'announce'; index: number; port: number }
  | { ev: 'joined'; index: number }
  | { ev: 'full'; count: number }
  | { ev: 'sent'; id: string; t: number }
  | { ev: 'received'; id: string; t: number }
  | { ev: 'stopped' };
interface WorkerInit { first: number; count: number; n: number }

/** A clock that means the same in every thread. */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Discovery through the main thread: each announce is answered with the previous announcer (as `Rendezvous({ maxReports: 1 })`). */
class ThreadRendezvous extends Rendezvous {
  private next: number;
  private readonly waiting = new Map<number, (ports: number[]) => void>();
  constructor(first: number, private readonly post: (m: FromWorker) => void) {
    super();
    this.next = first;
  }
  override plugin(): InlinePlugin {
    const index = this.next++;
    return {
      definition: {
        name: 'test-rendezvous',
        version: '0.0.0',
        apply: (api: PluginApi) => {
          api.hooks.announce.tapPromise('test-rendezvous', async ({ networkId, port }) => {
            const ports = await new Promise<number[]>((resolve) => {
              this.waiting.set(index, resolve);
              this.post({ ev: 'announce', index, port });
            });
            for (const p of ports) api.reportPeer(networkId, { host: '127.0.0.1', port: p }, 'test-rendezvous');
          });
        },
      },
    };
  }
  answer(index: number, ports: number[]): void {
    this.waiting.get(index)?.(ports);
    this.waiting.delete(index);
  }
}

async function workerMain(init: WorkerInit): Promise<void> {
  const port = parentPort!;
  const post = (m: FromWorker): void => port.postMessage(m);
  const rendezvous = new ThreadRendezvous(init.first, post);
  const net = new Testnet(rendezvous);
  const chatIds = new Map<number, number>();
  let lastFull = -1;
  const poll = setInterval(() => {
    let full = 0;
    net.peers.forEach((p, i) => {
      const chatId = chatIds.get(init.first + i);
      if (chatId !== undefined && p.chat.service.onlineMembers(chatId).length === init.n - 1) full++;
    });
    if (full !== lastFull) post({ ev: 'full', count: (lastFull = full) });
  }, POLL_MS);
  for (let i = 0; i < init.count; i++) await net.addPeer(`peer${init.first + i}@test.local`, i);
  net.peers.forEach((p) => p.chat.on('message', (_c: number, m: StoredMessage) => post({ ev: 'received', id: m.id.toString('hex'), t: wallNow() })));
  port.on('message', (m: ToWorker) => {
    const peer = 'index' in m ? net.peers[m.index - init.first] : undefined;
    if (m.cmd === 'report') rendezvous.answer(m.index, m.ports);
    else if (m.cmd === 'join') void peer!.chat.createGroup('bench mesh').then((c) => {
      chatIds.set(m.index, c.chatId);
      post({ ev: 'joined', index: m.index });
    });
    else if (m.cmd === 'send') {
      const t = wallNow();
      post({ ev: 'sent', id: peer!.chat.send(chatIds.get(m.index)!, `fan-out from ${m.index}`).id.toString('hex'), t });
    } else if (m.cmd === 'stop') {
      clearInterval(poll);
      void net.stop().then(() => post({ ev: 'stopped' }));
    }
  });
  post({ ev: 'ready' });
}

/** Forms the mesh of `n` over WORKER_THREADS threads, then measures fan-out as the one-thread run does. */
export async function threadedRows(n: number): Promise<BenchRow[]> {
  const per = Math.ceil(n / WORKER_THREADS);
  const workers: Array<{ w: Worker; first: number; count: number }> = [];
  const full = new Map<Worker, number>();
  const events: Array<(w: Worker, m: FromWorker) => void> = [];
  const announced: number[] = [];
  for (let first = 0; first < n; first += per) {
    const count = Math.min(per, n - first);
    // tsx's loader must be registered inside the worker before this .ts module loads.
    const entry = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); });`;
    const w = new Worker(entry, { eval: true, workerData: { first, count, n } satisfies WorkerInit });
    w.on('message', (m: FromWorker) => {
      if (m.ev === 'announce') {
        w.postMessage({ cmd: 'report', index: m.index, ports: announced.slice(-1) } satisfies ToWorker);
        announced.push(m.port);
      } else if (m.ev === 'full') full.set(w, m.count);
      for (const e of [...events]) e(w, m);
    });
    workers.push({ w, first, count });
  }
  const until = (what: string, check: (w: Worker, m: FromWorker) => boolean, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => { events.splice(events.indexOf(listener), 1); reject(new Error(`timed out waiting for ${what}`)); }, timeoutMs);
      const listener = (w: Worker, m: FromWorker): void => {
        if (!check(w, m)) return;
        clearTimeout(timer);
        events.splice(events.indexOf(listener), 1);
        resolve();
      };
      events.push(listener);
    });
  const owner = (index: number): Worker => workers.find((x) => index >= x.first && index < x.first + x.count)!.w;
  const rows: BenchRow[] = [];
  try {
    let ready = 0;
    await until('workers ready', (_w, m) => m.ev === 'ready' && ++ready === workers.length, MESH_TIMEOUT_MS);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const joined = until(`join ${i}`, (_w, m) => m.ev === 'joined' && m.index === i, MESH_TIMEOUT_MS);
      owner(i).postMessage({ cmd: 'join', index: i } satisfies ToWorker);
      await joined;
    }
    const sum = (): number => [...full.values()].reduce((a, b) => a + b, 0);
    if (sum() < n) await until(`full mesh of ${n} in ${workers.length} threads`, () => sum() === n, MESH_TIMEOUT_MS);
    const cpu = process.cpuUsage(cpu0);
    rows.push({ name: `time to full mesh, N=${n}, RSA-${TEST_KEY_BITS}, kernels in ${workers.length} worker threads`, value: performance.now() - t0, unit: 'ms', target: '< 10 000 ms' });
    rows.push({ name: `CPU time spent forming it, N=${n}, ${workers.length} threads`, value: (cpu.user + cpu.system) / 1000, unit: 'ms' });

    const latencies: number[] = [];
    for (let k = 0; k < FANOUT_MESSAGES; k++) {
      const i = k % n;
      let id: string | undefined;
      let sentAt = 0;
      const early: Array<{ id: string; t: number }> = [];
      let got = 0;
      const done = until('fan-out', (_w, m) => {
        if (m.ev === 'sent') {
          ({ id, t: sentAt } = m);
          for (const e of early) if (e.id === id) { latencies.push(e.t - sentAt); got++; }
        } else if (m.ev === 'received') {
          if (id === undefined) early.push(m);
          else if (m.id === id) { latencies.push(m.t - sentAt); got++; }
        }
        return got === n - 1;
      }, 10_000);
      owner(i).postMessage({ cmd: 'send', index: i } satisfies ToWorker);
      await done;
    }
    latencies.sort((a, b) => a - b);
    rows.push({ name: `fan-out latency median, N=${n}, ${workers.length} threads`, value: percentile(latencies, 0.5), unit: 'ms' });
    rows.push({ name: `fan-out latency p99, N=${n}, ${workers.length} threads`, value: percentile(latencies, 0.99), unit: 'ms', target: '< 50 ms' });
  } finally {
    await Promise.all(workers.map(async ({ w }) => {
      const stopped = until('stop', (from, m) => from === w && m.ev === 'stopped', 60_000).catch(() => undefined);
      w.postMessage({ cmd: 'stop' } satisfies ToWorker);
      await stopped;
      await w.terminate();
    }));
  }
  return rows;
}

if (!isMainThread && parentPort) {
  await workerMain(workerData as WorkerInit);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run()) process.stdout.write(`${r.name}: ${r.value.toFixed(r.value < 10 ? 2 : 0)} ${r.unit}${r.target ? `  (target ${r.target})` : ''}\n`);
}
