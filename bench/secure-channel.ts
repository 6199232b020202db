/**
 * Secure channel benchmark, one process, loopback TCP on 127.0.0.1:
 * - bulk MB/s at 64 KiB and 1 KiB writes: our three suites, Node TLS 1.3
 *   (TLS_AES_256_GCM_SHA384) and the bare node:crypto seal+open loop of the same cipher
 *   (no stream, no socket: the ceiling), plus CPU time per byte of each;
 * - "limit" rows: a bare JavaScript record loop over the same TCP socket (fresh cipher
 *   per record, nothing else), i.e. what any record layer on node:crypto's cipher objects
 *   can reach, and the round-trip floor plain TCP + 2 x (seal + open);
 * - round trip of a 200-byte message (ours, GCM suite, vs TLS 1.3);
 * - handshake latency (median, p99, sequential, new TCP connection each), CPU per
 *   handshake and handshakes/s (4 concurrent) per suite vs a mutual RSA-4096 TLS 1.3
 *   handshake; identity verifyPeer cold and with its parsed-certificate cache.
 * Both ends live in this process, so every figure pays for both sides' CPU.
 *
 * The machine is shared and its load swings, so each figure and its reference are
 * measured in alternating trials (reference, ours, reference, ours...) and reported as
 * medians; run directly, the script also prints each figure's range over the trials.
 *
 * Run: `node --import tsx bench/secure-channel.ts` (`BENCH_SC_PART=handshake` or `=data` for the
 * handshake or record-layer rows only, `BENCH_VERBOSE=1` for progress).
 */
import {
  constants as cryptoConstants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  timingSafeEqual,
  X509Certificate,
} from 'node:crypto';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as tls from 'node:tls';
import { SecureChannel, keySharePool, type SecureChannelOptions, type SuiteName } from '../core/secure-channel/index.js';
import { DEFAULT_SUITES } from '../core/secure-channel/suites.js';
import { RecordReader } from '../core/secure-channel/record-reader.js';
import { createCaCertificate, issueUserCertificate } from '../core/identity/certificate.js';
import { createCertificateVerifier } from '../core/identity/verifier.js';
import type { BenchRow } from './types.js';


const FIXTURES = fileURLToPath(new URL('../test/fixtures/secure-channel/', import.meta.url));
const TRIALS = 3;
const BULK_MS = 400;
const BARE_MS = 200;
/** Bulk tests write this long before their window opens. */
const WARM_UP_MS = 100;
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

/** Largest payload per record in the bare loops: the channel's MAX_RECORD_PAYLOAD. */
const BARE_RECORD_PAYLOAD = 65_280;
/** The bare loops' keys; fixed so a forked sink process shares them. */
const BARE_KEY = Buffer.alloc(32, 0x4b);
const BARE_MAC_KEY = Buffer.alloc(32, 0x4d);
type BareCipher = 'gcm' | 'cbc';

function bareSeqBytes(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(seq, 4);
  return b;
}

function bareGcmNonce(seq: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(seq, 8);
  return iv;
}

/**
 * The least a record layer on node:crypto must do, over a socket: each write sealed as
 * records (fresh cipher per record, sequence-number nonce, header as AAD; or CBC + HMAC),
 * header, body and tag written corked; records cut from the received chunks without
 * copying them (a record spanning two reads is opened piece by piece, as our reader
 * does), the MAC checked before decrypting, the plaintext pushed as it comes out of the
 * cipher. No coalescing, no key schedule, no error handling: the ceiling for any
 * JavaScript record layer offered as a Duplex, next to TLS 1.3 doing the same work in C.
 */
