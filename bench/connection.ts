/**
 * Connection-layer benchmark: bulk throughput of one virtual channel and of 8 at once
 * over loopback, beside raw Node TCP on the same loopback in the same run, and memory
 * per idle connection with 1,000 connections open.
 *
 *     node --import tsx bench/connection.ts
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { createHooks } from '../core/hooks.js';
import { ConnectionManager, tapDirectDial, type VirtualChannel } from '../core/connection/index.js';
import type { BenchRow } from './types.js';


/** Below 64 KiB on purpose: loopback has a slow case at exactly 64 KiB writes (STACK.md). */
const CHUNK = 60 * 1024;
const DURATION_MS = 2500;
const IDLE_CONNECTIONS = 1000;
const MIB = 1024 * 1024;

/** Write `chunk` into `out` as fast as it drains until `stop()`; returns the stopper. */
function pour(out: NodeJS.WritableStream): () => void {
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  let stopped = false;
  const fill = (): void => {
    while (!stopped && out.write(chunk));
  };
  out.on('drain', fill);
  fill();
  return () => {
    stopped = true;
    out.off('drain', fill);
  };
}

/**
 * CPU time (µs, user + system, this process: both ends) per MiB of the last {@link measure};
 * steadier than MiB/s on a shared, loaded machine.
 */
interface Measured {
  rates: number[];
  cpuPerMiB: number;
}

/** Count bytes arriving on `streams` for DURATION_MS after a short warm-up; MiB/s per stream. */
async function measure(streams: NodeJS.ReadableStream[], sources: NodeJS.WritableStream[]): Promise<Measured> {
  const counts = streams.map(() => 0);
  let counting = false;
  streams.forEach((s, i) => s.on('data', (c: Buffer) => {
    if (counting) counts[i]! += c.length;
  }));
  const stops = sources.map(pour);
  await new Promise((r) => setTimeout(r, 300));
  counting = true;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  counting = false;
  const cpu = process.cpuUsage(cpu0);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const stop of stops) stop();
  const mib = counts.reduce((x, y) => x + y, 0) / MIB;
  return { rates: counts.map((c) => c / MIB / seconds), cpuPerMiB: (cpu.user + cpu.system) / mib };
}

async function rawTcp(): Promise<Measured> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = createConnection({ host: '127.0.0.1', port, noDelay: true });
  await once(client, 'connect');
  const [sink] = await accepted;
  const measured = await measure([sink], [client]);
  client.destroy();
  sink.destroy();
  server.close();
  return measured;
}

async function managers(): Promise<{ a: ConnectionManager; b: ConnectionManager; stop: () => Promise<void> }> {
  const make = (): ConnectionManager => {
    const hooks = createHooks();
    tapDirectDial(hooks);
    return new ConnectionManager({ hooks, logger: pino({ level: 'silent' }), listen: { host: '127.0.0.1', port: 0 } });
  };
  const a = make();
  const b = make();
  await a.start();
  await b.start();
  return { a, b, stop: async () => void (await Promise.all([a.stop(), b.stop()])) };
}

async function channels(n: number): Promise<Measured> {
  const { a, b, stop } = await managers();
  const inbound: VirtualChannel[] = [];
  b.onChannel((req) => void inbound.push(req.accept()));
  await a.connect({ host: '127.0.0.1', port: b.localPort });
  const outbound: VirtualChannel[] = [];
  for (let i = 0; i < n; i++) outbound.push(await a.openChannel(b.peerId, Buffer.alloc(20, i + 1)));
  while (inbound.length < n) await new Promise((r) => setTimeout(r, 5));
  const measured = await measure(inbound, outbound);
  await stop();
  return measured;
}

function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Open IDLE_CONNECTIONS handshaken connections from a child process; heap + RSS growth per connection here. */
async function idleMemory(): Promise<{ heap: number; rss: number }> {
  const hooks = createHooks();
  const manager = new ConnectionManager({
    hooks,
    logger: pino({ level: 'silent' }),
    listen: { host: '127.0.0.1', port: 0 },
    limits: { maxConnections: IDLE_CONNECTIONS + 10, maxPendingHandshakes: IDLE_CONNECTIONS + 10 },
  });
  await manager.start();
  gc();
  const before = process.memoryUsage();
  const child = spawn(process.execPath, ['-e', CLIENTS, String(manager.localPort), String(IDLE_CONNECTIONS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const deadline = Date.now() + 30_000;
  while (manager.connections.length < IDLE_CONNECTIONS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const open = manager.connections.length;
  gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
  const after = process.memoryUsage();
  child.kill();
  await once(child, 'exit');
  await manager.stop();
  if (open < IDLE_CONNECTIONS) throw new Error(`only ${open} connections opened`);
  return { heap: (after.heapUsed - before.heapUsed) / open, rss: (after.rss - before.rss) / open };
}

/** The child: N sockets that complete the handshake and then sit idle. */
const CLIENTS = `
const net = require('node:net'); const crypto = require('node:crypto');
const port = Number(process.argv[1]); const n = Number(process.argv[2]); const sockets = [];
let i = 0;
(function next() {
  for (let k = 0; k < 50 && i < n; k++, i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => {}); s.resume();
    s.write(Buffer.concat([Buffer.from([3]), crypto.randomBytes(20), Buffer.alloc(2)]));
    sockets.push(s);
  }
  if (i < n) setTimeout(next, 20);
})();
process.stdin.resume();
`;

export async function run(): Promise<BenchRow[]> {
  // Raw TCP before and after, best of the two: the reference gets every benefit of the doubt.
  const rawBefore = await rawTcp();
  const oneRun = await channels(1);
  const one = oneRun.rates[0]!;
  const eightRun = await channels(8);
  const eight = eightRun.rates;
  const rawAfter = await rawTcp();
  const raw = Math.max(rawBefore.rates[0]!, rawAfter.rates[0]!);
  const rawCpu = Math.min(rawBefore.cpuPerMiB, rawAfter.cpuPerMiB);
  const total8 = eight.reduce((x, y) => x + y, 0);
  const fairness = (Math.min(...eight) / Math.max(...eight)) * 100;
  const mem = await idleMemory();
  const rawRef = { name: 'raw TCP, 1 socket', value: Math.round(raw) };
  return [
    { name: '1 channel bulk throughput', value: Math.round(one), unit: 'MiB/s', reference: rawRef, target: '>= 80% of raw TCP' },
    { name: '1 channel CPU per MiB (both ends)', value: Math.round(oneRun.cpuPerMiB), unit: 'µs', reference: { name: 'raw TCP', value: Math.round(rawCpu) } },
    { name: '8 channels bulk throughput (sum)', value: Math.round(total8), unit: 'MiB/s', reference: rawRef },
    { name: '8 channels fairness (slowest/fastest)', value: Math.round(fairness), unit: '%', target: '>= 80%' },
    { name: 'heap per idle connection (1,000 open)', value: Math.round(mem.heap), unit: 'B', target: '< 64 KiB' },
    { name: 'RSS per idle connection (1,000 open)', value: Math.round(mem.rss), unit: 'B', target: '< 64 KiB' },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run();
  for (const row of rows) {
    const ref = row.reference ? `   (${row.reference.name}: ${row.reference.value} ${row.unit}, ${Math.round((row.value / row.reference.value) * 100)}%)` : '';
    console.log(`${row.name.padEnd(52)} ${String(row.value).padStart(9)} ${row.unit}${ref}${row.target ? `   target ${row.target}` : ''}`);
  }
}
