/**
 * The relay service and client edges, against real kernels on 127.0.0.1: a
 * reachable node takes no relay, bad requests get a typed refusal, probes are
 * rate-limited, non-relays say so, and the tunnel cap holds.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ConnectionManager } from '../../../core/connection/manager.js';
import { tapDirectDial } from '../../../core/connection/dial.js';
import { Signal } from '../../../core/connection/constants.js';
import type { Frame } from '../../../core/connection/frame.js';
import { createHooks } from '../../../core/hooks.js';
import { createLogger } from '../../../core/logger.js';
import { OPEN_NETWORK_POLICY } from '../../../core/network-policy.js';
import { definePlugin } from '../../../core/plugin.js';
import { RelayStatus } from '../../../plugins/relay/constants.js';
import { encodeRelayRequest } from '../../../plugins/relay/wire.js';
import { waitFor } from '../../compliance/discovery.js';
import { startLocalTracker } from '../../helpers/local-tracker.js';
import { RelayTestNet, type TestNode } from './testnet.js';

/** A bare connection layer that records relay answers (signal 12). */
async function rawPeer(): Promise<{ manager: ConnectionManager; answers: Frame[] }> {
  const hooks = createHooks();
  tapDirectDial(hooks);
  const manager = new ConnectionManager({ hooks, logger: createLogger('silent'), listen: { host: '127.0.0.1', port: 0 } });
  const answers: Frame[] = [];
  manager.onSignal(Signal.TCP_RELAY_RESPONSE_SUCCESS, (frame) => answers.push(frame));
  await manager.start();
  return { manager, answers };
}

/** Send a StartTcpRelay whose data `encode` builds for the request ID; the status answered. */
async function ask(peer: Awaited<ReturnType<typeof rawPeer>>, target: TestNode, encode: (id: Buffer) => Buffer): Promise<number> {
  const link = await peer.manager.connect(target.endpoint);
  const id = randomBytes(20);
  link.sendControl(Signal.START_TCP_RELAY, id, encode(id));
  let answer: Frame | undefined;
  await waitFor(() => (answer = peer.answers.find((f) => f.name.equals(id))) !== undefined, 'an answer');
  expect(answer!.data.length).to.equal(1);
  return answer!.data[0]!;
}

const register = (networkId: Buffer) => (id: Buffer): Buffer => encodeRelayRequest({ kind: 'register', networkIds: [networkId] }, id);

