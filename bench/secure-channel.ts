/**
 * Secure channel benchmark, one process, loopback TCP on 127.0.0.1:
 * - bulk MB/s at 64 KiB and 1 KiB writes: our three suites, Node TLS 1.3
 *   (TLS_AES_256_GCM_SHA384) and the bare node:crypto seal+open loop of the same cipher
 *   (no stream, no socket: the ceiling);
 * - round trip of a 200-byte message (ours, GCM suite, vs TLS 1.3);
 * - handshake latency (median, p99, sequential, new TCP connection each) and handshakes/s
 *   (4 concurrent) per suite vs a mutual RSA-4096 TLS 1.3 handshake.
 * Both ends live in this process, so every figure pays for both sides' CPU.
 *
 * The machine is shared and its load swings, so each figure and its reference are
 * measured in alternating trials (reference, ours, reference, ours...) and reported as
 * medians; run directly, the script also prints each figure's range over the trials.
 *
 * Run: `node --import tsx bench/secure-channel.ts`.
 */
import { constants as cryptoConstants, createCipheriv, createDecipheriv, createHmac, createPrivateKey, randomBytes, sign, timingSafeEqual, X509Certificate } from 'node:crypto';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as tls from 'node:tls';
import { SecureChannel, type SecureChannelOptions, type SuiteName } from '../core/secure-channel/index.js';
import { DEFAULT_SUITES } from '../core/secure-channel/suites.js';
import type { BenchRow } from './types.js';


const FIXTURES = fileURLToPath(new URL('../test/fixtures/secure-channel/', import.meta.url));
const TRIALS = 3;
const BULK_MS = 400;
const BARE_MS = 200;
const RTT_ROUNDS = 1000;
/** Handshakes per kind, taken in turns with the other kinds. */
const HANDSHAKES_SEQUENTIAL = 40;
const HANDSHAKE_CONCURRENCY = 4;
const HANDSHAKE_RATE_MS = 600;
const KIB = 1024;
const MB = 1e6;
const progress = (what: string): void => {
  if (process.env.BENCH_VERBOSE) process.stderr.write(`secure-channel bench: ${what}\n`);
};

const pem = (f: string): Buffer => readFileSync(FIXTURES + f);
const ALICE = { cert: pem('alice.cert.pem'), key: pem('alice.key.pem') };
const BOB = { cert: pem('bob.cert.pem'), key: pem('bob.key.pem') };
// Fixed so the forked sink process shares it.
const PSK = Buffer.alloc(32, 0x42);

function channelOptions(self: typeof ALICE, peer: typeof ALICE, suite: SuiteName): SecureChannelOptions {
  const peerDer = new X509Certificate(peer.cert).raw;
  return {
    psk: PSK,
    identity: { certificateChain: [new X509Certificate(self.cert).raw], privateKey: createPrivateKey(self.key) },
    verifyPeer: async (chain) => ({ ok: chain[0]!.equals(peerDer) }),
    suites: [suite],
  };
}

type PairMaker = () => Promise<{ a: Duplex; b: Duplex; close: () => void }>;

