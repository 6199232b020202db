/**
 * The relay end to end, in process on 127.0.0.1 with a local DHT: relays, a NATed
 * peer (its port unreachable at the address others see) and a member that reaches
 * it only through a tunnel in a relay, with a SecureChannel running inside.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { channelName } from '../../../core/chat/network-id.js';
import type { VirtualChannel } from '../../../core/connection/channel.js';
import { endpointKey } from '../../../core/connection/endpoint.js';
import { SecureChannel, SC_ERROR } from '../../../core/secure-channel/index.js';
import { waitFor } from '../../compliance/discovery.js';
import { loadIdentity, options } from '../../core/secure-channel/helpers.js';
import { RelayTestNet, acceptChannel, readN, untilRelayed, type TestNode } from './testnet.js';

const alice = loadIdentity('alice');
const bob = loadIdentity('bob');

/** The member finds the network on the DHT, asks each relay end point, and gets the NATed peer through a tunnel. */
async function reachThroughRelay(member: TestNode, nat: TestNode, relay: TestNode, networkId: Buffer): Promise<void> {
  const dht = member.kernel.resolve('dht');
  await waitFor(
    async () => {
      if (member.seen.some((s) => s.source === 'relay' && endpointKey(s.endpoint) === endpointKey(nat.endpoint))) return true;
      await dht.lookup(networkId);
      const viaRelay = member.seen.find((s) => s.source === 'dht' && s.networkId.equals(networkId) && s.endpoint.port === relay.endpoint.port);
      if (viaRelay) {
        // What a chat does with a discovered end point: connect, open the network channel.
        const link = await member.kernel.connections.connect(viaRelay.endpoint);
        const name = channelName(networkId, member.kernel.connections.peerId, link.peerId);
        await link.openChannel(name).then((c) => c.destroy(), () => undefined);
      }
      return false;
    },
    'the member to learn the relayed peer',
    10_000,
    200,
  );
}

async function secureOverTunnel(member: TestNode, nat: TestNode, networkId: Buffer): Promise<{ client: SecureChannel; server: SecureChannel; tunnelVirtual: boolean }> {
  const link = await member.kernel.connections.connect(nat.endpoint);
  const name = channelName(networkId, member.kernel.connections.peerId, nat.kernel.connections.peerId);
  const accepted = acceptChannel(nat, name);
  const near: VirtualChannel = await link.openChannel(name);
  const far = await accepted;
  const [client, server] = await Promise.all([SecureChannel.connect(near, options(alice, bob)), SecureChannel.accept(far, options(bob, alice))]);
  return { client, server, tunnelVirtual: link.virtual };
}

