/**
 * Chat networks end to end, real kernels on loopback in one process: time to full
 * mesh from the first discovery (discovery tells each newcomer only the previous
 * announcer, so the rest of the mesh comes from peer exchange), fan-out latency of
 * one message to every member, sustained messages per second in a group of ten with
 * history on, and RSS per kernel.
 *
 *     node --import tsx bench/chat-mesh.ts
 */
import { pathToFileURL } from 'node:url';
import type { StoredMessage } from '../core/chat/history-store.js';
import { Rendezvous, Testnet, testKeyPair, waitFor } from '../test/helpers/testnet.js';
import type { BenchRow } from './types.js';

const MESH_SIZES = [10, 25, 50];
const FANOUT_SIZES = [10, 50];
const FANOUT_MESSAGES = 20;
const THROUGHPUT_MEMBERS = 10;
const THROUGHPUT_MESSAGES = 1000;
const MESH_TIMEOUT_MS = 60_000;

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

async function formMesh(n: number): Promise<Mesh> {
  const net = await Testnet.start(n, undefined, new Rendezvous({ maxReports: 1 }));
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

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  await Promise.all(Array.from({ length: Math.max(...MESH_SIZES) }, (_, i) => testKeyPair(i)));
  for (const n of MESH_SIZES) {
    const rssBefore = process.memoryUsage().rss;
    const mesh = await formMesh(n);
    try {
      rows.push({ name: `time to full mesh, N=${n} (discovery names 1 peer, rest by peer exchange)`, value: mesh.fullMeshMs, unit: 'ms', ...(n === 50 ? { target: '< 10 000 ms (original ~60 s)' } : {}) });
      rows.push({ name: `CPU time spent forming it, N=${n} (one thread for all kernels: ${(n * (n - 1)) / 2} handshakes)`, value: mesh.cpuMs, unit: 'ms' });
      if (n === Math.max(...MESH_SIZES)) {
        rows.push({ name: `RSS per kernel, N=${n}, full mesh`, value: (process.memoryUsage().rss - rssBefore) / n / 1024 / 1024, unit: 'MiB' });
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
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run()) process.stdout.write(`${r.name}: ${r.value.toFixed(r.value < 10 ? 2 : 0)} ${r.unit}${r.target ? `  (target ${r.target})` : ''}\n`);
}
