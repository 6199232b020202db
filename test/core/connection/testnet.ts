/** Small helpers for connection-layer tests: start managers on 127.0.0.1, stop them all. */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { pino } from 'pino';
import { createHooks, type KernelHooks } from '../../../core/hooks.js';
import {
  ConnectionManager,
  type ConnectionLimits,
  type VirtualChannel,
  tapDirectDial,
} from '../../../core/connection/index.js';
import type { PeerId } from '../../../core/types.js';

export interface TestNode {
  manager: ConnectionManager;
  hooks: KernelHooks;
}

export class Testnet {
  readonly nodes: TestNode[] = [];

  async node(options: { limits?: Partial<ConnectionLimits>; peerId?: PeerId; host?: string } = {}): Promise<TestNode> {
    const hooks = createHooks();
    tapDirectDial(hooks);
    const manager = new ConnectionManager({
      hooks,
      logger: pino({ level: 'silent' }),
      listen: { host: options.host ?? '127.0.0.1', port: 0 },
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.peerId ? { peerId: options.peerId } : {}),
    });
    await manager.start();
    const node = { manager, hooks };
    this.nodes.push(node);
    return node;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.splice(0).map((n) => n.manager.stop()));
  }
}

export function endpointOf(node: TestNode): { host: string; port: number } {
  return { host: '127.0.0.1', port: node.manager.localPort };
}

export function channelName(label: string): Buffer {
  return createHash('sha1').update(label).digest();
}

/** Accept every plain channel open on `node`, handing the channel to `onOpen`. */
export function acceptAll(node: TestNode, onOpen: (channel: VirtualChannel) => void = () => undefined): void {
  node.manager.onChannel((request) => onOpen(request.accept()));
}

/** Read a stream to its end (events, not async iteration, which destroys the stream), with the SHA-256 and byte count. */
export function drain(stream: NodeJS.ReadableStream): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    stream.once('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    stream.once('close', () => reject(new Error(`stream closed before its end after ${bytes} bytes`)));
    stream.once('error', reject);
    stream.resume();
  });
}

/** Resolve when `predicate` holds, checking on every event of `emitter` and every 10 ms, for at most `ms`. */
export async function waitFor(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export { once };
