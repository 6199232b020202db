/**
 * Relay: throughput and round-trip latency of a channel through a relay tunnel
 * (member -> relay -> NATed peer, the relay splicing with its policy, rate limit
 * off) against the same through a direct connection, in the same run, on loopback.
 * Both with a SecureChannel inside (what chats run), and bare channels.
 * The relay runs in its own process (as it would on its own machine); member and
 * target share this one, so both paths cost them the same. Besides MiB/s it reports
 * the CPU time per MiB of all processes (this one + the relay), which a shared,
 * loaded machine disturbs far less than wall-clock rates, and the same transfer
 * through a plain TCP forwarder (two piped sockets) in the relay's process: what any
 * relay written in Node costs, the floor for ours.
 * `node --import tsx bench/relay.ts` (or `npm run bench relay`); add `--cpu-prof`
 * to profile both processes. For profiles of one path: `--paths=relay` (of relay,
 * direct, forwarder), `--kinds=bare` (of secure, bare), `--mib=N` per transfer,
 * `--rounds=N` (e.g. under `valgrind --tool=callgrind --trace-children=yes`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Duplex } from 'node:stream';
import type { Connection } from '../core/connection/connection.js';
import { resolveConfig } from '../core/config.js';
import { Kernel } from '../core/kernel.js';
import { createLogger } from '../core/logger.js';
import { SecureChannel } from '../core/secure-channel/index.js';
import type { RelayPlugin } from '../plugins/relay/index.js';
import { loadIdentity, options } from '../test/core/secure-channel/helpers.js';
import type { BenchRow } from './types.js';

const MIB = 1024 * 1024;
/** `--name=value` from the command line (profiling a single path), else `fallback`. */
function arg(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}
const BULK_BYTES = Number(arg('mib', '32')) * MIB;
/** Bulk runs per path, alternating; the best counts (the machine is shared). */
const ROUNDS = Number(arg('rounds', '5'));
const PATHS = new Set(arg('paths', 'direct,relay,forwarder').split(','));
const KINDS = arg('kinds', 'secure,bare').split(',');
const CHUNK = 64 * 1024;
const PINGS = 400;
const PING_BYTES = 64;
const NAT_HOST = '127.0.0.5';
const RELAY_PROCESS_FLAG = '--relay-process';
const SELF = fileURLToPath(import.meta.url);

interface RelayProcess {
  child: ChildProcess;
  port: number;
  /** CPU time (µs, user + system) the relay process used so far. */
  cpu(): Promise<number>;
  /** Start a plain TCP forwarder to `port` on `host` in the relay process; resolves with its port. */
  forward(host: string, port: number): Promise<number>;
}

/** Start the relay in a child process; resolves once it listens. */
function startRelayProcess(dir: string): Promise<RelayProcess> {
  return new Promise((resolve, reject) => {
    // Profiling flags (`node --cpu-prof ...`) carry over, so the relay shows up in its own profile.
    const profiling = process.execArgv.filter((a) => a.startsWith('--cpu-prof'));
    const child = spawn(process.execPath, [...profiling, '--import', 'tsx', SELF, RELAY_PROCESS_FLAG, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the relay process did not start'));
    }, 20_000);
    // One question at a time: each line sent is answered by one number.
    const answers: Array<(n: number) => void> = [];
    const ask = (question: string): Promise<number> =>
      new Promise((answer) => {
        answers.push(answer);
        child.stdin!.write(`${question}\n`);
      });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const port = /^relay-port (\d+)$/.exec(line);
      if (port) {
        clearTimeout(timer);
        resolve({ child, port: Number(port[1]), cpu: () => ask('cpu'), forward: (host, to) => ask(`forward ${host} ${to}`) });
      }
      const answer = /^answer (\d+)$/.exec(line);
      if (answer) answers.shift()?.(Number(answer[1]));
    });
    child.once('exit', () => reject(new Error('the relay process exited')));
  });
}