async function tcpServer(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

function ourPairMaker(suite: SuiteName): PairMaker {
  const clientOpts = channelOptions(ALICE, BOB, suite);
  const serverOpts = channelOptions(BOB, ALICE, suite);
  return async () => {
    let accepted!: (c: Promise<SecureChannel>) => void;
    const acceptedP = new Promise<Promise<SecureChannel>>((r) => (accepted = r));
    const { server, port } = await tcpServer((s) => {
      s.setNoDelay(true);
      accepted(SecureChannel.accept(s, serverOpts));
    });
    const sock = connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    const [a, b] = await Promise.all([SecureChannel.connect(sock, clientOpts), acceptedP.then((p) => p)]);
    return {
      a,
      b,
      close: () => {
        a.destroy();
        b.destroy();
        server.close();
      },
    };
  };
}

function tlsOptions() {
  return {
    server: {
      key: BOB.key,
      cert: BOB.cert,
      ca: [ALICE.cert],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3' as const,
      ciphers: 'TLS_AES_256_GCM_SHA384',
    },
    client: {
      key: ALICE.key,
      cert: ALICE.cert,
      ca: [BOB.cert],
      minVersion: 'TLSv1.3' as const,
      ciphers: 'TLS_AES_256_GCM_SHA384',
      checkServerIdentity: () => undefined,
    },
  };
}

/** Plain TCP, no protection: the floor under every round trip. */
const tcpPairMaker: PairMaker = async () => {
  let accepted!: (s: Socket) => void;
  const acceptedP = new Promise<Socket>((r) => (accepted = r));
  const { server, port } = await tcpServer((s) => {
    s.setNoDelay(true);
    accepted(s);
  });
  const a = connect(port, '127.0.0.1');
  a.setNoDelay(true);
  await once(a, 'connect');
  const b = await acceptedP;
  return {
    a,
    b,
    close: () => {
      a.destroy();
      b.destroy();
      server.close();
    },
  };
};

/** µs for one 200-byte GCM record sealed and opened with node:crypto alone (one direction's crypto floor). */
function smallRecordCrypto(): number {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const payload = randomBytes(201);
  const header = Buffer.from([0x17, 0, 217]);
  const rounds = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) {
    const c = createCipheriv('aes-256-gcm', key, iv).setAAD(header);
    const ct = c.update(payload);
    c.final();
    const d = createDecipheriv('aes-256-gcm', key, iv).setAAD(header);
    d.setAuthTag(c.getAuthTag());
    d.update(ct);
    d.final();
  }
  return ((performance.now() - t0) * 1000) / rounds;
}

/** ms for one RSA-4096 signature and for two at once: shows whether a second core is free for the handshake's concurrent signatures. */
async function signatureTimes(): Promise<{ one: number; two: number }> {
  const key = createPrivateKey(ALICE.key);
  const once1 = (): Promise<void> =>
    new Promise((resolve, reject) => {
      sign('sha256', Buffer.alloc(64), { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, (err) => (err ? reject(err) : resolve()));
    });
  await once1();
  const rounds = 10;
  let t0 = performance.now();
  for (let i = 0; i < rounds; i++) await once1();
  const one = (performance.now() - t0) / rounds;
  t0 = performance.now();
  for (let i = 0; i < rounds; i++) await Promise.all([once1(), once1()]);
  return { one, two: (performance.now() - t0) / rounds };
}

const tlsPairMaker: PairMaker = async () => {
  const o = tlsOptions();
  let accepted!: (s: tls.TLSSocket) => void;
  const acceptedP = new Promise<tls.TLSSocket>((r) => (accepted = r));
  const server = tls.createServer({ ...o.server, noDelay: true }, (s) => accepted(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const a = tls.connect({ ...o.client, host: '127.0.0.1', port });
  a.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    a.once('secureConnect', resolve);
    a.once('error', reject);
  });
  const b = await acceptedP;
  if (!a.authorized || !b.authorized) throw new Error(`TLS peers not authorized: ${a.authorizationError} / ${b.authorizationError}`);
  return {
    a,
    b,
    close: () => {
      a.destroy();
      b.destroy();
      server.close();
    },
  };
};

/** MB/s of application bytes delivered a -> b, writing `size`-byte chunks for BULK_MS. */
async function bulk(make: PairMaker, size: number): Promise<number> {
  progress(`bulk ${size}`);
  const { a, b, close } = await make();
  progress('pair ready');
  const chunk = randomBytes(size);
  let received = 0;
  b.on('data', (d: Buffer) => (received += d.length));
  let stop = false;
  const pump = (): void => {
    while (!stop) {
      if (!a.write(chunk)) {
        a.once('drain', pump);
        return;
      }
    }
  };
  const t0 = process.hrtime.bigint();
  const startBytes = received;
  pump();
  await new Promise((r) => setTimeout(r, BULK_MS));
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const got = received - startBytes;
  stop = true;
  a.on('error', () => undefined);
  b.on('error', () => undefined);
  close();
  return got / elapsed / MB;
}

/**
 * Two-process variant: a forked child (this file with `--sink tls|ours`) accepts one
 * connection and counts bytes; the parent writes. The window is opened and closed over IPC.
 */
async function bulkTwoProcess(mode: 'tls' | 'ours', size: number): Promise<number> {
  progress(`bulk two-process ${mode} ${size}`);
  const child = fork(fileURLToPath(import.meta.url), ['--sink', mode], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const ask = <T>(msg: unknown): Promise<T> =>
    new Promise((resolve) => {
      child.once('message', (m) => resolve(m as T));
      if (msg !== undefined) child.send(msg as object);
    });
  try {
    const { port } = await ask<{ port: number }>(undefined);
    let writer: Duplex;
    if (mode === 'tls') {
      const sock = tls.connect({ ...tlsOptions().client, host: '127.0.0.1', port });
      sock.setNoDelay(true); // as the secure channel sets on its socket
      await once(sock, 'secureConnect');
      writer = sock;
    } else {
      writer = await SecureChannel.connect(connect(port, '127.0.0.1'), channelOptions(ALICE, BOB, 'X25519/RSA/AES-256-GCM'));
    }
    writer.on('error', () => undefined);
    const chunk = randomBytes(size);
    let stop = false;
    const pump = (): void => {
      while (!stop) {
        if (!writer.write(chunk)) {
          writer.once('drain', pump);
          return;
        }
      }
    };
    pump();
    await new Promise((r) => setTimeout(r, 100)); // warm-up
    await ask('start');
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, BULK_MS));
    const { bytes } = await ask<{ bytes: number }>('stop');
    const elapsed = (performance.now() - t0) / 1000;
    stop = true;
    writer.destroy();
    return bytes / elapsed / MB;
  } finally {
    child.kill();
  }
}