describe('plugins/relay service and client edges', function () {
  this.timeout(20_000);
  let net: RelayTestNet;
  const managers: ConnectionManager[] = [];

  beforeEach(async () => {
    net = new RelayTestNet();
    await net.start();
  });

  afterEach(async () => {
    for (const m of managers.splice(0)) await m.stop();
    await net.stop();
  });

  it('a reachable node learns so from a probe and takes no relay', async () => {
    const relay = await net.node('relay');
    const open = await net.node('member', { client: true, relays: [`127.0.0.1:${relay.endpoint.port}`] });
    await open.kernel.hooks.announce.promise({ networkId: randomBytes(20), port: open.endpoint.port });
    await waitFor(() => open.relay.client!.reachability === 'reachable', 'the node to be found reachable');
    expect(relay.relay.service.stats.probesReachable).to.be.greaterThan(0);
    expect(open.relay.client!.relays()).to.deep.equal([]);
    expect(relay.relay.service.stats.clients).to.equal(0);
  });

  it('answers malformed requests REFUSED, probes too soon RATE_LIMITED, and non-relays NOT_SERVING', async () => {
    const relay = await net.node('relay', { probeMinIntervalSeconds: 60 });
    const plain = await net.node('member');
    const peer = await rawPeer();
    managers.push(peer.manager);
    expect(await ask(peer, relay, () => Buffer.of(9))).to.equal(RelayStatus.REFUSED);
    expect(await ask(peer, relay, () => Buffer.of(1, 1, 2, 3))).to.equal(RelayStatus.REFUSED);
    expect(relay.relay.service.stats.malformedRequests).to.equal(2);
    // The raw peer listens on 127.0.0.1: the dial-back finds it.
    expect(await ask(peer, relay, () => Buffer.of(2))).to.equal(RelayStatus.REACHABLE);
    expect(await ask(peer, relay, () => Buffer.of(2))).to.equal(RelayStatus.RATE_LIMITED);
    const networkId = randomBytes(20);
    expect(await ask(peer, plain, register(networkId))).to.equal(RelayStatus.NOT_SERVING);
    // The relay is still fine: a real registration works, and it unmasks the right ID.
    expect(await ask(peer, relay, register(networkId))).to.equal(RelayStatus.OK);
    expect(relay.relay.service.stats.clients).to.equal(1);
    expect(relay.relay.service.relayedNetworks().map((n) => n.toString('hex'))).to.deep.equal([networkId.toString('hex')]);
    await peer.manager.stop();
    await waitFor(() => relay.relay.service.stats.clients === 0, 'the records to go with the link');
  });

  it('refuses clients over maxClients', async () => {
    const relay = await net.node('relay', { maxClients: 1 });
    const [a, b] = [await rawPeer(), await rawPeer()];
    managers.push(a.manager, b.manager);
    expect(await ask(a, relay, register(randomBytes(20)))).to.equal(RelayStatus.OK);
    expect(await ask(b, relay, register(randomBytes(20)))).to.equal(RelayStatus.LIMIT);
    expect(relay.relay.service.stats.clients).to.equal(1);
  });

  it('announces relayed networks with its own port on its own trackers (a client names none)', async () => {
    const tracker = await startLocalTracker();
    try {
      const trackers = { trackers: { announce: [tracker.httpUrl], allowPrivateAddresses: true } };
      const relay = await net.node('relay', {}, trackers);
      const nat = await net.node('nat', { maxRelays: 1 });
      const member = await net.node('member', {}, trackers);
      const networkId = randomBytes(20);
      await nat.kernel.hooks.announce.promise({ networkId, port: 1 });
      await waitFor(() => relay.relay.service.stats.networks === 1, 'the relay to record the network');
      // The relay's own trackers service carries the announce (with the relay's port).
      await waitFor(() => relay.kernel.resolve('trackers').stats.responses >= 1, 'the relay to announce on its tracker');
      await member.kernel.hooks.announce.promise({ networkId, port: member.endpoint.port });
      await waitFor(
        () => member.seen.some((s) => s.source === 'trackers' && s.networkId.equals(networkId) && s.endpoint.port === relay.endpoint.port),
        'the member to find the relay on the tracker',
        10_000,
      );
    } finally {
      await net.stop();
      await tracker.close();
    }
  });

  it('behind a proxy: does not serve, answers no probe, and counts itself unreachable without asking', async () => {
    const relay = await net.node('relay');
    // What proxy-socks registers: outbound TCP only through the proxy.
    const proxied = definePlugin({
      name: 'test-proxy-policy',
      version: '0.0.0',
      apply(api) {
        api.register('networkPolicy', { ...OPEN_NETWORK_POLICY, mode: 'proxy', allowDirectTcp: false });
      },
    });
    const node = await net.node('relay', { client: true, relays: [`127.0.0.1:${relay.endpoint.port}`], maxRelays: 1 }, {}, [{ definition: proxied }]);
    expect(node.relay.service.isServing).to.equal(false);
    expect(node.relay.client!.reachability).to.equal('unreachable');
    await node.kernel.hooks.announce.promise({ networkId: randomBytes(20), port: 1 });
    await waitFor(() => node.relay.client!.relays().length === 1, 'the proxied node to take a relay');
    expect(node.relay.client!.stats.probesSent).to.equal(0);
    const peer = await rawPeer();
    managers.push(peer.manager);
    expect(await ask(peer, node, register(randomBytes(20)))).to.equal(RelayStatus.NOT_SERVING);
    expect(await ask(peer, node, () => Buffer.of(2))).to.equal(RelayStatus.REFUSED);
  });

  it('holds the tunnel cap: with maxTunnels 0 no tunnel to a client is spliced', async () => {
    const { relay, member, nat } = await net.relayedNetwork([{ maxTunnels: 0 }]);
    const link = await member.kernel.connections.connect(relay.endpoint);
    let code = '';
    await member.kernel.connections.connectVia(nat.endpoint, link).catch((e: { code: string }) => (code = e.code));
    expect(code).to.equal('ERR_TUNNEL_NO_ROUTE');
    expect(relay.relay.service.stats.tunnelsRefused).to.equal(1);
  });
});
