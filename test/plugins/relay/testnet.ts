/**
 * In-process relay test net on loopback: a local DHT, relay nodes, NATed peers and
 * members, each a real kernel with the real `dht` and `relay` plugins.
 *
 * A NATed peer listens on 127.0.0.5 while its outbound connections leave from
 * 127.0.0.1: every node records its connection ID as 127.0.0.1:port, where nothing
 * listens, so dial-backs and direct dials really fail (as behind a NAT), and only a
 * tunnel through a relay reaches it.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Kernel } from '../../../core/kernel.js';
import type { VirtualChannel } from '../../../core/connection/channel.js';
import type { Endpoint, NetworkId } from '../../../core/types.js';
import type { RelayPlugin } from '../../../plugins/relay/index.js';
import type { InlinePlugin } from '../../../core/plugin-loader.js';
import { waitFor } from '../../compliance/discovery.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { startLocalDht, type LocalDht } from '../../helpers/local-dht.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

export const NAT_LISTEN_HOST = '127.0.0.5';

/** Fast timers so a test takes seconds. */
const FAST = {
  allowPrivateAddresses: true,
  intervalSeconds: 0.2,
  reachabilityRetrySeconds: 0.2,
  reachabilityIntervalSeconds: 30,
  candidateBackoffSeconds: 0.5,
  requestTimeoutSeconds: 3,
  probeMinIntervalSeconds: 0,
};

export interface Peered {
  networkId: NetworkId;
  endpoint: Endpoint;
  source: string;
}

export interface TestNode {
  kernel: Kernel;
  relay: RelayPlugin;
  seen: Peered[];
  /** Where others reach it (its connection ID as others record it). */
  endpoint: Endpoint;
}

/** The cast of most relay tests (see {@link RelayTestNet.relayedNetwork}). */
export interface RelayedNetwork {
  /** The first of {@link relays}. */
  relay: TestNode;
  relays: TestNode[];
  member: TestNode;
  nat: TestNode;
  networkId: NetworkId;
}

export class RelayTestNet {
  dht!: LocalDht;
  readonly nodes: TestNode[] = [];
  private readonly dirs: Array<{ cleanup(): void }> = [];

  async start(): Promise<void> {
    this.dht = await startLocalDht(3);
  }

  async node(kind: 'relay' | 'nat' | 'member', relayOptions: Record<string, unknown> = {}, otherPlugins: Record<string, unknown> = {}, inline: InlinePlugin[] = []): Promise<TestNode> {
    const dir = makeTempDir('bitchat-relay-');
    this.dirs.push(dir);
    const relay =
      kind === 'relay' ? { serve: true, ...FAST, ...relayOptions } : kind === 'nat' ? { ...FAST, ...relayOptions } : { client: false, ...FAST, ...relayOptions };
    const config = testConfig(dir.path, {
      listen: { host: kind === 'nat' ? NAT_LISTEN_HOST : '127.0.0.1', port: 0 },
      plugins: {
        dht: { host: '127.0.0.1', bootstrap: this.dht.bootstrap, allowPrivateAddresses: true, persistRoutingTable: false, fastAnnounceIntervalSeconds: 1 },
        relay,
        ...otherPlugins,
      },
    });
    const kernel = await createTestKernel(config, inline);
    const seen: Peered[] = [];
    kernel.hooks.peerDiscovered.tap('test', (networkId, endpoint, source) => seen.push({ networkId, endpoint, source }));
    await kernel.start();
    const node: TestNode = { kernel, relay: kernel.resolve('relay'), seen, endpoint: { host: '127.0.0.1', port: kernel.connections.localPort } };
    this.nodes.push(node);
    return node;
  }

  /**
   * Relay nodes (one per options object), a member and a NATed peer that holds at most
   * one relay, both in one new network; resolves once the peer knows it is unreachable
   * and holds a relay.
   */
  async relayedNetwork(relays: Array<Record<string, unknown>> = [{}]): Promise<RelayedNetwork> {
    const relayNodes: TestNode[] = [];
    for (const options of relays) relayNodes.push(await this.node('relay', options));
    const member = await this.node('member');
    const nat = await this.node('nat', { maxRelays: 1 });
    const networkId = randomBytes(20);
    await nat.kernel.hooks.announce.promise({ networkId, port: nat.kernel.connections.localPort });
    await member.kernel.hooks.announce.promise({ networkId, port: member.kernel.connections.localPort });
    await untilRelayed(nat);
    return { relay: relayNodes[0]!, relays: relayNodes, member, nat, networkId };
  }

  async stop(): Promise<void> {
    for (const n of this.nodes.splice(0)) await n.kernel.stop().catch(() => undefined);
    const dht = this.dht;
    this.dht = undefined as unknown as LocalDht;
    await dht?.close();
    for (const d of this.dirs.splice(0)) d.cleanup();
  }
}

/** Until `nat` holds `count` relays and is known to be unreachable. */
export async function untilRelayed(nat: TestNode, count = 1): Promise<void> {
  await waitFor(() => nat.relay.client?.reachability === 'unreachable' && (nat.relay.client?.relays().length ?? 0) >= count, 'the NATed peer to hold a relay', 10_000);
}

/** Resolve the first inbound channel named `name` on `node`, accepting it. */
export function acceptChannel(node: TestNode, name: Buffer): Promise<VirtualChannel> {
  return new Promise((resolve) => {
    const off = node.kernel.connections.onChannel((request) => {
      if (!request.name.equals(name)) return;
      off();
      resolve(request.accept());
    });
  });
}

/** The next `n` bytes from a flowing stream (bounded in time). */
export function readN(stream: Readable, n: number, timeoutMs = 8_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const done = (err?: Error): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('close', onClose);
      stream.off('error', done);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= n) done();
    };
    const onClose = (): void => done(new Error('stream closed'));
    const timer = setTimeout(() => done(new Error(`timed out reading ${n} bytes`)), timeoutMs);
    stream.on('data', onData);
    stream.once('close', onClose);
    stream.once('error', done);
  });
}