/** In the child: run the relay until stdin closes; answer `cpu` with the CPU time used, `forward HOST PORT` with a forwarder's port. */
async function relayProcess(dir: string): Promise<void> {
  const kernel = await node(dir, '127.0.0.1', { serve: true, tunnelBytesPerSecond: 0 });
  const forwarders: Server[] = [];
  process.stdout.write(`relay-port ${kernel.connections.localPort}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const forward = /^forward (\S+) (\d+)$/.exec(line);
    if (!forward) return void process.stdout.write(`answer ${cpuMicros()}\n`);
    const server = createServer({ noDelay: true }, (inbound) => {
      const outbound = connect({ host: forward[1]!, port: Number(forward[2]), noDelay: true });
      inbound.pipe(outbound).pipe(inbound);
      for (const s of [inbound, outbound]) s.on('error', () => (inbound.destroy(), outbound.destroy()));
    });
    forwarders.push(server);
    server.listen(0, '127.0.0.1', () => process.stdout.write(`answer ${(server.address() as { port: number }).port}\n`));
  });
  await new Promise((r) => lines.once('close', r));
  for (const server of forwarders) server.close();
  await kernel.stop();
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

async function node(dir: string, host: string, relay: Record<string, unknown>): Promise<Kernel> {
  const config = resolveConfig({ dataDir: dir, logLevel: 'silent', listen: { host, port: 0 }, plugins: { relay } }, null);
  const kernel = await Kernel.create({ config, logger: createLogger('silent') });
  await kernel.start();
  return kernel;
}

/** A pair of connected streams (near at `from`, far at `to`) over `link`. */
async function channelPair(link: Connection, to: Kernel): Promise<[Duplex, Duplex]> {
  const name = randomBytes(20);
  const far = new Promise<Duplex>((resolve) => {
    const off = to.connections.onChannel((request) => {
      if (!request.name.equals(name)) return;
      off();
      resolve(request.accept());
    });
  });
  const near = await link.openChannel(name);
  return [near, await far];
}

async function securePair([near, far]: [Duplex, Duplex]): Promise<[Duplex, Duplex]> {
  const alice = loadIdentity('alice');
  const bob = loadIdentity('bob');
  return Promise.all([SecureChannel.connect(near, options(alice, bob)), SecureChannel.accept(far, options(bob, alice))]);
}

/** MiB/s of a one-way bulk transfer, and the CPU time per MiB it took in this process and the relay's. */
/** One bulk transfer: MiB/s, and CPU µs per MiB in all processes and in the relay's (or forwarder's) alone. */
interface BulkRun {
  rate: number;
  cpuPerMiB: number;
  relayCpuPerMiB: number;
}

async function bulk([near, far]: [Duplex, Duplex], relay: RelayProcess): Promise<BulkRun> {
  const chunk = randomBytes(CHUNK);
  let received = 0;
  const done = new Promise<void>((resolve) => {
    far.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= BULK_BYTES) resolve();
    });
  });
  const relayCpu = await relay.cpu();
  const ownCpu = cpuMicros();
  const start = process.hrtime.bigint();
  for (let sent = 0; sent < BULK_BYTES; sent += CHUNK) {
    if (!near.write(chunk)) await new Promise((r) => near.once('drain', r));
  }
  await done;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const own = cpuMicros() - ownCpu;
  const relayUsed = (await relay.cpu()) - relayCpu;
  far.removeAllListeners('data');
  const mib = BULK_BYTES / MIB;
  return { rate: mib / seconds, cpuPerMiB: (own + relayUsed) / mib, relayCpuPerMiB: relayUsed / mib };
}

/** Median round trip (µs) of a small message echoed by the far end. */
async function pingPong([near, far]: [Duplex, Duplex]): Promise<number> {
  far.on('data', (d: Buffer) => far.write(d));
  const msg = randomBytes(PING_BYTES);
  const times: number[] = [];
  for (let i = 0; i < PINGS; i++) {
    const start = process.hrtime.bigint();
    let got = 0;
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer): void => {
        got += d.length;
        if (got >= PING_BYTES) {
          near.off('data', onData);
          resolve();
        }
      };
      near.on('data', onData);
      near.write(msg);
    });
    times.push(Number(process.hrtime.bigint() - start) / 1e3);
  }
  far.removeAllListeners('data');
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function run(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bitchat-bench-relay-'));
  const kernels: Kernel[] = [];
  let relayProcessHandle: RelayProcess | undefined;
  try {
    const make = async (name: string, host: string, relay: Record<string, unknown>): Promise<Kernel> => {
      const k = await node(join(dir, name), host, relay);
      kernels.push(k);
      return k;
    };
    const relay = await startRelayProcess(join(dir, 'relay'));
    relayProcessHandle = relay;
    const relayPort = relay.port;
    const target = await make('target', NAT_HOST, {
      reachability: 'unreachable',
      relays: [`127.0.0.1:${relayPort}`],
      allowPrivateAddresses: true,
      maxRelays: 1,
      intervalSeconds: 0.1,
    });
    await target.hooks.announce.promise({ networkId: randomBytes(20), port: 1 });
    const client = (target.resolve('relay') as RelayPlugin).client!;
    for (let i = 0; i < 100 && client.relays().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    if (client.relays().length === 0) throw new Error('the target never registered with the relay');

    const viaRelay = await make('member-relay', '127.0.0.1', { client: false });
    const direct = await make('member-direct', '127.0.0.1', { client: false });
    const relayLink = await viaRelay.connections.connect({ host: '127.0.0.1', port: relayPort });
    const tunnel = await viaRelay.connections.connectVia({ host: '127.0.0.1', port: target.connections.localPort }, relayLink);
    const directLink = await direct.connections.connect({ host: NAT_HOST, port: target.connections.localPort });
    const viaForwarder = await make('member-forwarder', '127.0.0.1', { client: false });
    const forwarderPort = await relay.forward(NAT_HOST, target.connections.localPort);
    const forwardedLink = await viaForwarder.connections.connect({ host: '127.0.0.1', port: forwarderPort });
    if (!tunnel.virtual || directLink.virtual || forwardedLink.virtual) throw new Error('unexpected link kinds');

    const rows: BenchRow[] = [];
    for (const secure of KINDS.map((k) => k === 'secure')) {
      const label = secure ? 'SecureChannel' : 'bare channel';
      const pair = async (link: Connection): Promise<[Duplex, Duplex]> => {
        const p = await channelPair(link, target);
        return secure ? securePair(p) : p;
      };
      const d = await pair(directLink);
      const t = await pair(tunnel);
      const f = await pair(forwardedLink);
      // Warm the paths, then measure alternately so all see the same machine state.
      await pingPong(d);
      await pingPong(t);
      await pingPong(f);
      const none = (): BulkRun => ({ rate: 0, cpuPerMiB: Infinity, relayCpuPerMiB: Infinity });
      const best = { direct: none(), relay: none(), forwarder: none() };
      const keep = (into: BulkRun, run: BulkRun): void => {
        into.rate = Math.max(into.rate, run.rate);
        into.cpuPerMiB = Math.min(into.cpuPerMiB, run.cpuPerMiB);
        into.relayCpuPerMiB = Math.min(into.relayCpuPerMiB, run.relayCpuPerMiB);
      };
      for (let r = 0; r < ROUNDS; r++) {
        if (PATHS.has('direct')) keep(best.direct, await bulk(d, relay));
        if (PATHS.has('relay')) keep(best.relay, await bulk(t, relay));
        if (PATHS.has('forwarder')) keep(best.forwarder, await bulk(f, relay));
      }
      const directRtt = await pingPong(d);
      const relayRtt = await pingPong(t);
      for (const s of [...d, ...t, ...f]) s.destroy();
      if (PATHS.size < 3) {
        // Profiling a subset: each measured path on its own, no ratios.
        for (const path of PATHS) {
          const m = best[path as keyof typeof best];
          rows.push(
            { name: `${label} throughput, ${path}`, value: Math.round(m.rate), unit: 'MiB/s' },
            { name: `${label} CPU per MiB, ${path}`, value: Math.round(m.cpuPerMiB), unit: 'µs' },
            { name: `${label} CPU per MiB in the relay process, ${path}`, value: Math.round(m.relayCpuPerMiB), unit: 'µs' },
          );
        }
        continue;
      }
      rows.push(
        { name: `${label} throughput via relay`, value: Math.round(best.relay.rate), unit: 'MiB/s', reference: { name: 'direct', value: Math.round(best.direct.rate) }, target: '>= 70% of direct' },
        { name: `${label} CPU per MiB via relay (both processes)`, value: Math.round(best.relay.cpuPerMiB), unit: 'µs', reference: { name: 'direct', value: Math.round(best.direct.cpuPerMiB) } },
        { name: `${label} throughput via a plain TCP forwarder`, value: Math.round(best.forwarder.rate), unit: 'MiB/s', reference: { name: 'direct', value: Math.round(best.direct.rate) } },
        { name: `${label} CPU per MiB via a plain TCP forwarder`, value: Math.round(best.forwarder.cpuPerMiB), unit: 'µs', reference: { name: 'direct', value: Math.round(best.direct.cpuPerMiB) } },
        // The relay's own share, against what a plain forwarder costs in the same process.
        { name: `${label} CPU per MiB in the relay process`, value: Math.round(best.relay.relayCpuPerMiB), unit: 'µs', reference: { name: 'forwarder', value: Math.round(best.forwarder.relayCpuPerMiB) } },
        { name: `${label} round trip via relay (median, 64 B)`, value: Math.round(relayRtt), unit: 'µs', reference: { name: 'direct', value: Math.round(directRtt) } },
        { name: `${label} latency added by the relay`, value: Math.round(relayRtt - directRtt), unit: 'µs' },
      );
    }
    return rows;
  } finally {
    for (const k of kernels.reverse()) await k.stop().catch(() => undefined);
    const child = relayProcessHandle?.child;
    if (child) {
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin!.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === RELAY_PROCESS_FLAG) {
  await relayProcess(process.argv[3]!);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run();
  for (const row of rows) {
    const ref = row.reference ? `   (${row.reference.name}: ${row.reference.value} ${row.unit}, ${Math.round((row.value / row.reference.value) * 100)}%)` : '';
    console.log(`${row.name.padEnd(52)} ${String(row.value).padStart(9)} ${row.unit}${ref}${row.target ? `   target ${row.target}` : ''}`);
  }
}
