import { expect } from 'chai';
import { createConnection } from 'node:net';
import { ConnectionError, PROTOCOL_VERSION, type VirtualChannel } from '../../../core/connection/index.js';
import type { PeerConnectionInfo } from '../../../core/types.js';
import { Testnet, acceptAll, channelName, drain, endpointOf, once, waitFor } from './testnet.js';

describe('connection/manager', () => {
  const net = new Testnet();
  afterEach(() => net.stop());

  it('connects two nodes, calls the hooks, and carries a channel both ways', async () => {
    const a = await net.node();
    const b = await net.node();
    const seen: string[] = [];
    a.hooks.connection.tap('test', (info: PeerConnectionInfo) => seen.push(`a+${info.direction}`));
    b.hooks.connection.tap('test', (info: PeerConnectionInfo) => seen.push(`b+${info.direction}`));
    b.hooks.disconnection.tap('test', (info: PeerConnectionInfo) => seen.push(`b-${info.direction}`));
    acceptAll(b, (ch) => ch.pipe(ch)); // echo
    const conn = await a.manager.connect(endpointOf(b));
    expect(conn.peerId.equals(b.manager.peerId)).to.equal(true);
    expect(conn.info).to.include({ direction: 'outbound', virtual: false });
    const channel = await a.manager.openChannel(b.manager.peerId, channelName('echo'));
    const payload = Buffer.alloc(300_000, 3);
    const echoed = drain(channel);
    channel.end(payload);
    const got = await echoed;
    expect(got.bytes).to.equal(payload.length);
    await waitFor(() => b.manager.connections.length === 1);
    const inbound = b.manager.getConnection(a.manager.peerId)!;
    expect(inbound.info.remote).to.deep.equal({ host: '127.0.0.1', port: a.manager.localPort });
    expect(a.manager.stats.connectionsOut).to.equal(1);
    expect(b.manager.stats.connectionsIn).to.equal(1);
    expect(a.manager.stats.bytesOut).to.be.greaterThan(payload.length);
    expect(b.manager.stats.channelsOpened).to.equal(1);
    conn.close();
    await waitFor(() => b.manager.connections.length === 0);
    expect(seen).to.include.members(['a+outbound', 'b+inbound', 'b-inbound']);
  });

  it('listens dual-stack on a wildcard host with a random port', async () => {
    const a = await net.node({ host: '::' });
    const b = await net.node();
    expect(a.manager.localPort).to.be.greaterThan(0);
    const v6 = await b.manager.connect({ host: '::1', port: a.manager.localPort });
    expect(v6.peerId.equals(a.manager.peerId)).to.equal(true);
    // The same node over IPv4 resolves to the one registered connection.
    const v4 = await b.manager.connect({ host: '127.0.0.1', port: a.manager.localPort });
    expect(v4).to.equal(v6);
    expect(b.manager.connections).to.have.length(1);
  });

  it('refuses a self-connection', async () => {
    const a = await net.node();
    const err = await a.manager.connect(endpointOf(a)).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConnectionError).with.property('code', 'ERR_CONNECTION_SELF');
    expect(a.manager.connections).to.have.length(0);
    expect(a.manager.stats.selfConnections).to.be.at.least(1);
  });

  it('makes at most one dial per end point at a time', async () => {
    const a = await net.node();
    const b = await net.node();
    let dials = 0;
    a.hooks.dial.tap({ name: 'count', stage: -10 }, () => {
      dials++;
      return undefined;
    });
    const all = await Promise.all(Array.from({ length: 10 }, () => a.manager.connect(endpointOf(b))));
    expect(dials).to.equal(1);
    expect(new Set(all).size).to.equal(1);
  });

  it('uses a stream supplied by an earlier dial tap (proxy/relay plugins win over direct TCP)', async () => {
    const a = await net.node();
    const b = await net.node();
    let used = false;
    a.hooks.dial.tapPromise('proxy', async (request) => {
      used = true;
      const socket = createConnection({ host: '127.0.0.1', port: request.endpoint.port });
      await once(socket, 'connect');
      return socket;
    });
    const conn = await a.manager.connect({ host: '10.255.255.1', port: b.manager.localPort });
    expect(used).to.equal(true);
    expect(conn.peerId.equals(b.manager.peerId)).to.equal(true);
  });

  it('reports a failed dial with a typed error and counts it', async () => {
    const a = await net.node({ limits: { tunnelFallback: false } });
    const b = await net.node();
    const port = b.manager.localPort;
    await b.manager.stop();
    const err = await a.manager.connect({ host: '127.0.0.1', port }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConnectionError).with.property('code', 'ERR_CONNECTION_DIAL');
    expect(a.manager.stats.dialFailures).to.equal(1);
  });

  it('resolves simultaneous connects to exactly one link, the same on both sides', async function () {
    this.timeout(20_000);
    let duplicates = 0;
    for (let round = 0; round < 15; round++) {
      const a = await net.node();
      const b = await net.node();
      const [ab, ba] = await Promise.allSettled([a.manager.connect(endpointOf(b)), b.manager.connect(endpointOf(a))]);
      expect(ab.status, `round ${round} a->b`).to.equal('fulfilled');
      expect(ba.status, `round ${round} b->a`).to.equal('fulfilled');
      // Both ends settle on the same link (the loser may still be closing on one side).
      await waitFor(() => {
        const [x] = a.manager.connections;
        const [y] = b.manager.connections;
        return x !== undefined && y !== undefined && x.initiatorPeerId.equals(y.initiatorPeerId);
      });
      expect(a.manager.connections, `round ${round}`).to.have.length(1);
      expect(b.manager.connections, `round ${round}`).to.have.length(1);
      const ca = a.manager.connections[0]!;
      const cb = b.manager.connections[0]!;
      expect(ca.initiatorPeerId.equals(cb.initiatorPeerId)).to.equal(true);
      expect(ca.info.direction).to.not.equal(cb.info.direction);
      // The survivor carries traffic.
      acceptAll(b);
      const ch = await a.manager.openChannel(b.manager.peerId, channelName(`r${round}`));
      ch.destroy();
      duplicates += a.manager.stats.duplicatesResolved + b.manager.stats.duplicatesResolved;
      await net.stop();
    }
    expect(duplicates, 'the race really happened').to.be.greaterThan(0);
  });

  it('a full mesh dialled from every side at once ends with exactly one link per pair', async function () {
    this.timeout(20_000);
    const nodes = await Promise.all(Array.from({ length: 5 }, () => net.node()));
    await Promise.all(nodes.flatMap((x) => nodes.filter((y) => y !== x).map((y) => x.manager.connect(endpointOf(y)))));
    await waitFor(() =>
      nodes.every((x) =>
        nodes.every((y) => {
          if (x === y) return true;
          const xy = x.manager.getConnection(y.manager.peerId);
          const yx = y.manager.getConnection(x.manager.peerId);
          return xy !== undefined && yx !== undefined && !xy.closed && !yx.closed && xy.initiatorPeerId.equals(yx.initiatorPeerId);
        }),
      ),
    );
    for (const x of nodes) expect(x.manager.connections).to.have.length(4);
  });

  it('refuses inbound opens when nobody handles channels, and honours a handler that refuses', async () => {
    const a = await net.node();
    const b = await net.node();
    await a.manager.connect(endpointOf(b));
    let err = await a.manager.openChannel(b.manager.peerId, channelName('x')).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'ERR_CHANNEL_REFUSED');
    b.manager.onChannel((req) => (req.name.equals(channelName('ok')) ? req.accept() : req.refuse()));
    err = await a.manager.openChannel(b.manager.peerId, channelName('no')).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'ERR_CHANNEL_REFUSED');
    const ok = await a.manager.openChannel(b.manager.peerId, channelName('ok'));
    expect(ok.state).to.equal('open');
    await waitFor(() => b.manager.stats.channelsRefused === 2);
  });

  it('refuses at once an open its handlers leave undecided (the opener does not wait for its timeout)', async function () {
    // With an hour to wait, only a prompt refusal can end this test before mocha's timeout.
    this.timeout(5_000);
    const limits = { channelOpenTimeoutMs: 3_600_000 };
    const a = await net.node({ limits });
    const b = await net.node({ limits });
    await a.manager.connect(endpointOf(b));
    let seen = 0;
    b.manager.onChannel(() => void seen++); // looks, decides nothing
    b.manager.onChannel((req) => (req.name.equals(channelName('ok')) ? req.accept() : undefined));
    const err = await a.manager.openChannel(b.manager.peerId, channelName('nobody')).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'ERR_CHANNEL_REFUSED');
    expect((await a.manager.openChannel(b.manager.peerId, channelName('ok'))).state).to.equal('open');
    expect(seen).to.equal(2);
  });

  it('re-opens a name at once after closing it: the open waits for the close to finish instead of failing', async () => {
    const a = await net.node();
    const b = await net.node();
    acceptAll(b, (ch) => {
      ch.on('end', () => ch.end());
      ch.resume();
    });
    await a.manager.connect(endpointOf(b));
    const name = channelName('again');
    for (let i = 0; i < 20; i++) {
      const channel = await a.manager.openChannel(b.manager.peerId, name);
      // Clean close on even rounds (both ends end), abort on odd ones; re-open at once.
      if (i % 2 === 0) channel.end(Buffer.from('bye'));
      else channel.destroy();
    }
    expect(b.manager.stats.channelsOpened).to.equal(20);
  });

  it('caps channels per connection', async () => {
    const a = await net.node({ limits: { maxChannels: 4 } });
    const b = await net.node({ limits: { maxChannels: 3 } });
    acceptAll(b);
    await a.manager.connect(endpointOf(b));
    const opened: VirtualChannel[] = [];
    for (let i = 0; i < 3; i++) opened.push(await a.manager.openChannel(b.manager.peerId, channelName(`c${i}`)));
    const err = await a.manager.openChannel(b.manager.peerId, channelName('c3')).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'ERR_CHANNEL_REFUSED');
    opened[0]!.destroy();
    await waitFor(() => b.manager.getConnection(a.manager.peerId)!.channelCount === 2);
    await a.manager.openChannel(b.manager.peerId, channelName('c4'));
  });

  it('sends keep-alives so an idle link survives, and drops a silent peer on read timeout', async () => {
    const limits = { keepAliveMs: 50, readTimeoutMs: 300 };
    const a = await net.node({ limits });
    const b = await net.node({ limits });
    const conn = await a.manager.connect(endpointOf(b));
    await new Promise((r) => setTimeout(r, 700));
    expect(conn.closed).to.equal(false);
    // A raw peer that completes the handshake, then says nothing.
    const raw = createConnection({ host: '127.0.0.1', port: b.manager.localPort });
    raw.on('error', () => undefined);
    raw.write(Buffer.concat([Buffer.from([PROTOCOL_VERSION]), Buffer.alloc(20, 9), Buffer.alloc(2)]));
    raw.resume();
    const [, reason] = (await once(b.manager, 'disconnection')) as [unknown, Error];
    expect(reason).to.have.property('code', 'ERR_CONNECTION_READ_TIMEOUT');
    raw.destroy();
  });

  it('stop() closes every connection, channel and socket', async () => {
    const a = await net.node();
    const b = await net.node();
    acceptAll(b);
    await a.manager.connect(endpointOf(b));
    const ch = await a.manager.openChannel(b.manager.peerId, channelName('s'));
    const closed = once(ch, 'close');
    const gone = once(b.manager, 'disconnection');
    await a.manager.stop();
    await closed;
    await gone;
    expect(a.manager.connections).to.have.length(0);
    expect(a.manager.stats.connectionsOpen).to.equal(0);
    const err = await a.manager.connect(endpointOf(b)).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'ERR_CONNECTION_STOPPED');
  });
});
