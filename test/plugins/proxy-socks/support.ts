/** Small helpers shared by the proxy-socks tests. */
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { expect } from 'chai';
import { BitChatError } from '../../../core/errors.js';
import { normalizeOptions, type ProxySocksOptions } from '../../../plugins/proxy-socks/options.js';
import { ProxyDialer, type ProxyLogger } from '../../../plugins/proxy-socks/proxy-dialer.js';
import type { RunningProxy } from '../../helpers/proxy-servers.js';

const READ_TIMEOUT_MS = 10_000;

/** A dialer for a running test proxy (credentials from the proxy unless overridden). */
export function dialerFor(proxy: Pick<RunningProxy, 'type' | 'host' | 'port' | 'username' | 'password'>, extra: ProxySocksOptions = {}, logger?: ProxyLogger): ProxyDialer {
  const options = normalizeOptions({
    type: proxy.type,
    host: proxy.host,
    port: proxy.port,
    ...(proxy.username !== undefined ? { username: proxy.username, password: proxy.password ?? '' } : {}),
    ...extra,
  });
  return new ProxyDialer({ proxy: options.proxy, tor: options.tor, connectTimeoutMs: options.connectTimeoutMs, ...(logger ? { logger } : {}) });
}

/** Reads exactly `length` bytes from `stream` (attaching a 'data' listener). */
export function readExactly(stream: Duplex, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => done(new Error(`read ${size}/${length} bytes before the test timeout`)), READ_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= length) done(null);
    };
    const onEnd = (): void => done(new Error(`stream ended after ${size}/${length} bytes`));
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onErr);
      if (err) reject(err);
      else {
        const all = Buffer.concat(chunks);
        if (all.length > length) stream.unshift(all.subarray(length));
        resolve(all.subarray(0, length));
      }
    };
    const onErr = (err: Error): void => done(err);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onErr);
  });
}

/** Sends `size` random bytes to an echo server and checks the same bytes come back. */
export async function assertEchoes(socket: Socket | Duplex, size: number): Promise<void> {
  const payload = randomBytes(size);
  const reading = readExactly(socket, size);
  socket.write(payload);
  const back = await reading;
  expect(createHash('sha256').update(back).digest('hex')).to.equal(createHash('sha256').update(payload).digest('hex'));
}

/** Awaits `promise`, expecting a BitChatError with `code`; returns it. */
export async function expectCode<T>(promise: Promise<T>, code: string): Promise<BitChatError> {
  try {
    await promise;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(BitChatError);
    expect((err as BitChatError).code, (err as Error).message).to.equal(code);
    return err as BitChatError;
  }
  expect.fail(`expected ${code}, but it succeeded`);
}

/** Closes a socket and waits for 'close'. */
export function closeSocket(socket: Socket | Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) {
      resolve();
      return;
    }
    socket.once('close', () => resolve());
    socket.destroy();
  });
}
