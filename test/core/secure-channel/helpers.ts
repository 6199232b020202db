/**
 * Test helpers for the secure channel: committed RSA-4096 identities, real TCP socket
 * pairs on 127.0.0.1, and a record-aware TCP proxy that can record, drop, replay,
 * reorder or edit records between two real peers.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SecureChannel, type SecureChannelOptions } from '../../../core/secure-channel/index.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/secure-channel');

export interface TestIdentity {
  name: string;
  certificateDer: Buffer;
  identity: SecureChannelOptions['identity'];
}

const identityCache = new Map<string, TestIdentity>();

export function loadIdentity(name: 'alice' | 'bob' | 'mallory' | 'carol-ed25519' | 'weak-rsa1024'): TestIdentity {
  const cached = identityCache.get(name);
  if (cached) return cached;
  const cert = new X509Certificate(readFileSync(join(FIXTURES, `${name}.cert.pem`)));
  const privateKey = createPrivateKey(readFileSync(join(FIXTURES, `${name}.key.pem`)));
  const id = { name, certificateDer: cert.raw, identity: { certificateChain: [cert.raw], privateKey } };
  identityCache.set(name, id);
  return id;
}

/** A verifier that accepts exactly one leaf certificate (pinning by bytes). */
export function pinned(expected: Buffer): SecureChannelOptions['verifyPeer'] {
  return async (chain) =>
    chain[0]!.equals(expected) ? { ok: true } : { ok: false, code: 'ERR_CERT_UNTRUSTED', reason: 'not the expected peer' };
}

export const PSK = Buffer.alloc(32, 7);

export function options(self: TestIdentity, peer: TestIdentity, extra: Partial<SecureChannelOptions> = {}): SecureChannelOptions {
  return { psk: PSK, identity: self.identity, verifyPeer: pinned(peer.certificateDer), handshakeTimeoutMs: 5_000, ...extra };
}

/** Everything a test opened, closed in `afterEach`. */
export class Resources {
  private readonly closers: Array<() => Promise<void> | void> = [];

  add(close: () => Promise<void> | void): void {
    this.closers.push(close);
  }

  socket(s: Socket): Socket {
    this.add(() => {
      s.destroy();
    });
    return s;
  }

  server(srv: Server): Server {
    this.add(() => new Promise<void>((resolve) => srv.close(() => resolve())));
    return srv;
  }

  channel(c: SecureChannel): SecureChannel {
    this.add(() => {
      c.destroy();
    });
    return c;
  }

  async closeAll(): Promise<void> {
    const all = this.closers.splice(0).reverse();
    for (const close of all) await close();
  }
}

export function listen(res: Resources, onConnection: (s: Socket) => void): Promise<number> {
  const srv = res.server(createServer((s) => onConnection(res.socket(s))));
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port)));
}

export function dial(res: Resources, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = res.socket(connect(port, '127.0.0.1'));
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** A connected TCP pair on 127.0.0.1: [client end, server end]. */
export async function socketPair(res: Resources): Promise<[Socket, Socket]> {
  let accepted!: (s: Socket) => void;
  const serverSide = new Promise<Socket>((resolve) => (accepted = resolve));
  const port = await listen(res, (s) => accepted(s));
  const client = await dial(res, port);
  return [client, await serverSide];
}

/** Client and server channels over a fresh socket pair. */
export async function channelPair(
  res: Resources,
  clientOptions: SecureChannelOptions,
  serverOptions: SecureChannelOptions,
): Promise<[SecureChannel, SecureChannel]> {
  const [a, b] = await socketPair(res);
  const [c, s] = await Promise.all([SecureChannel.connect(a, clientOptions), SecureChannel.accept(b, serverOptions)]);
  return [res.channel(c), res.channel(s)];
}

/** Splits a byte stream into `type ‖ u16 length ‖ body` records (no validation: the proxy is dumb). */
export class RecordSplitter {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 3) {
      const len = 3 + this.buf.readUInt16BE(1);
      if (this.buf.length < len) break;
      out.push(this.buf.subarray(0, len));
      this.buf = this.buf.subarray(len);
    }
    return out;
  }
}

export type Direction = 'toServer' | 'toClient';

/**
 * Edits the record stream in one direction: gets each record with its index in that
 * direction and returns the records to forward (none = drop). `flush` is called when
 * the source ends. Returning 'cut' closes both sides at once (truncation).
 */
export type RecordEditor = (record: Buffer, index: number, direction: Direction) => Buffer[] | 'cut';

export interface ProxyLog {
  toServer: Buffer[];
  toClient: Buffer[];
}

/** A TCP proxy on 127.0.0.1 that forwards whole records through `edit`. */
export async function recordProxy(res: Resources, targetPort: number, edit?: RecordEditor): Promise<{ port: number; log: ProxyLog }> {
  const log: ProxyLog = { toServer: [], toClient: [] };
  const port = await listen(res, (downstream) => {
    const upstream = res.socket(connect(targetPort, '127.0.0.1'));
    const pump = (from: Socket, to: Socket, direction: Direction): void => {
      const splitter = new RecordSplitter();
      let index = 0;
      from.on('data', (chunk: Buffer) => {
        for (const rec of splitter.push(chunk)) {
          log[direction].push(Buffer.from(rec));
          const out = edit ? edit(Buffer.from(rec), index++, direction) : [rec];
          if (out === 'cut') {
            from.destroy();
            to.end();
            return;
          }
          for (const r of out) to.write(r);
        }
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => setImmediate(() => to.destroy()));
    };
    pump(downstream, upstream, 'toServer');
    pump(upstream, downstream, 'toClient');
  });
  return { port, log };
}

/** Resolves with the error a channel emits, or rejects if it ends cleanly. */
export function nextError(channel: SecureChannel): Promise<Error & { code?: string }> {
  return new Promise((resolve, reject) => {
    channel.once('error', resolve);
    channel.once('close', () => setImmediate(() => reject(new Error('closed without error'))));
  });
}

export function randomPayload(n: number): Buffer {
  return randomBytes(n);
}

/** Reads exactly n bytes from a readable (bounded by the test timeout). */
export function readExactly(stream: NodeJS.ReadableStream, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      got += chunk.length;
      if (got >= n) {
        stream.removeListener('data', onData);
        stream.removeListener('error', reject);
        const all = Buffer.concat(parts);
        if (got > n) stream.pause();
        resolve(all);
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });
}

export function waitClose(s: { once(event: 'close', cb: () => void): unknown; destroyed?: boolean; closed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (s.closed) resolve();
    else s.once('close', () => resolve());
  });
}
