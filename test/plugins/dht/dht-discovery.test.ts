import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { expect } from 'chai';
import type { Endpoint, NetworkId } from '../../../core/types.js';
import { DhtDiscovery, type DhtDiscoveryOptions } from '../../../plugins/dht/dht-discovery.js';
import { MemoryNodeStore, SqliteNodeStore } from '../../../plugins/dht/node-store.js';
import { lookupUntilFound, waitFor, type DiscoveryNodeHandle, type PeerReport } from '../../compliance/discovery.js';
import { createRecordingSocket, startLocalDht, type LocalDht } from '../../helpers/local-dht.js';

interface Node {
  service: DhtDiscovery;
  found: PeerReport[];
  warnings: string[];
  handle: DiscoveryNodeHandle;
}

function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
}

describe('plugins/dht DhtDiscovery', function () {
  let testnet: LocalDht;
  const started: DhtDiscovery[] = [];

  async function node(overrides: Partial<DhtDiscoveryOptions> = {}): Promise<Node> {
    const found: PeerReport[] = [];
    const warnings: string[] = [];
    const service = new DhtDiscovery(
      { bootstrap: testnet.bootstrap, port: 0, host: '127.0.0.1', allowPrivateAddresses: true, queryTimeoutMs: 1_000, ...overrides },
      { onPeer: (networkId: NetworkId, endpoint: Endpoint) => found.push({ networkId, endpoint }), onWarning: (m) => warnings.push(m) },
    );
    started.push(service);
    await service.start();
    const handle: DiscoveryNodeHandle = {
      found,
      announce: (n, p) => service.announce(n, p),
      withdraw: (n) => service.withdraw(n),
      lookup: (n) => service.lookup(n),
      badInputCount: () => 0,
      stop: () => service.stop(),
    };
    return { service, found, warnings, handle };
  }

  beforeEach(async () => {
    testnet = await startLocalDht(5);
  });

  afterEach(async () => {
    for (const s of started.splice(0)) await s.stop();
    await testnet.close();
  });

  it('sends no packet off loopback (every destination recorded)', async () => {
    const destinations: string[] = [];
    const a = await node({ socket: createRecordingSocket(destinations) });
    const b = await node({ socket: createRecordingSocket(destinations) });
    const net = randomBytes(20);
    await a.service.announce(net, 4001);
    await b.service.announce(net, 4002);
    await lookupUntilFound(b.handle, net, 4001);
    expect(destinations.length).to.be.greaterThan(0);
    expect(destinations.filter((d) => !d.startsWith('127.'))).to.deep.equal([]);
  });

  it('with an empty bootstrap list sends nothing at all (never the public routers)', async () => {
    const destinations: string[] = [];
    const a = await node({ bootstrap: [], socket: createRecordingSocket(destinations) });
    await a.service.announce(randomBytes(20), 4001);
    await new Promise((r) => setTimeout(r, 100));
    expect(a.service.stats.announceErrors).to.equal(1);
    expect(destinations).to.deep.equal([]);
  });

  it('refuses loopback bootstrap nodes unless private addresses are allowed', async () => {
    const destinations: string[] = [];
    const a = await node({ allowPrivateAddresses: false, socket: createRecordingSocket(destinations) });
    expect(a.warnings.some((w) => /allowPrivateAddresses/.test(w))).to.equal(true);
    await a.service.lookup(randomBytes(20));
    expect(destinations).to.deep.equal([]);
    expect(a.service.nodeCount()).to.equal(0);
  });

  it('drops private peers and nodes when private addresses are not allowed', async () => {
    // b is public-policy but is handed a loopback node directly (as a hostile reply would).
    const a = await node();
    const b = await node({ bootstrap: [], allowPrivateAddresses: false });
    const net = randomBytes(20);
    await a.service.announce(net, 4001);
    const n = testnet.nodes[0]!;
    b.service.dht.addNode({ host: '127.0.0.1', port: n.address().port, id: n.nodeId });
    await waitFor(() => b.service.stats.nodesFiltered > 0, 'the loopback node to be filtered', 2_000);
    expect(b.service.nodeCount()).to.equal(0);
    expect(b.found).to.deep.equal([]);
  });

  it('persists the routing table in SQLite and rejoins from it without bootstrap', async () => {
    const db = new BetterSqlite3(':memory:');
    try {
      const store = new SqliteNodeStore(db);
      const a = await node({ nodeStore: store });
      await a.service.lookup(randomBytes(20));
      await waitFor(() => a.service.nodeCount() >= 5, 'a to learn the testnet', 3_000);
      await a.service.stop();
      expect(store.load().length).to.be.greaterThanOrEqual(5);

      const c = await node();
      const net = randomBytes(20);
      await c.service.announce(net, 4003);
      const b = await node({ bootstrap: [], nodeStore: store });
      expect(b.service.stats.nodesRestored).to.be.greaterThanOrEqual(5);
      await b.service.announce(net, 4004);
      await lookupUntilFound(b.handle, net, 4003);
    } finally {
      db.close();
    }
  });

  it('ignores malformed rows in the saved table', () => {
    const db = new BetterSqlite3(':memory:');
    try {
      const store = new SqliteNodeStore(db);
      store.save([{ id: randomBytes(20), host: '1.2.3.4', port: 6881 }]);
      db.prepare('INSERT INTO dht_nodes (id, host, port, saved_at) VALUES (?, ?, ?, ?)').run(randomBytes(3), '1.2.3.5', 6881, Date.now());
      db.prepare('INSERT INTO dht_nodes (id, host, port, saved_at) VALUES (?, ?, ?, ?)').run(randomBytes(20), '1.2.3.6', 70000, Date.now());
      expect(store.load().map((n) => n.host)).to.deep.equal(['1.2.3.4']);
    } finally {
      db.close();
    }
  });

  it('re-announces faster while the mesh is incomplete', async () => {
    const a = await node({ announceIntervalMs: 60_000, fastAnnounceIntervalMs: 150 });
    const net = randomBytes(20);
    await a.service.announce(net, 4001);
    await waitFor(() => a.service.stats.announces >= 3, 'fast re-announces', 5_000);
    a.service.setMeshIncomplete(net, false);
    const settled = a.service.stats.announces;
    await new Promise((r) => setTimeout(r, 600));
    // At most the round that was already in flight.
    expect(a.service.stats.announces).to.be.at.most(settled + 1);
    a.service.setMeshIncomplete(net, true);
    await waitFor(() => a.service.stats.announces >= settled + 2, 'fast again', 5_000);
  });

  it('a re-announce round finds peers that arrived after the first one', async () => {
    // bittorrent-dht's announce skips the lookup when it has a cached table: each round must look up itself.
    const a = await node({ settleDelaysMs: [], fastAnnounceIntervalMs: 200 });
    const b = await node();
    const net = randomBytes(20);
    await a.service.announce(net, 4001);
    await b.service.announce(net, 4002);
    await waitFor(() => a.found.some((f) => f.endpoint.port === 4002), 'a to meet b on its own re-announce', 5_000);
    expect(a.service.stats.lookups).to.equal(0); // no explicit lookup was asked for
  });

  it('peers that come online together meet in the settle rounds', async () => {
    const nodes = await Promise.all([1, 2, 3, 4].map(() => node({ settleDelaysMs: [150, 300], fastAnnounceIntervalMs: 60_000 })));
    const net = randomBytes(20);
    await Promise.all(nodes.map((n, i) => n.service.announce(net, 4100 + i)));
    const pairsCovered = (): boolean =>
      nodes.every((n, i) =>
        nodes.every((m, j) => i === j || n.found.some((f) => f.endpoint.port === 4100 + j) || m.found.some((f) => f.endpoint.port === 4100 + i)),
      );
    await waitFor(pairsCovered, 'every pair to be known by one side', 5_000);
  });

  it('withdraw stops the re-announce timer and the reports', async () => {
    const a = await node({ fastAnnounceIntervalMs: 100 });
    const net = randomBytes(20);
    await a.service.announce(net, 4001);
    await a.service.withdraw(net);
    const n = a.service.stats.announces;
    await new Promise((r) => setTimeout(r, 400));
    expect(a.service.stats.announces).to.equal(n);
    expect(a.service.announcedNetworks()).to.deep.equal([]);
  });

  it('stop closes its socket and refuses work afterwards', async () => {
    const before = udpHandles();
    const a = await node({ nodeStore: new MemoryNodeStore() });
    expect(udpHandles()).to.equal(before + 1);
    await a.service.announce(randomBytes(20), 4001);
    await a.service.stop();
    await a.service.stop();
    // The handle goes away when libuv finishes closing it, a loop turn or two later.
    await waitFor(() => udpHandles() === before, 'the DHT socket to close', 2_000);
    let code = '';
    await a.service.announce(randomBytes(20), 4001).catch((e: { code: string }) => (code = e.code));
    expect(code).to.equal('ERR_DHT_NOT_STARTED');
  });

  it('refuses bad ports', async () => {
    const a = await node();
    for (const port of [0, -1, 65536, 1.5, Number.NaN]) {
      let code = '';
      await a.service.announce(randomBytes(20), port).catch((e: { code: string }) => (code = e.code));
      expect(code, String(port)).to.equal('ERR_DHT_BAD_PORT');
    }
  });
});
