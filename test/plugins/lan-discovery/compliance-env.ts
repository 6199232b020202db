/**
 * The LAN plugin's environment for the shared discovery compliance suite
 * (`test/compliance/discovery.ts`, built on another branch). The interfaces below are
 * structural copies of that suite's `DiscoveryEnv` / `DiscoveryNodeHandle`, so this file
 * compiles without it; compliance.test.ts runs the suite when the file is present.
 * Every node is a LanDiscovery on a fresh UDP port, broadcasting to 127.255.255.255 only.
 */
import { randomBytes } from 'node:crypto';
import type { Endpoint, NetworkId } from '../../../core/types.js';
import { decodePacket, deriveLanKey, encodeQuery, encodeResponse } from '../../../plugins/lan-discovery/packet.js';
import type { LanDiscovery } from '../../../plugins/lan-discovery/service.js';
import { freeUdpPort, loopbackOptions, makeNode, openRaw, waitFor, type RawSocket } from './helpers.js';

export interface LanPeerReport {
  networkId: NetworkId;
  endpoint: Endpoint;
}

export interface LanNodeHandle {
  readonly found: LanPeerReport[];
  announce(networkId: NetworkId, port: number): Promise<void>;
  withdraw(networkId: NetworkId): Promise<void>;
  lookup(networkId: NetworkId): Promise<void>;
  badInputCount(): number;
  stop(): Promise<void>;
}

export interface LanHostileCase {
  name: string;
  deliver(target: LanNodeHandle, networkId: NetworkId): Promise<void>;
}

export interface LanComplianceEnv {
  createNode(): Promise<LanNodeHandle>;
  hostile: LanHostileCase[];
  withdrawUnpublishes: boolean;
  close(): Promise<void>;
}

/** Every counter of bad input the service keeps. */
export function badInputOf(service: LanDiscovery): number {
  const s = service.stats;
  return s.badPackets + s.badMacs + s.replays + s.staleQueries + s.unexpectedResponses + s.packetsDropped;
}

export async function makeLanComplianceEnv(): Promise<LanComplianceEnv> {
  const port = await freeUdpPort();
  const services = new Map<LanNodeHandle, LanDiscovery>();
  const raws: RawSocket[] = [];
  const raw = async (bindPort = 0, address = '127.0.0.1', reuse = false): Promise<RawSocket> => {
    const r = await openRaw(bindPort, address, reuse);
    raws.push(r);
    return r;
  };

  /** Make the target send a query for `networkId` and catch it on the wire. */
  async function sniffQuery(target: LanNodeHandle, networkId: NetworkId): Promise<{ msg: Buffer; senderPort: number }> {
    // The sniffer shares the LAN port; being bound last it would take unicast queries
    // meant for the nodes, so it is closed as soon as it has heard one.
    const sniffer = await openRaw(port, '0.0.0.0', true);
    try {
      const senderPort = services.get(target)!.addresses().sender4!;
      await target.lookup(networkId);
      await waitFor(() => sniffer.heard.some((h) => h.rinfo.port === senderPort), 'a query from the target');
      const heard = sniffer.heard.find((h) => h.rinfo.port === senderPort)!;
      return { msg: heard.msg, senderPort };
    } finally {
      await sniffer.close();
    }
  }

  async function counted(target: LanNodeHandle, send: () => Promise<void>): Promise<void> {
    const before = target.badInputCount();
    await send();
    await waitFor(() => target.badInputCount() > before, 'the bad input to be counted');
  }

  return {
    withdrawUnpublishes: true, // a withdrawn network is no longer answered, by anyone
    async createNode() {
      const node = makeNode(loopbackOptions(port, { queryIntervalMinMs: 200, queryIntervalMaxMs: 2_000 }));
      await node.service.start();
      const { service } = node;
      const handle: LanNodeHandle = {
        found: node.peers,
        announce: async (networkId, servicePort) => service.announce(networkId, servicePort),
        withdraw: async (networkId) => {
          service.withdraw(networkId);
        },
        lookup: async (networkId) => {
          service.lookup(networkId);
        },
        badInputCount: () => badInputOf(service),
        stop: () => service.stop(),
      };
      services.set(handle, service);
      return handle;
    },
    hostile: [
      {
        name: 'malformed datagrams (random bytes, wrong type, version, length)',
        deliver: (target) =>
          counted(target, async () => {
            const attacker = await raw();
            for (let i = 0; i < 200; i += 1) await attacker.send(randomBytes(i % 100), port);
            await attacker.send(Buffer.from([5, 9, 0]), port);
            await attacker.send(Buffer.from([6, 1, 0, 0]), services.get(target)!.addresses().sender4!);
          }),
      },
      {
        name: 'spoofed response with a bad HMAC',
        async deliver(target, networkId) {
          const { msg, senderPort } = await sniffQuery(target, networkId);
          const challenge = decodePacket(msg).challenge;
          const service = services.get(target)!;
          const before = service.stats.badMacs;
          const attacker = await raw();
          await attacker.send(encodeResponse(deriveLanKey(randomBytes(20)), { servicePort: 1234, challenge }), senderPort);
          await waitFor(() => service.stats.badMacs > before, 'the spoofed response to be counted');
        },
      },
      {
        name: 'replayed query',
        async deliver(target, networkId) {
          const service = services.get(target)!;
          const query = encodeQuery(deriveLanKey(networkId), { timestamp: Date.now(), challenge: randomBytes(32) });
          const member = await raw();
          // Broadcast, as a real querier does: every node sharing the port hears it.
          await member.send(query, port, '127.255.255.255');
          await waitFor(() => member.heard.length >= 1, 'the first answer');
          const before = service.stats.replays;
          await member.send(query, port, '127.255.255.255');
          await waitFor(() => service.stats.replays > before, 'the replay to be counted');
        },
      },
    ],
    async close() {
      await Promise.all([...services.values()].map((s) => s.stop()));
      await Promise.all(raws.splice(0).map((r) => r.close()));
    },
  };
}