async function sink(mode: 'tls' | 'ours'): Promise<void> {
  let received = 0;
  let mark = 0;
  const onStream = (s: Duplex): void => {
    s.on('data', (d: Buffer) => (received += d.length));
    s.on('error', () => undefined);
  };
  let port: number;
  if (mode === 'tls') {
    const server = tls.createServer({ ...tlsOptions().server, noDelay: true }, onStream);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  } else {
    const opts = channelOptions(BOB, ALICE, 'X25519/RSA/AES-256-GCM');
    port = (await tcpServer((s) => SecureChannel.accept(s, opts).then(onStream, () => undefined))).port;
  }
  process.on('message', (m) => {
    if (m === 'start') {
      mark = received;
      process.send!({ ok: true });
    } else if (m === 'stop') {
      process.send!({ bytes: received - mark });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ port });
}

/** The ceiling: seal then open records of `size` bytes in memory, no stream. */
function bareLoop(cipher: 'gcm' | 'cbc', size: number): number {
  const key = randomBytes(32);
  const macKey = randomBytes(32);
  const payload = randomBytes(size);
  const header = Buffer.from([0x17, 0, 0]);
  let bytes = 0;
  let seq = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < BARE_MS) {
    for (let i = 0; i < 16; i++, seq++) {
      const seqBuf = Buffer.alloc(8);
      seqBuf.writeUInt32BE(seq, 4);
      if (cipher === 'gcm') {
        const iv = Buffer.alloc(12);
        seqBuf.copy(iv, 4);
        const c = createCipheriv('aes-256-gcm', key, iv).setAAD(header);
        const ct = c.update(payload);
        c.final();
        const tag = c.getAuthTag();
        const d = createDecipheriv('aes-256-gcm', key, iv).setAAD(header);
        d.setAuthTag(tag);
        const pt = d.update(ct);
        d.final();
        bytes += pt.length;
      } else {
        const iv = randomBytes(16);
        const c = createCipheriv('aes-256-cbc', key, iv);
        const ct = Buffer.concat([c.update(payload), c.final()]);
        const mac = createHmac('sha256', macKey).update(seqBuf).update(header).update(iv).update(ct).digest();
        const check = createHmac('sha256', macKey).update(seqBuf).update(header).update(iv).update(ct).digest();
        if (!timingSafeEqual(mac, check)) throw new Error('mac');
        const d = createDecipheriv('aes-256-cbc', key, iv);
        bytes += Buffer.concat([d.update(ct), d.final()]).length;
      }
    }
  }
  return bytes / ((performance.now() - t0) / 1000) / MB;
}