function bareRecordStream(sock: Socket, cipher: BareCipher): Duplex {
  let sendSeq = 0;
  let receiveSeq = 0;
  const sealOne = (payload: Buffer): void => {
    const n = sendSeq++;
    sock.cork();
    if (cipher === 'gcm') {
      const header = Buffer.from([0x17, (payload.length + 16) >> 8, (payload.length + 16) & 0xff]);
      const c = createCipheriv('aes-256-gcm', BARE_KEY, bareGcmNonce(n)).setAAD(header);
      const ct = c.update(payload);
      c.final();
      sock.write(header);
      sock.write(ct);
      sock.write(c.getAuthTag());
    } else {
      const iv = randomBytes(16);
      const c = createCipheriv('aes-256-cbc', BARE_KEY, iv);
      const ct = Buffer.concat([c.update(payload), c.final()]);
      const header = Buffer.from([0x17, (16 + ct.length + 32) >> 8, (16 + ct.length + 32) & 0xff]);
      sock.write(header);
      sock.write(iv);
      sock.write(ct);
      sock.write(createHmac('sha256', BARE_MAC_KEY).update(bareSeqBytes(n)).update(header).update(iv).update(ct).digest());
    }
    sock.uncork();
  };
  const stream = new Duplex({
    writableHighWaterMark: 256 * 1024,
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      for (let off = 0; off < chunk.length; off += BARE_RECORD_PAYLOAD) sealOne(chunk.subarray(off, off + BARE_RECORD_PAYLOAD));
      if (!sock.writableNeedDrain) callback();
      else sock.once('drain', () => callback());
    },
    destroy(err, callback) {
      sock.destroy();
      callback(err);
    },
  });
  const open = (header: Buffer, parts: Buffer[]): boolean => {
    const n = receiveSeq++;
    let more = true;
    const push = (pt: Buffer): void => {
      if (pt.length > 0) more = stream.push(pt) && more;
    };
    if (cipher === 'gcm') {
      const tag = takeTail(parts, 16);
      const d = createDecipheriv('aes-256-gcm', BARE_KEY, bareGcmNonce(n)).setAAD(header).setAuthTag(tag);
      for (const p of parts) push(d.update(p));
      d.final();
    } else {
      const mac = takeTail(parts, 32);
      const iv = parts[0]!.length >= 16 ? parts[0]!.subarray(0, 16) : Buffer.concat(parts).subarray(0, 16);
      const body = takeHead(parts, 16);
      const hmac = createHmac('sha256', BARE_MAC_KEY).update(bareSeqBytes(n)).update(header).update(iv);
      for (const p of body) hmac.update(p);
      if (!timingSafeEqual(hmac.digest(), mac)) throw new Error('bad MAC');
      const d = createDecipheriv('aes-256-cbc', BARE_KEY, iv);
      for (const p of body) push(d.update(p));
      push(d.final());
    }
    return more;
  };
  const reader = new RecordReader();
  sock.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    for (let rec = reader.nextParts(); rec; rec = reader.nextParts()) if (!open(rec.header, rec.parts)) sock.pause();
  });
  return stream;
}

/** `n` bytes from the end of `parts`, taken off them (a view unless they straddle pieces). */
function takeTail(parts: Buffer[], n: number): Buffer {
  const last = parts[parts.length - 1]!;
  if (last.length >= n) {
    parts[parts.length - 1] = last.subarray(0, last.length - n);
    return last.subarray(last.length - n);
  }
  const tail = Buffer.concat(parts).subarray(-n);
  let cut = n;
  while (cut > 0) {
    const p = parts.pop()!;
    if (p.length > cut) parts.push(p.subarray(0, p.length - cut));
    cut -= Math.min(cut, p.length);
  }
  return tail;
}

/** `parts` without their first `n` bytes (views). */
function takeHead(parts: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = n;
  for (const p of parts) {
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    out.push(skip > 0 ? p.subarray(skip) : p);
    skip = 0;
  }
  return out;
}

function bareRecordPairMaker(cipher: BareCipher): PairMaker {
  return async () => {
    const tcp = await tcpPairMaker();
    return { a: bareRecordStream(tcp.a as Socket, cipher), b: bareRecordStream(tcp.b as Socket, cipher), close: tcp.close };
  };
}

/**
 * µs for one 200-byte GCM record sealed and opened with node:crypto alone (one direction's
 * crypto floor): the fastest of several blocks, so a neighbour's burst on this shared
 * machine does not inflate a figure that is meant as a lower bound.
 */
