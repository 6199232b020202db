import { expect } from 'chai';
import { randomBytes, createHash } from 'node:crypto';
import { ConnectionError, FRAME_HEADER_LENGTH, TUNNEL_FRAME_DATA, type VirtualChannel } from '../../../core/connection/index.js';
import { Testnet, acceptAll, channelName, drain, endpointOf, once, waitFor } from './testnet.js';

describe('connection/tunnels (through a third node)', () => {
  const net = new Testnet();
  afterEach(() => net.stop());

  async function triangle(limits = {}) {
    const a = await net.node({ limits });
    const r = await net.node({ limits });
    const b = await net.node({ limits });
    await a.manager.connect(endpointOf(r));
    await b.manager.connect(endpointOf(r));
    await waitFor(() => r.manager.connections.length === 2);
    return { a, r, b };
  }

  it('A reaches B through R; the tunnel is a virtual connection that carries channels', async () => {
    const { a, r, b } = await triangle();
    acceptAll(b, (ch) => ch.pipe(ch));
    const tunnel = await a.manager.connectVia(endpointOf(b));
    expect(tunnel.virtual).to.equal(true);
    expect(tunnel.peerId.equals(b.manager.peerId)).to.equal(true);
    await waitFor(() => b.manager.getConnection(a.manager.peerId) !== undefined);
    const far = b.manager.getConnection(a.manager.peerId)!;
    expect(far.info).to.include({ virtual: true, direction: 'inbound' });
    expect(far.info.remote).to.deep.equal({ host: '127.0.0.1', port: a.manager.localPort });
    const channel = await a.manager.openChannel(b.manager.peerId, channelName('through'));
    const data = randomBytes(1_000_000);
    const echoed = drain(channel);
    channel.end(data);
    expect((await echoed).sha256).to.equal(createHash('sha256').update(data).digest('hex'));
    expect(a.manager.stats.tunnelsOpened).to.equal(1);
    expect(r.manager.stats.tunnelsRelayed).to.equal(1);
    expect(b.manager.stats.tunnelsAccepted).to.equal(1);
  });

  it('each inner frame travels whole in one frame of each hop (no split header, no reassembly)', async () => {
    const { a, r, b } = await triangle();
    acceptAll(b, (ch) => ch.resume());
    const tunnel = await a.manager.connectVia(endpointOf(b));
    const hop1 = a.manager.getConnection(r.manager.peerId)!;
    const hop2 = r.manager.getConnection(b.manager.peerId)!;
    const channel = await tunnel.openChannel(channelName('packed'));
    const [inner0, hop10, hop20] = [tunnel.stats.framesOut, hop1.stats.framesOut, hop2.stats.framesOut];
    const data = randomBytes(2_000_000);
    const closed = once(channel, 'finish');
    channel.end(data);
    await closed;
    await waitFor(() => b.manager.getConnection(a.manager.peerId)!.stats.bytesIn >= data.length);
    const inner = tunnel.stats.framesOut - inner0;
    // Full inner frames of TUNNEL_FRAME_DATA - 23 data bytes (the last one shorter, plus CHANNEL_END).
    expect(inner).to.equal(Math.ceil(data.length / (TUNNEL_FRAME_DATA - FRAME_HEADER_LENGTH)) + 1);
    // Each hop carries the inner frames whole, one (or, in the same tick, several) per frame
    // of its own: never a frame for an inner header and another for its data (that would
    // double the count). The hops' own control frames (credit for the carrying channel,
    // keep-alives) come on top, more of them when the machine is busy: up to half as many.
    const controlAllowance = Math.ceil(inner / 2);
    await waitFor(() => hop2.stats.framesOut - hop20 >= inner - 1);
    expect(hop1.stats.framesOut - hop10).to.be.within(inner - 1, inner + controlAllowance);
    expect(hop2.stats.framesOut - hop20).to.be.within(inner - 1, inner + controlAllowance);
  });

  it('falls back to a tunnel when the direct dial fails', async () => {
    const { a, b } = await triangle();
    // A cannot dial B directly (a firewall, say): its direct dial fails.
    a.hooks.dial.tapPromise({ name: 'firewall', stage: -1 }, async (req) => {
      if (req.endpoint.port === b.manager.localPort) throw new Error('blocked');
      return undefined;
    });
    const conn = await a.manager.connect(endpointOf(b));
    expect(conn.virtual).to.equal(true);
    expect(a.manager.stats.dialFailures).to.equal(1);
  });

  it('refuses when no node reaches the target', async () => {
    const { a } = await triangle({ peerStatusTimeoutMs: 2000 });
    const err = await a.manager.connectVia({ host: '127.0.0.1', port: 9 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConnectionError).with.property('code', 'ERR_TUNNEL_NO_ROUTE');
  });

  it('a tunnel node that serves no tunnels refuses', async () => {
    const { a, b, r } = await triangle({ maxRelayedTunnels: 0 });
    const via = a.manager.getConnection(r.manager.peerId)!;
    const err = await a.manager.connectVia(endpointOf(b), via).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'ERR_TUNNEL_NO_ROUTE');
  });

  it('real beats virtual: a direct link replaces the tunnel on both sides', async () => {
    const { a, b, r } = await triangle();
    const tunnel = await a.manager.connectVia(endpointOf(b));
    await waitFor(() => b.manager.getConnection(a.manager.peerId) !== undefined);
    const tunnelClosed = once(tunnel, 'close');
    const direct = await a.manager.connect(endpointOf(b));
    expect(direct.virtual).to.equal(false);
    await tunnelClosed;
    await waitFor(() => b.manager.getConnection(a.manager.peerId)?.virtual === false);
    expect(a.manager.getConnection(b.manager.peerId)).to.equal(direct);
    // A new tunnel is answered "duplicate" and resolves to the real link.
    const again = await a.manager.connectVia(endpointOf(b), a.manager.getConnection(r.manager.peerId)!);
    expect(again).to.equal(direct);
    expect(a.manager.connections.filter((c) => c.virtual)).to.have.length(0);
  });

  it('a tunnel aborted in the middle of a transfer frees everything on all three nodes', async () => {
    const { a, r, b } = await triangle();
    let farChannel: VirtualChannel | undefined;
    acceptAll(b, (ch) => {
      farChannel = ch;
      ch.resume();
    });
    const tunnel = await a.manager.connectVia(endpointOf(b));
    const channel = await tunnel.openChannel(channelName('aborted'));
    channel.on('error', () => undefined);
    channel.write(randomBytes(4_000_000));
    await waitFor(() => (farChannel?.stats.bytesIn ?? 0) > 200_000);
    expect(r.manager.stats.tunnelsRelaying).to.equal(1);
    const farClosed = once(farChannel!, 'close');
    tunnel.close(new ConnectionError('ERR_CONNECTION_CLOSED', 'aborted by the test'));
    await farClosed;
    await waitFor(() => r.manager.stats.tunnelsRelaying === 0);
    await waitFor(() => b.manager.connections.every((c) => !c.virtual));
    for (const node of [a, r, b]) await waitFor(() => node.manager.connections.every((c) => c.channelCount === 0));
    // The links themselves stay up for the next tunnel.
    expect(a.manager.getConnection(r.manager.peerId)?.closed).to.equal(false);
    expect(b.manager.getConnection(r.manager.peerId)?.closed).to.equal(false);
  });

  it('closing the tunnel node closes the tunnel on both ends', async () => {
    const { a, r, b } = await triangle();
    await a.manager.connectVia(endpointOf(b));
    await waitFor(() => b.manager.getConnection(a.manager.peerId) !== undefined);
    await r.manager.stop();
    await waitFor(() => a.manager.connections.length === 0 && b.manager.connections.length === 0);
    expect(r.manager.stats.tunnelsRelaying).to.equal(0);
  });
});