describe('plugins/relay in process', function () {
  this.timeout(30_000);
  let net: RelayTestNet;

  beforeEach(async () => {
    net = new RelayTestNet();
    await net.start();
  });

  afterEach(async () => {
    await net.stop();
  });

  it('a NATed peer finds it is unreachable, registers with a relay; a member reaches it through the relay over a SecureChannel', async () => {
    const { relay, member, nat, networkId } = await net.relayedNetwork();
    expect(nat.relay.client!.relays()[0]!.port).to.equal(relay.endpoint.port);
    expect(relay.relay.service.relayedNetworks().map((n) => n.toString('hex'))).to.deep.equal([networkId.toString('hex')]);

    // The NATed peer really is unreachable directly.
    const direct = await import('node:net').then(
      (net) =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(nat.endpoint.port, nat.endpoint.host);
          s.once('connect', () => (s.destroy(), resolve(true)));
          s.once('error', () => resolve(false));
        }),
    );
    expect(direct).to.equal(false);

    await reachThroughRelay(member, nat, relay, networkId);
    const { client, server, tunnelVirtual } = await secureOverTunnel(member, nat, networkId);
    expect(tunnelVirtual).to.equal(true);
    client.write('hello through the relay');
    expect((await readN(server, 23)).toString()).to.equal('hello through the relay');
    const big = randomBytes(200_000);
    server.write(big);
    expect((await readN(client, big.length)).equals(big)).to.equal(true);
    expect(relay.relay.service.stats.tunnelsRelayed).to.be.greaterThan(0);
    expect(relay.relay.service.stats.peerListsSent).to.be.greaterThan(0);
    client.destroy();
    server.destroy();
  });

  it('dials a relayed peer through the relay, never directly, also after the tunnel closed', async () => {
    const { relay, member, nat, networkId } = await net.relayedNetwork();
    await reachThroughRelay(member, nat, relay, networkId);
    // Runs after the relay's tap and before core's direct TCP dial: counts direct attempts.
    let directAttempts = 0;
    member.kernel.hooks.dial.tapPromise({ name: 'test-counter', stage: 500 }, async (request) => {
      if (endpointKey(request.endpoint) === endpointKey(nat.endpoint)) directAttempts++;
      return undefined;
    });
    const first = await member.kernel.connections.connect(nat.endpoint);
    expect(first.virtual).to.equal(true);
    first.close();
    await waitFor(() => !member.kernel.connections.connections.some((c) => c.peerId.equals(nat.kernel.connections.peerId)), 'the tunnel to close');
    // At once: the new tunnel's open waits for the old one's name (the target's EPN) to be free.
    const again = await member.kernel.connections.connect(nat.endpoint);
    expect(again.virtual).to.equal(true);
    expect(again.peerId.equals(nat.kernel.connections.peerId)).to.equal(true);
    expect(directAttempts).to.equal(0);
    expect(relay.relay.service.stats.tunnelsRelayed).to.be.greaterThanOrEqual(2);
  });

  it('drops a client\'s records when it leaves, and refuses registrations over its caps', async () => {
    const relay = await net.node('relay', { maxNetworksPerClient: 2 });
    const nat = await net.node('nat', { maxRelays: 1 });
    const ids = [randomBytes(20), randomBytes(20), randomBytes(20)];
    for (const networkId of ids) await nat.kernel.hooks.announce.promise({ networkId, port: 1 });
    await untilRelayed(nat);
    await waitFor(() => relay.relay.service.stats.networks === 2, 'two networks recorded');
    expect(relay.relay.service.stats.registrationsRefused).to.be.greaterThan(0);
    await nat.kernel.hooks.withdraw.promise(ids[0]!);
    await waitFor(() => relay.relay.service.stats.networks === 1, 'a withdrawn network to go');
    await nat.kernel.stop();
    await waitFor(() => relay.relay.service.stats.networks === 0 && relay.relay.service.stats.clients === 0, 'records to be dropped');
  });

  it('killing the relay moves the NATed peer to another relay, which then carries its traffic', async () => {
    const { relays, member, nat, networkId } = await net.relayedNetwork([{}, {}]);
    const heldPort = nat.relay.client!.relays()[0]!.port;
    const [dead, alive] = relays[0]!.endpoint.port === heldPort ? [relays[0]!, relays[1]!] : [relays[1]!, relays[0]!];
    await dead.kernel.stop();
    await waitFor(() => nat.relay.client!.relays().some((r) => r.port === alive.endpoint.port), 'the peer to move to the other relay', 10_000);
    expect(nat.relay.client!.stats.relaysLost).to.equal(1);
    await reachThroughRelay(member, nat, alive, networkId);
    const { client, server } = await secureOverTunnel(member, nat, networkId);
    client.write('still here');
    expect((await readN(server, 10)).toString()).to.equal('still here');
    client.destroy();
    server.destroy();
  });

  it('the relay sees only ciphertext and cannot alter it: a flipped byte in its splice breaks the secure channel', async () => {
    const { relay, member, nat, networkId } = await net.relayedNetwork();
    // The relay's splice, seen from inside: record every byte, flip one when armed.
    const seenByRelay: Buffer[] = [];
    let armed = false;
    const inspect = (chunk: Buffer): Buffer => {
      seenByRelay.push(Buffer.from(chunk));
      if (armed && chunk.length > 64) {
        armed = false;
        const copy = Buffer.from(chunk);
        copy[copy.length - 1]! ^= 0x01;
        return copy;
      }
      return chunk;
    };
    relay.kernel.connections.setTunnelPolicy(() => ({ inspect }));
    await reachThroughRelay(member, nat, relay, networkId);
    const { client, server } = await secureOverTunnel(member, nat, networkId);
    const secret = Buffer.from('the relay must never read this sentence');
    client.write(secret);
    expect((await readN(server, secret.length)).equals(secret)).to.equal(true);
    expect(Buffer.concat(seenByRelay).includes(secret)).to.equal(false);

    const failed = new Promise<Error>((resolve) => server.once('error', resolve));
    client.on('error', () => undefined);
    let delivered = Buffer.alloc(0);
    server.on('data', (d: Buffer) => (delivered = Buffer.concat([delivered, d])));
    armed = true;
    const tampered = Buffer.alloc(200, 0x42);
    client.write(tampered);
    const err = (await failed) as Error & { code?: string };
    expect(err.code).to.equal(SC_ERROR.BAD_MAC);
    expect(delivered.length).to.equal(0);
    client.destroy();
    server.destroy();
  });
});
