/** Helpers for the LAN discovery tests: free ports, quiet loggers, bounded waiting. */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Endpoint, NetworkId } from '../../../core/types.js';
import {
  LanDiscovery,
  type LanDiscoveryComponents,
  type LanDiscoveryOptions,
  type LanLogger,
} from '../../../plugins/lan-discovery/index.js';

/** A logger that keeps warnings so tests can check what was said. */
export class RecordingLogger implements LanLogger {
  readonly warnings: string[] = [];
  warn(_obj: object, msg?: string): void {
    this.warnings.push(msg ?? '');
  }
  debug(): void {}
}

/** A UDP port nobody on 127.0.0.1 / 0.0.0.0 holds right now. */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '0.0.0.0', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Poll `predicate` every 10 ms for at most `timeoutMs`; throws with `what` when it never holds. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Options that keep every datagram on loopback: IPv4 broadcast to 127.255.255.255 only. */
export function loopbackOptions(port: number, extra: Partial<LanDiscoveryOptions> = {}): Partial<LanDiscoveryOptions> {
  return {
    port,
    ipv6: false,
    broadcastAddresses: ['127.255.255.255'],
    loopbackOnly: true,
    queryIntervalMinMs: 100,
    queryIntervalMaxMs: 400,
    interfaceCheckIntervalMs: 0,
    ...extra,
  };
}

export interface TestNode {
  service: LanDiscovery;
  logger: RecordingLogger;
  peers: { networkId: NetworkId; endpoint: Endpoint }[];
}

/** A LanDiscovery that records the peers it reports. Caller starts and stops it. */
export function makeNode(
  options: Partial<LanDiscoveryOptions>,
  components: Partial<Pick<LanDiscoveryComponents, 'now' | 'networkInterfaces'>> = {},
): TestNode {
  const logger = new RecordingLogger();
  const peers: TestNode['peers'] = [];
  const service = new LanDiscovery(options, {
    logger,
    onPeer: (networkId, endpoint) => peers.push({ networkId, endpoint }),
    ...components,
  });
  return { service, logger, peers };
}

/** A raw UDP socket playing attacker or sniffer; it records every datagram it hears. */
export interface RawSocket {
  socket: Socket;
  heard: { msg: Buffer; rinfo: RemoteInfo }[];
  send(msg: Buffer, port: number, host?: string): Promise<void>;
  close(): Promise<void>;
}

export async function openRaw(port = 0, address = '127.0.0.1', reuseAddr = false): Promise<RawSocket> {
  const socket = createSocket({ type: 'udp4', reuseAddr });
  const heard: RawSocket['heard'] = [];
  socket.on('message', (msg, rinfo) => heard.push({ msg, rinfo }));
  await new Promise<void>((resolve) => socket.bind(port, address, () => resolve()));
  socket.setBroadcast(true);
  return {
    socket,
    heard,
    send: (msg, toPort, host = '127.0.0.1') =>
      new Promise<void>((resolve, reject) => socket.send(msg, toPort, host, (err) => (err ? reject(err) : resolve()))),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A network ID (20 bytes) made from a label, for readable tests. */
export function networkIdOf(label: string): NetworkId {
  const out = Buffer.alloc(20);
  out.write(label.slice(0, 20), 'utf8');
  return out;
}
