/**
 * Real BitTorrent trackers on 127.0.0.1 for tests and benchmarks:
 * - `startLocalTracker()`: the `bittorrent-tracker` server (HTTP + UDP);
 * - `startOpentracker()`: Debian's `opentracker` binary, or null when it is not
 *   installed (callers skip with a clear message).
 * Both tear down completely (sockets closed, process reaped, files removed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'bittorrent-tracker';
import type { NetworkId } from '../../core/types.js';

const LOOPBACK = '127.0.0.1';
const OPENTRACKER_BIN = '/usr/bin/opentracker';
const READY_TIMEOUT_MS = 5_000;
const POLL_MS = 50;

export interface LocalTracker {
  httpUrl: string;
  udpUrl: string;
  /** Only opentracker needs it (Debian builds it with a whitelist); a no-op elsewhere. */
  allow(networkId: NetworkId): Promise<void>;
  close(): Promise<void>;
}

/** The `bittorrent-tracker` server on loopback, HTTP and UDP on their own free ports. */
export async function startLocalTracker(options: { intervalMs?: number } = {}): Promise<LocalTracker> {
  const server = new Server({ http: true, udp: true, ws: false, stats: false, ...(options.intervalMs ? { interval: options.intervalMs } : {}) });
  // Its own 'warning'/'error' events (bad requests) must not throw in the test process.
  server.on('warning', () => {});
  server.on('error', () => {});
  await new Promise<void>((resolve) => {
    // The object form: the string form with UDP never becomes listening.
    server.listen(0, { http: LOOPBACK, udp: LOOPBACK, udp6: '::1' }, () => resolve());
  });
  const httpPort = (server.http!.address() as { port: number }).port;
  const udpPort = server.udp4!.address().port;
  return {
    httpUrl: `http://${LOOPBACK}:${httpPort}/announce`,
    udpUrl: `udp://${LOOPBACK}:${udpPort}`,
    allow: async () => {},
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}


/** A port free for both TCP and UDP on loopback right now (opentracker cannot take port 0). */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, LOOPBACK, () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, LOOPBACK, () => s.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port for opentracker');
}

export function opentrackerInstalled(): boolean {
  return existsSync(OPENTRACKER_BIN);
}

async function httpGet(url: string): Promise<Buffer | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return Buffer.from(await res.arrayBuffer());
  } catch {
    return null;
  }
}

function escapeBytes(b: Buffer): string {
  return [...b].map((x) => '%' + x.toString(16).padStart(2, '0')).join('');
}

/**
 * Debian's opentracker on loopback (TCP and UDP on one port), chrooted into a
 * temp folder. Debian builds it with an info-hash whitelist: `allow()` adds a
 * network and waits until the tracker has reloaded the list (SIGHUP).
 * Returns null when the binary is not installed.
 */
export async function startOpentracker(): Promise<LocalTracker | null> {
  if (!opentrackerInstalled()) return null;
  const dir = await mkdtemp(join(tmpdir(), 'opentracker-'));
  // It drops to `nobody` after chroot and re-reads the whitelist from there.
  await chmod(dir, 0o755);
  const port = await freePort();
  const base = `http://${LOOPBACK}:${port}`;
  // Paths in the config are inside the chroot (-d dir).
  await writeFile(join(dir, 'whitelist.txt'), '');
  await writeFile(join(dir, 'opentracker.conf'), `access.whitelist /whitelist.txt\nlisten.tcp_udp ${LOOPBACK}:${port}\n`);
  const child: ChildProcess = spawn(OPENTRACKER_BIN, ['-f', join(dir, 'opentracker.conf'), '-d', dir, '-u', 'nobody'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4_096) stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while ((await httpGet(`${base}/stats`)) === null) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await close();
      throw new Error(`opentracker did not start: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const allowed = new Set<string>();
  return {
    httpUrl: `${base}/announce`,
    udpUrl: `udp://${LOOPBACK}:${port}`,
    async allow(networkId) {
      // Each reload swaps the whole list in; one per network keeps reloads rare.
      if (allowed.has(networkId.toString('hex'))) return;
      allowed.add(networkId.toString('hex'));
      await appendFile(join(dir, 'whitelist.txt'), networkId.toString('hex') + '\n');
      child.kill('SIGHUP');
      // Probe with a "stopped" event (adds no peer) until the hash is accepted.
      const probe = `${base}/announce?info_hash=${escapeBytes(networkId)}&peer_id=-PROBE-000000000000&port=1&event=stopped&compact=1`;
      const until = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        const body = await httpGet(probe);
        if (body && !body.includes('failure reason')) return;
        if (Date.now() > until) throw new Error('opentracker did not reload its whitelist');
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
    close,
  };
}