function smallRecordCrypto(): number {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const payload = randomBytes(201);
  const header = Buffer.from([0x17, 0, 217]);
  const blocks = 40;
  const rounds = 500;
  let best = Infinity;
  for (let b = 0; b < blocks; b++) {
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
    best = Math.min(best, ((performance.now() - t0) * 1000) / rounds);
  }
  return best;
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

/**
 * MB/s of application bytes delivered a -> b, writing `size`-byte chunks for BULK_MS.
 * `cpu` receives the process CPU time (all threads, both ends) per byte delivered, in ns:
 * less sensitive to the machine's load than MB/s, which is what a busy neighbour steals.
 */
async function bulk(make: PairMaker, size: number, cpu?: number[]): Promise<number> {
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
  pump();
  // Past the first moments (JIT, TCP windows, first GCs), as the two-process test does.
  await new Promise((r) => setTimeout(r, WARM_UP_MS));
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const startBytes = received;
  await new Promise((r) => setTimeout(r, BULK_MS));
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const got = received - startBytes;
  const used = process.cpuUsage(cpu0);
  cpu?.push(((used.user + used.system) * 1000) / got);
  stop = true;
  a.on('error', () => undefined);
  b.on('error', () => undefined);
  close();
  return got / elapsed / MB;
}

/** What the two-process bulk test runs: TLS, one of our suites, or a bare record loop. */
type TwoProcessMode = 'tls' | 'tcp' | SuiteName | `bare-${BareCipher}`;

/**
 * Two-process variant: a forked child (this file with `--sink <mode>`) accepts one
 * connection and counts bytes; the parent writes. The window is opened and closed over IPC.
 * Each side has a core of its own here, as two peers on two machines would.
 */
async function bulkTwoProcess(mode: TwoProcessMode, size: number, receiverCpu?: number[]): Promise<number> {
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
    } else if (mode === 'tcp' || mode === 'bare-gcm' || mode === 'bare-cbc') {
      const sock = connect(port, '127.0.0.1');
      sock.setNoDelay(true);
      await once(sock, 'connect');
      writer = mode === 'tcp' ? sock : bareRecordStream(sock, mode === 'bare-gcm' ? 'gcm' : 'cbc');
    } else {
      writer = await SecureChannel.connect(connect(port, '127.0.0.1'), channelOptions(ALICE, BOB, mode));
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
    await new Promise((r) => setTimeout(r, WARM_UP_MS));
    await ask('start');
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, BULK_MS));
    const { bytes, cpuMicros } = await ask<{ bytes: number; cpuMicros: number }>('stop');
    const elapsed = (performance.now() - t0) / 1000;
    receiverCpu?.push((cpuMicros * 1000) / bytes);
    stop = true;
    writer.destroy();
    return bytes / elapsed / MB;
  } finally {
    child.kill();
  }
}

