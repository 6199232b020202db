/**
 * One side of the real-NAT test, run by `nat.test.ts` inside a network namespace:
 *
 *   pub <networkIdHex> <hostIp>   a local DHT, a relay and a member on the "public" side;
 *                                 prints `ready <bootstrap>`, then (once told `go` on stdin)
 *                                 reaches the NATed peer through the relay over a
 *                                 SecureChannel and prints `ok <json>`.
 *   nat <networkIdHex> <bootstrap> the NATed peer: finds a relay, registers, and echoes
 *                                 whatever arrives on its network's secure channel;
 *                                 prints `relayed <json>` once it holds a relay.
 *
 * Exits when stdin closes. Lines on stdout are the protocol with the test.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DHT from 'bittorrent-dht';
import { channelName } from '../../../core/chat/network-id.js';
import { endpointKey } from '../../../core/connection/endpoint.js';
import { Kernel } from '../../../core/kernel.js';
import { resolveConfig } from '../../../core/config.js';
import { createLogger } from '../../../core/logger.js';
import { SecureChannel } from '../../../core/secure-channel/index.js';
import type { Endpoint } from '../../../core/types.js';
import type { RelayPlugin } from '../../../plugins/relay/index.js';
import { RELAY_INFO_HASH } from '../../../plugins/relay/constants.js';
import { loadIdentity, options } from '../../core/secure-channel/helpers.js';

const [role, networkHex, arg] = process.argv.slice(2) as [string, string, string];
const networkId = Buffer.from(networkHex, 'hex');
const dir = mkdtempSync(join(tmpdir(), `bitchat-netns-${role}-`));
const kernels: Kernel[] = [];
const dhts: DHT[] = [];
const FAST = { allowPrivateAddresses: true, intervalSeconds: 0.3, reachabilityRetrySeconds: 0.3, candidateBackoffSeconds: 0.5, probeMinIntervalSeconds: 0 };

function say(line: string): void {
  process.stdout.write(line + '\n');
}

async function node(name: string, host: string, bootstrap: string[], relay: Record<string, unknown>): Promise<Kernel> {
  const config = resolveConfig(
    {
      dataDir: join(dir, name),
      logLevel: 'silent',
      profile: null,
      listen: { host, port: 0 },
      plugins: { dht: { host, bootstrap, allowPrivateAddresses: true, persistRoutingTable: false, fastAnnounceIntervalSeconds: 1 }, relay },
    },
    null,
  );
  const kernel = await Kernel.create({ config, logger: createLogger('silent') });
  kernels.push(kernel);
  await kernel.start();
  return kernel;
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out: ${what}`);
}

function tcpReachable(ep: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ep.host, port: ep.port });
    const t = setTimeout(() => (s.destroy(), resolve(false)), 2_000);
    s.once('connect', () => (clearTimeout(t), s.destroy(), resolve(true)));
    s.once('error', () => (clearTimeout(t), resolve(false)));
  });
}

async function pub(host: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const dht = new DHT({ bootstrap: false });
    dht.listen(0, host);
    await new Promise((r) => dht.once('listening', r));
    dhts.push(dht);
  }
  for (const a of dhts) for (const b of dhts) if (a !== b) a.addNode({ host, port: b.address().port, id: b.nodeId });
  const bootstrap = dhts.map((d) => `${host}:${d.address().port}`);
  const relay = await node('relay', host, bootstrap, { serve: true, ...FAST });
  const member = await node('member', host, bootstrap, { client: false, ...FAST });
  await member.hooks.announce.promise({ networkId, port: member.connections.localPort });
  const relayed: Endpoint[] = [];
  member.hooks.peerDiscovered.tap('netns', (id, ep, source) => {
    if (source === 'relay' && id.equals(networkId)) relayed.push(ep);
  });
  const found: Endpoint[] = [];
  member.hooks.peerDiscovered.tap('netns-dht', (id, ep, source) => {
    if (source === 'dht' && id.equals(networkId)) found.push(ep);
  });
  say(`ready ${bootstrap.join(',')}`);
  await new Promise<void>((resolve) => process.stdin.on('data', (d) => String(d).includes('go') && resolve()));
  const relayEp = { host, port: relay.connections.localPort };
  const target = await until('a relayed peer', async () => {
    if (relayed.length > 0) return relayed[0];
    await member.resolve('dht').lookup(networkId);
    const viaRelay = found.find((ep) => endpointKey(ep) === endpointKey(relayEp));
    if (viaRelay) {
      const link = await member.connections.connect(viaRelay);
      await link.openChannel(channelName(networkId, member.connections.peerId, link.peerId)).then((c) => c.destroy(), () => undefined);
    }
    return undefined;
  });
  const direct = await tcpReachable(target);
  const link = await member.connections.connect(target);
  const near = await link.openChannel(channelName(networkId, member.connections.peerId, link.peerId));
  const secure = await SecureChannel.connect(near, options(loadIdentity('alice'), loadIdentity('bob')));
  const message = randomBytes(32);
  secure.write(message);
  const echo = await new Promise<Buffer>((resolve) => {
    let got = Buffer.alloc(0);
    secure.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= message.length) resolve(got);
    });
  });
  const stats = (relay.resolve('relay') as RelayPlugin).service.stats;
  say(`ok ${JSON.stringify({ target, virtual: link.virtual, directReachable: direct, echoed: echo.equals(message), tunnelsRelayed: stats.tunnelsRelayed, relayHost: host })}`);
  secure.destroy();
}

async function nat(bootstrap: string[]): Promise<void> {
  const peer = await node('nat', '0.0.0.0', bootstrap, { maxRelays: 1, ...FAST });
  peer.connections.onChannel((request) => {
    if (!request.name.equals(channelName(networkId, peer.connections.peerId, request.connection.peerId))) return;
    const channel = request.accept();
    SecureChannel.accept(channel, options(loadIdentity('bob'), loadIdentity('alice'))).then(
      (secure) => {
        secure.on('error', () => undefined);
        secure.on('data', (d: Buffer) => secure.write(d));
      },
      () => undefined,
    );
  });
  await peer.hooks.announce.promise({ networkId, port: peer.connections.localPort });
  const client = (peer.resolve('relay') as RelayPlugin).client!;
  await until('a relay', () => (client.reachability === 'unreachable' && client.relays().length > 0 ? true : undefined));
  say(`relayed ${JSON.stringify({ relays: client.relays(), reachability: client.reachability, infoHash: RELAY_INFO_HASH.toString('hex') })}`);
}

async function main(): Promise<void> {
  const stdinClosed = new Promise((r) => process.stdin.once('end', r));
  process.stdin.resume();
  try {
    if (role === 'pub') await pub(arg);
    else await nat(arg.split(','));
    await stdinClosed;
  } catch (err) {
    say(`error ${(err as Error).message}`);
  } finally {
    for (const k of kernels.reverse()) await k.stop().catch(() => undefined);
    await Promise.all(dhts.map((d) => new Promise<void>((r) => d.destroy(() => r()))));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