/** Median round trip (µs) of a 200-byte message echoed by the peer. */
async function roundTrip(make: PairMaker): Promise<number> {
  progress('round trip');
  const { a, b, close } = await make();
  b.on('data', (d: Buffer) => b.write(d));
  const msg = randomBytes(200);
  const samples: number[] = [];
  let pending = 0;
  let done: (() => void) | null = null;
  a.on('data', (d: Buffer) => {
    pending -= d.length;
    if (pending <= 0) done?.();
  });
  for (let i = 0; i < RTT_ROUNDS; i++) {
    const t0 = process.hrtime.bigint();
    pending = msg.length;
    await new Promise<void>((r) => {
      done = r;
      a.write(msg);
    });
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  close();
  return percentile(samples, 0.5);
}

function percentile(values: number[], p: number): number {
  const s = values.slice().sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

type Handshaker = (port: number) => Promise<void>;

async function ourHandshakeServer(suite: SuiteName): Promise<{ port: number; shake: Handshaker; close: () => void }> {
  const serverOpts = channelOptions(BOB, ALICE, suite);
  const clientOpts = channelOptions(ALICE, BOB, suite);
  const { server, port } = await tcpServer((s) => {
    SecureChannel.accept(s, serverOpts).then((c) => c.on('error', () => undefined), () => undefined);
  });
  const shake: Handshaker = async (p) => {
    const sock = connect(p, '127.0.0.1');
    sock.setNoDelay(true);
    const c = await SecureChannel.connect(sock, clientOpts);
    c.destroy();
  };
  return { port, shake, close: () => server.close() };
}

async function tlsHandshakeServer(): Promise<{ port: number; shake: Handshaker; close: () => void }> {
  const o = tlsOptions();
  // The server speaks once it has verified the client's certificate; the client counts the
  // handshake done when that byte arrives (TLS 1.3 clients finish before the server checked them).
  const server = tls.createServer(o.server, (s) => {
    s.on('error', () => undefined);
    s.end('k');
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const shake: Handshaker = (p) =>
    new Promise((resolve, reject) => {
      const a = tls.connect({ ...o.client, host: '127.0.0.1', port: p });
      a.setNoDelay(true);
      a.once('data', () => {
        a.destroy();
        resolve();
      });
      a.once('error', reject);
    });
  return { port, shake, close: () => server.close() };
}

interface HandshakeFigures {
  median: number;
  p99: number;
  rate: number;
}

/** Handshake latency of every kind, one handshake of each kind in turn (so load swings hit all alike), then the rates. */
async function handshakes(kinds: Array<() => Promise<{ port: number; shake: Handshaker; close: () => void }>>): Promise<HandshakeFigures[]> {
  const servers = [];
  for (const start of kinds) servers.push(await start());
  progress('handshakes');
  for (let i = 0; i < 3; i++) for (const s of servers) await s.shake(s.port); // warm-up
  const samples: number[][] = servers.map(() => []);
  for (let i = 0; i < HANDSHAKES_SEQUENTIAL; i++) {
    for (let k = 0; k < servers.length; k++) {
      const t0 = process.hrtime.bigint();
      await servers[k]!.shake(servers[k]!.port);
      samples[k]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const out: HandshakeFigures[] = [];
  for (let k = 0; k < servers.length; k++) {
    const { port, shake, close } = servers[k]!;
    let count = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: HANDSHAKE_CONCURRENCY }, async () => {
        while (performance.now() - t0 < HANDSHAKE_RATE_MS) {
          await shake(port);
          count++;
        }
      }),
    );
    const rate = count / ((performance.now() - t0) / 1000);
    close();
    out.push({ median: percentile(samples[k]!, 0.5), p99: percentile(samples[k]!, 0.99), rate });
  }
  return out;
}

/** Runs every measurement of `plan` TRIALS times, in turns, and returns the values of each. */
async function trials(plan: Array<() => Promise<number> | number>): Promise<number[][]> {
  const values: number[][] = plan.map(() => []);
  for (let t = 0; t < TRIALS; t++) for (let i = 0; i < plan.length; i++) values[i]!.push(await plan[i]!());
  return values;
}

const median = (v: number[]): number => percentile(v, 0.5);
/** Ranges of the rows, by name, for the direct-run printout. */
const ranges = new Map<string, [number, number]>();
function row(r: BenchRow, samples?: number[]): BenchRow {
  if (samples && samples.length > 1) ranges.set(r.name, [Math.min(...samples), Math.max(...samples)]);
  return r;
}

const SHORT: Record<SuiteName, string> = {
  'X25519/RSA/AES-256-GCM': 'X25519+GCM',
  'ECDHE-P256/RSA/AES-256-CBC+HMAC-SHA256': 'P256+CBC-HMAC',
  'DHE-2048/RSA/AES-256-CBC+HMAC-SHA256': 'DHE2048+CBC-HMAC',
};

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const sizes = [64 * KIB, KIB];
  const labelOf = (size: number): string => (size === KIB ? '1 KiB' : '64 KiB');
  for (const size of sizes) {
    const label = labelOf(size);
    const [bareGcm, bareCbc, tlsBulk, ...ours] = await trials([
      () => bareLoop('gcm', size),
      () => bareLoop('cbc', size),
      () => bulk(tlsPairMaker, size),
      ...DEFAULT_SUITES.map((suite) => () => bulk(ourPairMaker(suite), size)),
    ]);
    rows.push(row({ name: `bare node:crypto AES-256-GCM seal+open, ${label} records`, value: median(bareGcm!), unit: 'MB/s' }, bareGcm));
    rows.push(row({ name: `bare node:crypto AES-256-CBC+HMAC seal+open, ${label} records`, value: median(bareCbc!), unit: 'MB/s' }, bareCbc));
    rows.push(
      row(
        { name: `Node TLS 1.3 AES-256-GCM, ${label} writes`, value: median(tlsBulk!), unit: 'MB/s', reference: { name: 'bare GCM loop', value: median(bareGcm!) } },
        tlsBulk,
      ),
    );
    DEFAULT_SUITES.forEach((suite, i) => {
      const gcm = suite === 'X25519/RSA/AES-256-GCM';
      rows.push(
        row(
          {
            name: `secure channel ${SHORT[suite]}, ${label} writes`,
            value: median(ours[i]!),
            unit: 'MB/s',
            reference: gcm ? { name: 'TLS 1.3', value: median(tlsBulk!) } : { name: 'bare CBC+HMAC loop', value: median(bareCbc!) },
            target: gcm ? '>= 1.0x TLS 1.3' : '>= 0.9x bare CBC+HMAC',
          },
          ours[i],
        ),
      );
    });
  }
  for (const size of sizes) {
    const label = labelOf(size);
    const [tls2, ours2] = await trials([() => bulkTwoProcess('tls', size), () => bulkTwoProcess('ours', size)]);
    rows.push(row({ name: `two processes: Node TLS 1.3 AES-256-GCM, ${label} writes`, value: median(tls2!), unit: 'MB/s' }, tls2));
    rows.push(
      row(
        {
          name: `two processes: secure channel X25519+GCM, ${label} writes`,
          value: median(ours2!),
          unit: 'MB/s',
          reference: { name: 'TLS 1.3', value: median(tls2!) },
          target: '>= 1.0x TLS 1.3',
        },
        ours2,
      ),
    );
  }
  const [tcpRtt, tlsRtt, ourRtt, cryptoFloor] = await trials([
    () => roundTrip(tcpPairMaker),
    () => roundTrip(tlsPairMaker),
    () => roundTrip(ourPairMaker('X25519/RSA/AES-256-GCM')),
    smallRecordCrypto,
  ]);
  rows.push(row({ name: 'round trip 200 B, plain TCP (floor)', value: median(tcpRtt!), unit: 'µs' }, tcpRtt));
  rows.push(row({ name: 'createCipheriv+createDecipheriv seal+open of a 200 B GCM record', value: median(cryptoFloor!), unit: 'µs' }, cryptoFloor));
  rows.push(row({ name: 'round trip 200 B, TLS 1.3', value: median(tlsRtt!), unit: 'µs' }, tlsRtt));
  rows.push(
    row(
      {
        name: 'round trip 200 B, secure channel X25519+GCM',
        value: median(ourRtt!),
        unit: 'µs',
        reference: { name: 'TLS 1.3', value: median(tlsRtt!) },
        target: '<= 1.2x TLS 1.3',
      },
      ourRtt,
    ),
  );

  const sig = await signatureTimes();
  rows.push({ name: 'RSA-4096 signature, one alone', value: sig.one, unit: 'ms' });
  rows.push({ name: 'RSA-4096 signatures, two at once (as in our handshake)', value: sig.two, unit: 'ms', reference: { name: 'one alone', value: sig.one } });
  const [tlsHs, ...oursHs] = await handshakes([tlsHandshakeServer, ...DEFAULT_SUITES.map((suite) => () => ourHandshakeServer(suite))]);
  rows.push({ name: 'handshake median, TLS 1.3 mutual RSA-4096', value: tlsHs!.median, unit: 'ms' });
  rows.push({ name: 'handshake p99, TLS 1.3 mutual RSA-4096', value: tlsHs!.p99, unit: 'ms' });
  rows.push({ name: `handshakes/s (${HANDSHAKE_CONCURRENCY} concurrent), TLS 1.3 mutual RSA-4096`, value: tlsHs!.rate, unit: '/s' });
  DEFAULT_SUITES.forEach((suite, i) => {
    const hs = oursHs[i]!;
    const ref = (value: number) => ({ name: 'TLS 1.3 mutual RSA-4096', value });
    rows.push({ name: `handshake median, ${SHORT[suite]}`, value: hs.median, unit: 'ms', reference: ref(tlsHs!.median), target: '<= 0.6x TLS' });
    rows.push({ name: `handshake p99, ${SHORT[suite]}`, value: hs.p99, unit: 'ms', reference: ref(tlsHs!.p99) });
    rows.push({ name: `handshakes/s (${HANDSHAKE_CONCURRENCY} concurrent), ${SHORT[suite]}`, value: hs.rate, unit: '/s', reference: ref(tlsHs!.rate) });
  });
  return rows;
}

const sinkAt = process.argv.indexOf('--sink');
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && sinkAt > 0) {
  await sink(process.argv[sinkAt + 1] === 'tls' ? 'tls' : 'ours');
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const rows = await run();
  for (const r of rows) {
    const ref = r.reference ? `  (${r.reference.name}: ${r.reference.value.toFixed(1)}, ratio ${(r.value / r.reference.value).toFixed(2)})` : '';
    const range = ranges.get(r.name);
    const spread = range ? `  [${range[0].toFixed(1)}-${range[1].toFixed(1)}]` : '';
    process.stdout.write(`${r.name.padEnd(70)} ${r.value.toFixed(1).padStart(9)} ${r.unit}${spread}${ref}${r.target ? `  target ${r.target}` : ''}\n`);
  }
  process.stdout.write(`(${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
