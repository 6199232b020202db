/**
 * Throughput and connect latency through a real SOCKS5 proxy (dante) and a
 * real HTTP CONNECT proxy (tinyproxy) against direct TCP, all on 127.0.0.1 in
 * the same run. `node --import tsx bench/proxy.ts`
 */
import { connect, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { normalizeOptions } from '../plugins/proxy-socks/options.js';
import { ProxyDialer } from '../plugins/proxy-socks/proxy-dialer.js';
import { DANTED_PATH, startDante, startTcpServer, startTinyproxy, TINYPROXY_PATH, type RunningProxy } from '../test/helpers/proxy-servers.js';
import type { BenchRow } from './types.js';

const TRANSFER_BYTES = 64 * 1024 * 1024;
/** Under 64 KiB: loopback has a slow case at exactly 64 KiB writes. */
const WRITE_CHUNK_BYTES = 60 * 1024;
const CONNECT_SAMPLES = 60;
const WARMUP_CONNECTS = 5;
/** Best of a few runs: the first transfer on a fresh path pays for warm-up. */
const THROUGHPUT_RUNS = 3;

type Opener = () => Promise<Socket>;

function directOpener(port: number): Opener {
  return () =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });
}

function proxyOpener(proxy: RunningProxy, port: number): Opener {
  const options = normalizeOptions({ type: proxy.type, host: proxy.host, port: proxy.port });
  const dialer = new ProxyDialer({ proxy: options.proxy, tor: false, connectTimeoutMs: 10_000 });
  return () => dialer.connect({ host: '127.0.0.1', port });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Median time to an open tunnel (or TCP connection), in ms. */
async function connectLatency(open: Opener): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < WARMUP_CONNECTS + CONNECT_SAMPLES; i++) {
    const started = process.hrtime.bigint();
    const socket = await open();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    socket.destroy();
    if (i >= WARMUP_CONNECTS) samples.push(ms);
  }
  return median(samples);
}

async function bestThroughput(open: Opener): Promise<number> {
  let best = 0;
  for (let i = 0; i < THROUGHPUT_RUNS; i++) best = Math.max(best, await throughput(open));
  return best;
}

/** MB/s for TRANSFER_BYTES written to a sink that answers one byte when it has them all. */
async function throughput(open: Opener): Promise<number> {
  const socket = await open();
  const chunk = Buffer.alloc(WRITE_CHUNK_BYTES, 0x5a);
  const started = process.hrtime.bigint();
  const acked = new Promise<void>((resolve, reject) => {
    socket.once('data', () => resolve());
    socket.once('error', reject);
  });
  let sent = 0;
  while (sent < TRANSFER_BYTES) {
    const size = Math.min(WRITE_CHUNK_BYTES, TRANSFER_BYTES - sent);
    sent += size;
    if (!socket.write(size === WRITE_CHUNK_BYTES ? chunk : chunk.subarray(0, size))) {
      await new Promise((resolve) => socket.once('drain', resolve));
    }
  }
  await acked;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  socket.destroy();
  return TRANSFER_BYTES / 1e6 / seconds;
}

export async function run(): Promise<BenchRow[]> {
  const sink = await startTcpServer((socket) => {
    let received = 0;
    socket.on('data', (data: Buffer) => {
      received += data.length;
      if (received >= TRANSFER_BYTES) socket.write('k');
    });
  });
  const rows: BenchRow[] = [];
  const proxies: RunningProxy[] = [];
  try {
    const direct = directOpener(sink.port);
    const directLatency = await connectLatency(direct);
    const directThroughput = await bestThroughput(direct);
    const candidates: Array<[string, boolean, () => Promise<RunningProxy>]> = [
      ['SOCKS5 (dante)', DANTED_PATH !== undefined, () => startDante()],
      ['HTTP CONNECT (tinyproxy)', TINYPROXY_PATH !== undefined, () => startTinyproxy()],
    ];
    for (const [label, available, start] of candidates) {
      if (!available) {
        process.stderr.write(`bench/proxy: ${label} skipped (not installed)\n`);
        continue;
      }
      const proxy = await start();
      proxies.push(proxy);
      const open = proxyOpener(proxy, sink.port);
      rows.push({
        name: `${label}: time to open a tunnel (median of ${CONNECT_SAMPLES})`,
        value: await connectLatency(open),
        unit: 'ms',
        reference: { name: 'direct TCP connect', value: directLatency },
      });
      rows.push({
        name: `${label}: throughput, ${TRANSFER_BYTES / 1024 / 1024} MiB one way (best of ${THROUGHPUT_RUNS})`,
        value: await bestThroughput(open),
        unit: 'MB/s',
        reference: { name: 'direct TCP', value: directThroughput },
      });
    }
  } finally {
    for (const proxy of proxies) await proxy.stop();
    await sink.stop();
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await run()) {
    const ref = row.reference ? `  (${row.reference.name}: ${row.reference.value.toFixed(3)} ${row.unit}, ${(row.value / row.reference.value).toFixed(2)}x)` : '';
    process.stdout.write(`${row.name}: ${row.value.toFixed(3)} ${row.unit}${ref}\n`);
  }
}
