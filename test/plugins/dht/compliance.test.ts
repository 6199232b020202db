import { DhtDiscovery } from '../../../plugins/dht/dht-discovery.js';
import { runDiscoveryCompliance, waitFor, type DiscoveryNodeHandle, type PeerReport } from '../../compliance/discovery.js';
import { startLocalDht, type LocalDht } from '../../helpers/local-dht.js';
import { bencodeBomb, bencodeLengthLie, garbagePackets, sendDatagrams, startHugePeerListNode, unsolicitedResponse } from './hostile-dht.js';

const TESTNET_NODES = 5;
const HUGE_PEER_LIST = 5_000;

runDiscoveryCompliance('dht', async () => {
  const testnet: LocalDht = await startLocalDht(TESTNET_NODES);
  const services = new Map<DiscoveryNodeHandle, DhtDiscovery>();
  const closers: Array<() => Promise<void>> = [];

  const countBad = (s: DhtDiscovery): number => s.stats.malformedPackets + s.stats.peersFiltered + s.stats.peersDropped;

  async function datagramCase(target: DiscoveryNodeHandle, packets: Buffer[]): Promise<void> {
    const service = services.get(target)!;
    const before = target.badInputCount();
    await sendDatagrams(service.address().port, packets);
    await waitFor(() => target.badInputCount() > before, 'the node to count the bad datagrams', 3_000);
  }

  return {
    withdrawUnpublishes: false,
    async createNode() {
      const found: PeerReport[] = [];
      const service = new DhtDiscovery(
        { bootstrap: testnet.bootstrap, port: 0, host: '127.0.0.1', allowPrivateAddresses: true, queryTimeoutMs: 1_000 },
        { onPeer: (networkId, endpoint) => found.push({ networkId, endpoint }) },
      );
      await service.start();
      const handle: DiscoveryNodeHandle = {
        found,
        announce: (networkId, port) => service.announce(networkId, port),
        withdraw: (networkId) => service.withdraw(networkId),
        lookup: (networkId) => service.lookup(networkId),
        badInputCount: () => countBad(service),
        stop: () => service.stop(),
      };
      services.set(handle, service);
      return handle;
    },
    hostile: [
      { name: 'random datagrams', deliver: (t) => datagramCase(t, garbagePackets(300)) },
      { name: 'bencode bomb (deep nesting)', deliver: (t) => datagramCase(t, [bencodeBomb()]) },
      { name: 'bencode length lie', deliver: (t) => datagramCase(t, [bencodeLengthLie()]) },
      { name: 'response to no query', deliver: (t) => datagramCase(t, [unsolicitedResponse()]) },
      {
        name: `huge peer list (${HUGE_PEER_LIST} peers in one reply)`,
        async deliver(target, networkId) {
          const service = services.get(target)!;
          const fake = await startHugePeerListNode(HUGE_PEER_LIST);
          closers.push(() => fake.close());
          service.dht.addNode({ id: fake.id, host: '127.0.0.1', port: fake.port });
          const before = service.stats.peersDropped;
          await service.lookup(networkId);
          await waitFor(() => service.stats.peersDropped > before, 'peers beyond the cap to be dropped', 3_000);
        },
      },
    ],
    async close() {
      for (const s of services.values()) await s.stop();
      for (const c of closers) await c();
      await testnet.close();
    },
  };
});
