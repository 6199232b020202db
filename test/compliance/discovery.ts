/**
 * The compliance suite every discovery plugin passes (DHT, trackers, LAN).
 *
 * A plugin's test file calls `runDiscoveryCompliance(name, makeEnv)`; the env
 * starts real nodes of that plugin on loopback and wraps each in a small
 * `DiscoveryNodeHandle`. The suite then checks, the same way for every plugin:
 * announce then lookup finds the peer (and never ourselves); stop/withdraw stops
 * reporting (and, where the source supports it, unpublishes); bad input is
 * ignored and counted, never a crash; invalid network IDs are refused.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Endpoint, NetworkId } from '../../core/types.js';

export interface PeerReport {
  networkId: NetworkId;
  endpoint: Endpoint;
}

/** One started node of the plugin under test. */
export interface DiscoveryNodeHandle {
  /** Every peer the node reported so far, in order. */
  readonly found: PeerReport[];
  /** Publish that we serve `networkId` on TCP `port` (and start looking for peers). */
  announce(networkId: NetworkId, port: number): Promise<void>;
  /** Stop publishing and reporting `networkId`. */
  withdraw(networkId: NetworkId): Promise<void>;
  /** Look for peers of an announced `networkId` now (a lookup, re-announce or query). */
  lookup(networkId: NetworkId): Promise<void>;
  /** How much bad input the node ignored so far (malformed, filtered, dropped: any counter). */
  badInputCount(): number;
  /** Stop the node; everything it opened is closed. Idempotent. */
  stop(): Promise<void>;
}

/** Bad input aimed at a node; `deliver` resolves once the node has had it (or had the chance). */
export interface HostileCase {
  name: string;
  deliver(target: DiscoveryNodeHandle, networkId: NetworkId): Promise<void>;
}

export interface DiscoveryEnv {
  /** A started node, ready to announce. */
  createNode(): Promise<DiscoveryNodeHandle>;
  /** Plugin-specific bad input (malformed packets, bombs, huge peer lists...). */
  hostile: HostileCase[];
  /**
   * True when withdrawing unpublishes for everyone (a tracker "stopped"
   * event); false where records age out by themselves (mainline DHT).
   */
  withdrawUnpublishes: boolean;
  /** Stop every node and helper the env started. */
  close(): Promise<void>;
}

/** Bounded polling: at most `timeoutMs`, never a busy loop. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 8_000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < Math.ceil(timeoutMs / stepMs) + 1; i++) {
    if (await cond()) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function has(found: PeerReport[], networkId: NetworkId, port: number): boolean {
  return found.some((r) => r.networkId.equals(networkId) && r.endpoint.port === port);
}

/** Ports that look like service ports but are only labels here (nothing listens on them). */
function servicePort(): number {
  return 20_000 + randomBytes(2).readUInt16BE(0) % 40_000;
}

/** Lookup repeatedly (bounded) until `node` has reported `port` for `networkId`. */
export async function lookupUntilFound(node: DiscoveryNodeHandle, networkId: NetworkId, port: number, timeoutMs = 8_000): Promise<void> {
  await waitFor(
    async () => {
      if (has(node.found, networkId, port)) return true;
      await node.lookup(networkId);
      return has(node.found, networkId, port);
    },
    `peer on port ${port}`,
    timeoutMs,
    100,
  );
}

export function runDiscoveryCompliance(name: string, makeEnv: () => Promise<DiscoveryEnv>): void {
  describe(`discovery compliance: ${name}`, function () {
    let env: DiscoveryEnv;

    beforeEach(async () => {
      env = await makeEnv();
    });

    afterEach(async () => {
      await env?.close();
    });

    /** Two nodes announcing `net` on neighbouring ports; b has found a. */
    async function twoAnnounced(net: NetworkId): Promise<{ a: DiscoveryNodeHandle; b: DiscoveryNodeHandle; portA: number; portB: number }> {
      const a = await env.createNode();
      const b = await env.createNode();
      const portA = servicePort();
      const portB = portA + 1;
      await a.announce(net, portA);
      await b.announce(net, portB);
      await lookupUntilFound(b, net, portA);
      return { a, b, portA, portB };
    }

    it('announce then lookup finds the peer, never ourselves', async () => {
      const net = randomBytes(20);
      const { a, b, portA, portB } = await twoAnnounced(net);
      await lookupUntilFound(a, net, portB);
      expect(has(a.found, net, portA), 'a reported itself').to.equal(false);
      expect(has(b.found, net, portB), 'b reported itself').to.equal(false);
      const hosts = b.found.map((r) => r.endpoint.host);
      expect(hosts.every((h) => h === '127.0.0.1' || h === '::1'), `hosts ${hosts.join(',')}`).to.equal(true);
    });

    it('reports each peer once per network', async () => {
      const net = randomBytes(20);
      const { b, portA } = await twoAnnounced(net);
      await b.lookup(net);
      await b.lookup(net);
      expect(b.found.filter((r) => r.networkId.equals(net) && r.endpoint.port === portA)).to.have.length(1);
    });

    it('keeps networks apart', async () => {
      const net1 = randomBytes(20);
      const net2 = randomBytes(20);
      const a = await env.createNode();
      const b = await env.createNode();
      const portA = servicePort();
      await a.announce(net1, portA);
      await b.announce(net2, portA + 1);
      await b.lookup(net2);
      await b.lookup(net2);
      expect(b.found.some((r) => r.endpoint.port === portA)).to.equal(false);
    });

    it('withdraw and stop: no more reports, and unpublished where the source supports it', async () => {
      const net = randomBytes(20);
      const { a, b, portA } = await twoAnnounced(net);
      await a.withdraw(net);
      const before = a.found.length;
      // A newcomer appears after a withdrew: a must not report it.
      const c = await env.createNode();
      const portC = portA + 2;
      await c.announce(net, portC);
      await lookupUntilFound(b, net, portC);
      expect(a.found.length).to.equal(before);
      if (env.withdrawUnpublishes) {
        const d = await env.createNode();
        await d.announce(net, portA + 3);
        await lookupUntilFound(d, net, portC);
        expect(has(d.found, net, portA), 'withdrawn peer still published').to.equal(false);
      }
      await b.stop();
      await b.stop(); // idempotent
    });

    it('refuses a network ID that is not 20 bytes', async () => {
      const a = await env.createNode();
      let failure: unknown;
      try {
        await a.announce(randomBytes(19), servicePort());
      } catch (err) {
        failure = err;
      }
      expect(failure, 'announce accepted a 19-byte ID').to.be.instanceOf(Error);
      expect((failure as { code?: string }).code ?? '').to.match(/^ERR_[A-Z_]+$/);
    });

    it('ignores and counts bad input, then still works', async function () {
      if (env.hostile.length === 0) this.skip();
      const net = randomBytes(20);
      const target = await env.createNode();
      await target.announce(net, servicePort());
      for (const c of env.hostile) {
        const before = target.badInputCount();
        await c.deliver(target, net);
        expect(target.badInputCount(), `case "${c.name}" not counted`).to.be.greaterThan(before);
      }
      const peer = await env.createNode();
      const portP = servicePort();
      await peer.announce(net, portP);
      await lookupUntilFound(target, net, portP);
    });
  });
}