async function sink(mode: TwoProcessMode): Promise<void> {
  let received = 0;
  let mark = 0;
  let cpuMark = process.cpuUsage();
  const onStream = (s: Duplex): void => {
    s.on('data', (d: Buffer) => (received += d.length));
    s.on('error', () => undefined);
  };
  let port: number;
  if (mode === 'tls') {
    const server = tls.createServer({ ...tlsOptions().server, noDelay: true }, onStream);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  } else if (mode === 'tcp' || mode === 'bare-gcm' || mode === 'bare-cbc') {
    port = (
      await tcpServer((s) => {
        s.setNoDelay(true);
        onStream(mode === 'tcp' ? s : bareRecordStream(s, mode === 'bare-gcm' ? 'gcm' : 'cbc'));
      })
    ).port;
  } else {
    const opts = channelOptions(BOB, ALICE, mode);
    port = (await tcpServer((s) => SecureChannel.accept(s, opts).then(onStream, () => undefined))).port;
  }
  process.on('message', (m) => {
    if (m === 'start') {
      mark = received;
      cpuMark = process.cpuUsage();
      process.send!({ ok: true });
    } else if (m === 'stop') {
      const cpu = process.cpuUsage(cpuMark);
      process.send!({ bytes: received - mark, cpuMicros: cpu.user + cpu.system });
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

/** MB/s of opening one sealed GCM record of `size` bytes again and again (fresh decipher each time), in memory. */
function gcmOpenOnly(size: number): number {
  const header = Buffer.from([0x17, 0, 0]);
  const nonce = bareGcmNonce(1);
  const c = createCipheriv('aes-256-gcm', BARE_KEY, nonce).setAAD(header);
  const ct = c.update(randomBytes(size));
  c.final();
  const tag = c.getAuthTag();
  let bytes = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < BARE_MS) {
    for (let i = 0; i < 16; i++) {
      const d = createDecipheriv('aes-256-gcm', BARE_KEY, nonce).setAAD(header).setAuthTag(tag);
      bytes += d.update(ct).length;
      d.final();
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

/** CA-issued RSA-4096 profile certificates for the fixture keys (the CA key is mallory's), as a chat node has them. */
interface BenchProfiles {
  root: Buffer;
  alice: Buffer;
  bob: Buffer;
}

function benchProfiles(): BenchProfiles {
  const caKey = createPrivateKey(pem('mallory.key.pem'));
  const root = createCaCertificate({ privateKey: caKey, name: 'Bench CA' });
  const issue = (key: Buffer, name: string): Buffer =>
    issueUserCertificate({ issuerCert: root, issuerKey: caKey, subjectPublicKey: createPublicKey(key), profile: { name, email: `${name.toLowerCase()}@example.org` } });
  return { root, alice: issue(ALICE.key, 'Alice'), bob: issue(BOB.key, 'Bob') };
}

/** The identity layer's verifier as a chat node uses it (CA mode, revocation off); cacheEntries 0 turns its parse cache off. */
function profileVerifier(profiles: BenchProfiles, cacheEntries?: number): ReturnType<typeof createCertificateVerifier> {
  return createCertificateVerifier({ mode: 'ca', trustedRoots: [profiles.root], revocationPolicy: { mode: 'off' }, ...(cacheEntries !== undefined ? { cacheEntries } : {}) });
}

/**
 * µs per identity verifyPeer of a CA-issued RSA-4096 profile: with the parse cache off
 * (what a first handshake with a peer pays, on each side) and on (a peer seen again).
 */
async function verifyPeerTimes(profiles: BenchProfiles): Promise<{ cold: number; warm: number }> {
  const cold = profileVerifier(profiles, 0);
  const warm = profileVerifier(profiles);
  const time = async (v: typeof cold): Promise<number> => {
    const rounds = 50;
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) if (!(await v.verifyPeer([profiles.alice])).ok) throw new Error('bench profile refused');
    return ((performance.now() - t0) * 1000) / rounds;
  };
  await time(cold);
  await time(warm);
  const [c, w] = await trials([() => time(cold), () => time(warm)]);
  return { cold: median(c!), warm: median(w!) };
}

type Handshaker = (port: number) => Promise<void>;
interface HandshakeKind {
  port: number;
  shake: Handshaker;
  close: () => void;
  /**
   * Work the node does when idle after a handshake (ours: refilling the key-share pool).
   * Run after each timed handshake: counted in the CPU figure, not in the latency, as
   * between the handshakes of a real node (the rate figure pays for it inline).
   */
  idle?: () => void;
  /** Makes the next handshake a first contact again (new verifiers); outside the timing and the CPU figure. */
  forget?: () => void;
}

/**
 * Our handshake server and client. With `profiles`, both sides present CA-issued profile
 * certificates and judge the peer's with the identity verifier (its parse cache on, as in a
 * chat node; TLS checks its peer's certificate too); `firstContact` gives both sides new
 * verifiers after each handshake, so every handshake meets a peer they never saw.
 */
async function ourHandshakeServer(suite: SuiteName, profiles?: BenchProfiles, firstContact = false): Promise<HandshakeKind> {
  const serverOpts = channelOptions(BOB, ALICE, suite);
  const clientOpts = channelOptions(ALICE, BOB, suite);
  let forget: (() => void) | undefined;
  if (profiles) {
    serverOpts.identity = { ...serverOpts.identity, certificateChain: [profiles.bob] };
    clientOpts.identity = { ...clientOpts.identity, certificateChain: [profiles.alice] };
    let serverVerifier = profileVerifier(profiles);
    let clientVerifier = profileVerifier(profiles);
    if (firstContact) {
      forget = () => {
        serverVerifier = profileVerifier(profiles);
        clientVerifier = profileVerifier(profiles);
      };
    }
    serverOpts.verifyPeer = (chain, staple) => serverVerifier.verifyPeer(chain, staple);
    clientOpts.verifyPeer = (chain, staple) => clientVerifier.verifyPeer(chain, staple);
    // One decode of the peer's certificate per handshake (none for a cached peer).
    serverOpts.peerPublicKey = (der) => serverVerifier.publicKeyOf(der);
    clientOpts.peerPublicKey = (der) => clientVerifier.publicKeyOf(der);
  }
  const { server, port } = await tcpServer((s) => {
    SecureChannel.accept(s, serverOpts).then((c) => c.on('error', () => undefined), () => undefined);
  });
  const shake: Handshaker = async (p) => {
    const sock = connect(p, '127.0.0.1');
    sock.setNoDelay(true);
    const c = await SecureChannel.connect(sock, clientOpts);
    c.destroy();
  };
  return { port, shake, close: () => server.close(), idle: () => keySharePool.fill(), ...(forget ? { forget } : {}) };
}

async function tlsHandshakeServer(): Promise<HandshakeKind> {
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
  /** Median process CPU time (both ends, thread pool included) of one sequential handshake, ms. */
  cpu: number;
  rate: number;
}

/** Handshake latency of every kind, one handshake of each kind in turn (so load swings hit all alike), then the rates. */
async function handshakes(kinds: Array<() => Promise<HandshakeKind>>): Promise<HandshakeFigures[]> {
  const servers = [];
  for (const start of kinds) servers.push(await start());
  progress('handshakes');
  for (let i = 0; i < 3; i++) {
    for (const s of servers) {
      await s.shake(s.port); // warm-up
      s.idle?.();
      s.forget?.();
    }
  }
  const samples: number[][] = servers.map(() => []);
  const cpu: number[][] = servers.map(() => []);
  for (let i = 0; i < HANDSHAKES_SEQUENTIAL; i++) {
    for (let k = 0; k < servers.length; k++) {
      const t0 = process.hrtime.bigint();
      const cpu0 = process.cpuUsage();
      await servers[k]!.shake(servers[k]!.port);
      samples[k]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
      servers[k]!.idle?.();
      const used = process.cpuUsage(cpu0);
      cpu[k]!.push((used.user + used.system) / 1000);
      servers[k]!.forget?.();
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
    out.push({ median: percentile(samples[k]!, 0.5), p99: percentile(samples[k]!, 0.99), cpu: percentile(cpu[k]!, 0.5), rate });
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
  // BENCH_SC_PART=handshake measures only the handshakes (~7 s instead of ~50 s).
  if (process.env.BENCH_SC_PART === 'handshake') return handshakeRows();
  const rows: BenchRow[] = [];
  const sizes = [64 * KIB, KIB];
  const labelOf = (size: number): string => (size === KIB ? '1 KiB' : '64 KiB');
  /** The in-memory CBC+HMAC seal+open loop at 64 KiB: the minimal record layer of the CBC target. */
  let bareCbc64 = 0;
  for (const size of sizes) {
    const label = labelOf(size);
    const full = size === 64 * KIB;
    // CPU per byte of each socket figure, filled by bulk() in the same trials.
    const cpuTls: number[] = [];
    const cpuBareGcm: number[] = [];
    const cpuBareCbc: number[] = [];
    const cpuOurs: number[][] = DEFAULT_SUITES.map(() => []);
    const plan: Array<() => Promise<number> | number> = [
      () => bareLoop('gcm', size),
      () => bareLoop('cbc', size),
      () => bulk(tlsPairMaker, size, cpuTls),
      ...DEFAULT_SUITES.map((suite, i) => () => bulk(ourPairMaker(suite), size, cpuOurs[i])),
    ];
    // The record-loop ceilings over a socket only mean something for full records.
    const cpuTcp: number[] = [];
    if (full) {
      plan.push(
        () => bulk(bareRecordPairMaker('gcm'), size, cpuBareGcm),
        () => bulk(bareRecordPairMaker('cbc'), size, cpuBareCbc),
        () => bulk(tcpPairMaker, size, cpuTcp),
      );
    }
    const [bareGcm, bareCbc, tlsBulk, ...rest] = await trials(plan);
    if (full) bareCbc64 = median(bareCbc!);
    const ours = rest.slice(0, DEFAULT_SUITES.length);
    const [socketGcm, socketCbc] = rest.slice(DEFAULT_SUITES.length);
    rows.push(row({ name: `bare node:crypto AES-256-GCM seal+open, ${label} records`, value: median(bareGcm!), unit: 'MB/s' }, bareGcm));
    rows.push(row({ name: `bare node:crypto AES-256-CBC+HMAC seal+open, ${label} records`, value: median(bareCbc!), unit: 'MB/s' }, bareCbc));
    rows.push(
      row(
        { name: `Node TLS 1.3 AES-256-GCM, ${label} writes`, value: median(tlsBulk!), unit: 'MB/s', reference: { name: 'bare GCM loop', value: median(bareGcm!) } },
        tlsBulk,
      ),
    );
    if (socketGcm && socketCbc) {
      rows.push(
        row(
          {
            name: `limit: bare GCM record loop over TCP (JS), ${label} writes`,
            value: median(socketGcm),
            unit: 'MB/s',
            reference: { name: 'TLS 1.3', value: median(tlsBulk!) },
          },
          socketGcm,
        ),
      );
      rows.push(
        row(
          {
            name: `limit: bare CBC+HMAC record loop over TCP (JS), ${label} writes`,
            value: median(socketCbc),
            unit: 'MB/s',
            reference: { name: 'bare CBC+HMAC loop', value: median(bareCbc!) },
          },
          socketCbc,
        ),
      );
    }
    DEFAULT_SUITES.forEach((suite, i) => {
      const gcm = suite === 'X25519/RSA/AES-256-GCM';
      rows.push(
        row(
          {
            name: `secure channel ${SHORT[suite]}, ${label} writes`,
            value: median(ours[i]!),
            unit: 'MB/s',
            // One process pays both ends' crypto and the socket: the CBC yardstick is then the
            // bare record loop over the same socket (in memory it has no socket to pay for).
            reference: gcm
              ? { name: 'TLS 1.3', value: median(tlsBulk!) }
              : socketCbc
                ? { name: 'bare CBC+HMAC loop over TCP', value: median(socketCbc) }
                : { name: 'bare CBC+HMAC loop', value: median(bareCbc!) },
            target: gcm ? '>= 1.0x TLS 1.3' : '>= 0.9x bare CBC+HMAC',
          },
          ours[i],
        ),
      );
    });
    // CPU per byte (lower is better; a ratio below 1 means cheaper than the reference).
    rows.push(row({ name: `CPU per byte, Node TLS 1.3 AES-256-GCM, ${label} writes`, value: median(cpuTls), unit: 'ns/B' }, cpuTls));
    if (full) {
      rows.push(
        row({ name: `CPU per byte, limit: bare GCM record loop over TCP, ${label}`, value: median(cpuBareGcm), unit: 'ns/B', reference: { name: 'TLS 1.3', value: median(cpuTls) } }, cpuBareGcm),
      );
      rows.push(row({ name: `CPU per byte, limit: bare CBC+HMAC record loop over TCP, ${label}`, value: median(cpuBareCbc), unit: 'ns/B' }, cpuBareCbc));
      // Without any record layer: moving the bytes over plain TCP, plus sealing and opening them
      // with node:crypto (which returns every output in a fresh buffer; OpenSSL inside TLS
      // encrypts in place). A JS record layer can only add to this sum.
      rows.push(row({ name: `CPU per byte, plain TCP (no protection), ${label} writes`, value: median(cpuTcp), unit: 'ns/B' }, cpuTcp));
      rows.push({
        name: `CPU per byte, limit: plain TCP + node:crypto GCM seal+open, ${label}`,
        value: median(cpuTcp) + 1000 / median(bareGcm!),
        unit: 'ns/B',
        reference: { name: 'TLS 1.3', value: median(cpuTls) },
      });
    }
    DEFAULT_SUITES.forEach((suite, i) => {
      const gcm = suite === 'X25519/RSA/AES-256-GCM';
      const reference = gcm ? { name: 'TLS 1.3', value: median(cpuTls) } : full ? { name: 'bare CBC+HMAC loop over TCP', value: median(cpuBareCbc) } : undefined;
      rows.push(
        row({ name: `CPU per byte, secure channel ${SHORT[suite]}, ${label} writes`, value: median(cpuOurs[i]!), unit: 'ns/B', ...(reference ? { reference } : {}) }, cpuOurs[i]),
      );
    });
  }
  for (const size of sizes) {
    const label = labelOf(size);
    const full = size === 64 * KIB;
    const modes: TwoProcessMode[] = full
      ? ['tls', 'X25519/RSA/AES-256-GCM', 'bare-gcm', 'ECDHE-P256/RSA/AES-256-CBC+HMAC-SHA256', 'bare-cbc', 'tcp']
      : ['tls', 'X25519/RSA/AES-256-GCM'];
    // The receiving process is the busier end (it decrypts into fresh buffers): its CPU per byte.
    const receiverCpu: number[][] = modes.map(() => []);
    const plan: Array<() => Promise<number> | number> = modes.map((mode, i) => () => bulkTwoProcess(mode, size, receiverCpu[i]));
    if (full) plan.push(() => gcmOpenOnly(size));
    const [tls2, ours2, bareGcm2, cbc2, bareCbc2, , openOnly] = await trials(plan);
    const tlsRef = { name: 'TLS 1.3', value: median(tls2!) };
    rows.push(row({ name: `two processes: Node TLS 1.3 AES-256-GCM, ${label} writes`, value: median(tls2!), unit: 'MB/s' }, tls2));
    rows.push(row({ name: `two processes: secure channel X25519+GCM, ${label} writes`, value: median(ours2!), unit: 'MB/s', reference: tlsRef, target: '>= 1.0x TLS 1.3' }, ours2));
    if (!full) continue;
    rows.push(row({ name: `two processes, limit: bare GCM record loop (JS), ${label} writes`, value: median(bareGcm2!), unit: 'MB/s', reference: tlsRef }, bareGcm2));
    const [cpuTls2, cpuOurs2, cpuBare2, , , cpuTcp2] = receiverCpu;
    const tlsCpuRef = { name: 'TLS 1.3', value: median(cpuTls2!) };
    rows.push(row({ name: `two processes: receiver CPU per byte, TLS 1.3, ${label}`, value: median(cpuTls2!), unit: 'ns/B' }, cpuTls2));
    rows.push(row({ name: `two processes: receiver CPU per byte, secure channel X25519+GCM, ${label}`, value: median(cpuOurs2!), unit: 'ns/B', reference: tlsCpuRef }, cpuOurs2));
    rows.push(row({ name: `two processes: receiver CPU per byte, limit: bare GCM record loop, ${label}`, value: median(cpuBare2!), unit: 'ns/B', reference: tlsCpuRef }, cpuBare2));
    rows.push(row({ name: `two processes: receiver CPU per byte, plain TCP, ${label}`, value: median(cpuTcp2!), unit: 'ns/B' }, cpuTcp2));
    rows.push(row({ name: `node:crypto AES-256-GCM open alone (decipher into a fresh buffer), ${label} records`, value: median(openOnly!), unit: 'MB/s' }, openOnly));
    // No record layer at all: what the receiving kernel and socket cost, plus one node:crypto
    // open per byte. TLS pays its socket too but decrypts in place.
    rows.push({
      name: `two processes: receiver CPU per byte, limit: plain TCP + node:crypto GCM open, ${label}`,
      value: median(cpuTcp2!) + 1000 / median(openOnly!),
      unit: 'ns/B',
      reference: tlsCpuRef,
    });
    rows.push(
      row(
        {
          name: `two processes: secure channel P256+CBC-HMAC, ${label} writes`,
          value: median(cbc2!),
          unit: 'MB/s',
          reference: { name: 'bare CBC+HMAC seal+open', value: bareCbc64 },
          target: '>= 0.9x bare CBC+HMAC',
        },
        cbc2,
      ),
    );
    rows.push(
      row({ name: `two processes, limit: bare CBC+HMAC record loop (JS), ${label} writes`, value: median(bareCbc2!), unit: 'MB/s', reference: { name: 'secure channel', value: median(cbc2!) } }, bareCbc2),
    );
  }
  const [tcpRtt, tlsRtt, ourRtt, bareRtt, cryptoFloor] = await trials([
    () => roundTrip(tcpPairMaker),
    () => roundTrip(tlsPairMaker),
    () => roundTrip(ourPairMaker('X25519/RSA/AES-256-GCM')),
    () => roundTrip(bareRecordPairMaker('gcm')),
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
  // Any record layer on node:crypto's cipher objects pays one seal and one open per direction on top of TCP.
  const jsFloor = median(tcpRtt!) + 2 * median(cryptoFloor!);
  rows.push({ name: 'limit: round trip 200 B from JS (plain TCP + 2 x seal+open)', value: jsFloor, unit: 'µs', reference: { name: 'TLS 1.3', value: median(tlsRtt!) } });
  // The same, measured: the bare GCM record stream echoing, its ciphers called between socket reads and writes.
  rows.push(row({ name: 'limit: round trip 200 B, bare GCM record stream (JS)', value: median(bareRtt!), unit: 'µs', reference: { name: 'TLS 1.3', value: median(tlsRtt!) } }, bareRtt));

  // BENCH_SC_PART=data measures only the record layer (bulk and round trips).
  if (process.env.BENCH_SC_PART !== 'data') rows.push(...(await handshakeRows()));
  return rows;
}

/** The handshake rows: signatures alone, then every handshake kind against the TLS reference. */
async function handshakeRows(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const sig = await signatureTimes();
  rows.push({ name: 'RSA-4096 signature, one alone', value: sig.one, unit: 'ms' });
  rows.push({ name: 'RSA-4096 signatures, two at once (as in our handshake)', value: sig.two, unit: 'ms', reference: { name: 'one alone', value: sig.one } });
  const profiles = benchProfiles();
  const [tlsHs, oursCold, oursWarm, ...oursHs] = await handshakes([
    tlsHandshakeServer,
    () => ourHandshakeServer('X25519/RSA/AES-256-GCM', profiles, true),
    () => ourHandshakeServer('X25519/RSA/AES-256-GCM', profiles),
    ...DEFAULT_SUITES.map((suite) => () => ourHandshakeServer(suite)),
  ]);
  const ref = (value: number) => ({ name: 'TLS 1.3 mutual RSA-4096', value });
  rows.push({ name: 'handshake median, TLS 1.3 mutual RSA-4096', value: tlsHs!.median, unit: 'ms' });
  rows.push({ name: 'handshake CPU (both ends, all threads), TLS 1.3 mutual RSA-4096', value: tlsHs!.cpu, unit: 'ms' });
  rows.push({ name: 'handshake p99, TLS 1.3 mutual RSA-4096', value: tlsHs!.p99, unit: 'ms' });
  rows.push({ name: `handshakes/s (${HANDSHAKE_CONCURRENCY} concurrent), TLS 1.3 mutual RSA-4096`, value: tlsHs!.rate, unit: '/s' });
  DEFAULT_SUITES.forEach((suite, i) => {
    const hs = oursHs[i]!;
    rows.push({ name: `handshake median, ${SHORT[suite]}`, value: hs.median, unit: 'ms', reference: ref(tlsHs!.median), target: '<= 0.6x TLS' });
    rows.push({ name: `handshake p99, ${SHORT[suite]}`, value: hs.p99, unit: 'ms', reference: ref(tlsHs!.p99) });
    rows.push({ name: `handshake CPU (both ends, all threads), ${SHORT[suite]}`, value: hs.cpu, unit: 'ms', reference: ref(tlsHs!.cpu) });
    rows.push({ name: `handshakes/s (${HANDSHAKE_CONCURRENCY} concurrent), ${SHORT[suite]}`, value: hs.rate, unit: '/s', reference: ref(tlsHs!.rate) });
  });
  for (const [what, hs] of [
    ['first contact (the identity verifier never saw the peer)', oursCold!],
    ['peer seen before (identity verifier, cached parse)', oursWarm!],
  ] as const) {
    rows.push({ name: `handshake median, X25519+GCM, profiles, ${what}`, value: hs.median, unit: 'ms', reference: ref(tlsHs!.median), target: '<= 0.6x TLS' });
    rows.push({ name: `handshake CPU, X25519+GCM, profiles, ${what}`, value: hs.cpu, unit: 'ms', reference: ref(tlsHs!.cpu) });
  }
  const vp = await verifyPeerTimes(profiles);
  rows.push({ name: 'identity verifyPeer of a CA-issued RSA-4096 profile, cold (first sight)', value: vp.cold, unit: 'µs' });
  rows.push({ name: 'identity verifyPeer, same peer again (parsed-certificate cache)', value: vp.warm, unit: 'µs', reference: { name: 'cold', value: vp.cold } });
  return rows;
}

const sinkAt = process.argv.indexOf('--sink');
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && sinkAt > 0) {
  await sink(process.argv[sinkAt + 1] as TwoProcessMode);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const fixed = (v: number): string => v.toFixed(Math.abs(v) < 10 ? 2 : 1);
  const rows = await run();
  for (const r of rows) {
    const ref = r.reference ? `  (${r.reference.name}: ${fixed(r.reference.value)}, ratio ${(r.value / r.reference.value).toFixed(2)})` : '';
    const range = ranges.get(r.name);
    const spread = range ? `  [${fixed(range[0])}-${fixed(range[1])}]` : '';
    process.stdout.write(`${r.name.padEnd(76)} ${fixed(r.value).padStart(9)} ${r.unit}${spread}${ref}${r.target ? `  target ${r.target}` : ''}\n`);
  }
  process.stdout.write(`(${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
