import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { expect } from 'chai';
import type { Endpoint, NetworkId } from '../../../core/types.js';
import { TrackerDiscovery, checkTrackerUrl, type TrackerDiscoveryOptions } from '../../../plugins/trackers/tracker-discovery.js';
import { waitFor, type PeerReport } from '../../compliance/discovery.js';
import { startLocalTracker, type LocalTracker } from '../../helpers/local-tracker.js';
import { startHostileHttpTracker, type HostileTracker } from './hostile-tracker.js';

function handles(): number {
  // UDP only: HTTP requests go through the fetch pool, whose idle keep-alive sockets are the pool's, not ours.
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
}

/** A loopback TCP port with nothing listening (bound, then released). */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

describe('plugins/trackers TrackerDiscovery', function () {
  const services: TrackerDiscovery[] = [];
  const closers: Array<() => Promise<void>> = [];

  async function make(options: Partial<TrackerDiscoveryOptions>, onWarning?: (message: string) => void): Promise<{ service: TrackerDiscovery; found: PeerReport[] }> {
    const found: PeerReport[] = [];
    const service = new TrackerDiscovery(
      { announce: [], allowPrivateAddresses: true, honourMinInterval: false, ...options },
      { onPeer: (networkId: NetworkId, endpoint: Endpoint) => found.push({ networkId, endpoint }), ...(onWarning ? { onWarning } : {}) },
    );
    services.push(service);
    await service.start();
    return { service, found };
  }

  async function tracker(intervalMs?: number): Promise<LocalTracker> {
    const t = await startLocalTracker(intervalMs ? { intervalMs } : {});
    closers.push(() => t.close());
    return t;
  }

  async function hostile(mode: Parameters<typeof startHostileHttpTracker>[0]): Promise<HostileTracker> {
    const h = await startHostileHttpTracker(mode);
    closers.push(() => h.close());
    return h;
  }

  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop();
    for (const c of closers.splice(0)) await c();
  });

  it('accepts http, https and udp trackers only', () => {
    for (const ok of ['http://t.example/announce', 'https://t.example:443/announce', 'udp://t.example:1337']) expect(() => checkTrackerUrl(ok)).not.to.throw();
    for (const bad of ['wss://t.example', 'ws://t.example', 'udp://t.example', 'udp://[::1]:6969', 'not a url', 'file:///etc/passwd']) {
      expect(() => checkTrackerUrl(bad), bad).to.throw().with.property('code', 'ERR_TRACKER_BAD_URL');
    }
    expect(() => new TrackerDiscovery({ announce: ['wss://t.example'], allowPrivateAddresses: false }, { onPeer: () => {} })).to.throw();
  });

  it('records the tracker interval and re-announces on it once the mesh is complete', async () => {
    const t = await tracker(1_000);
    const { service } = await make({ announce: [t.udpUrl], minTrackerIntervalMs: 100, fastIntervalMs: 60_000 });
    const net = randomBytes(20);
    await service.announce(net, 4201);
    expect(service.sessionsFor(net)[0]!.intervalMs).to.equal(1_000);
    expect(service.sessionsFor(net)[0]!.nextDelayMs).to.equal(60_000); // fast while incomplete, here slower than the tracker
    service.setMeshIncomplete(net, false);
    expect(service.sessionsFor(net)[0]!.nextDelayMs).to.equal(1_000);
    await waitFor(() => service.stats.responses >= 2, 'a re-announce at the tracker interval', 5_000);
  });

  it("honours the tracker's min interval: an early lookup is deferred, not sent", async () => {
    const h = await hostile('peers6'); // answers with min interval 60 s
    const { service } = await make({ announce: [h.url], honourMinInterval: true });
    const net = randomBytes(20);
    await service.announce(net, 4202);
    expect(service.sessionsFor(net)[0]!.minIntervalMs).to.equal(60_000);
    await service.lookup(net);
    expect(service.stats.deferred).to.equal(1);
    expect(h.requests).to.equal(1);
    expect(service.sessionsFor(net)[0]!.nextDelayMs).to.be.within(59_000, 60_000);
  });

  it('retries failures with exponential back-off, capped', async () => {
    const port = await closedPort();
    const delays: Array<number | null> = [];
    const net = randomBytes(20);
    const { service } = await make({ announce: [`http://127.0.0.1:${port}/announce`], retryBaseMs: 40, maxRetryMs: 160 }, () => {
      // Called on each failure just before the retry is scheduled: read the delay after it.
      queueMicrotask(() => delays.push(service.sessionsFor(net)[0]?.nextDelayMs ?? null));
    });
    await service.announce(net, 4203);
    await waitFor(() => delays.length >= 5, 'five failures', 5_000);
    expect(delays.slice(0, 5)).to.deep.equal([40, 80, 160, 160, 160]);
    expect(service.stats.retries).to.be.at.least(5);
  });

  it('parses compact IPv6 peers (peers6) next to IPv4 ones', async () => {
    const h = await hostile('peers6');
    const { service, found } = await make({ announce: [h.url] });
    await service.announce(randomBytes(20), 4204);
    const got = found.map((f) => `${f.endpoint.host}|${f.endpoint.port}`);
    expect(got).to.include('2001:db8::1|7001');
    expect(got).to.include('::1|7002');
    expect(got).to.include('127.0.0.1|1024');

    const pub = await make({ announce: [h.url], allowPrivateAddresses: false });
    await pub.service.announce(randomBytes(20), 4205);
    expect(pub.found.map((f) => f.endpoint.host)).to.deep.equal(['2001:db8::1']);
    expect(pub.service.stats.peersFiltered).to.equal(2);
  });

  it('filters private peers and ourselves on the public setting', async () => {
    const t = await tracker();
    const a = await make({ announce: [t.httpUrl], allowPrivateAddresses: false });
    const b = await make({ announce: [t.httpUrl], allowPrivateAddresses: false });
    const net = randomBytes(20);
    await a.service.announce(net, 4206);
    await b.service.announce(net, 4207);
    await a.service.lookup(net);
    expect(a.found).to.deep.equal([]);
    expect(b.found).to.deep.equal([]);
    expect(b.service.stats.peersFiltered).to.be.greaterThan(0);
  });

  it('uses a per-network list instead of the default, and none for "DHT only"', async () => {
    const t1 = await tracker();
    const t2 = await tracker();
    const { service } = await make({ announce: [t1.httpUrl] });
    const own = randomBytes(20);
    const none = randomBytes(20);
    service.setNetworkTrackers(own, [t2.udpUrl]);
    service.setNetworkTrackers(none, []);
    expect(service.trackersFor(own)).to.deep.equal([t2.udpUrl]);
    expect(service.trackersFor(randomBytes(20))).to.deep.equal([t1.httpUrl]);
    await service.announce(none, 4208);
    expect(service.stats.announces).to.equal(0);
    await service.announce(own, 4209);
    expect(service.sessionsFor(own).map((s) => s.url)).to.deep.equal([t2.udpUrl]);
    expect(service.stats.responses).to.equal(1);
  });

  it('re-announcing on a new port withdraws the old one first', async () => {
    const t = await tracker();
    const a = await make({ announce: [t.httpUrl] });
    const b = await make({ announce: [t.httpUrl] });
    const net = randomBytes(20);
    await a.service.announce(net, 4210);
    await a.service.announce(net, 4211);
    await b.service.announce(net, 4212);
    const ports = b.found.map((f) => f.endpoint.port);
    expect(ports).to.include(4211);
    expect(ports).not.to.include(4210);
  });

  it('stop sends "stopped" and closes every socket and timer', async () => {
    const t = await tracker();
    const before = handles();
    const { service } = await make({ announce: [t.httpUrl, t.udpUrl], fastIntervalMs: 50 });
    await service.announce(randomBytes(20), 4213);
    await service.stop();
    await service.stop();
    await waitFor(() => handles() <= before, 'sockets to close', 3_000);
    let code = '';
    await service.announce(randomBytes(20), 4214).catch((e: { code: string }) => (code = e.code));
    expect(code).to.equal('ERR_TRACKER_NOT_STARTED');
  });
});
