import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Kernel } from '../../../core/kernel.js';
import type { Endpoint, NetworkId } from '../../../core/types.js';
import { loadPlugin } from '../../../core/plugin-loader.js';
import { PUBLIC_BOOTSTRAP } from '../../../plugins/dht/constants.js';
import { waitFor } from '../../compliance/discovery.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { startLocalDht, type LocalDht } from '../../helpers/local-dht.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

interface Seen {
  networkId: NetworkId;
  endpoint: Endpoint;
  source: string;
}

describe('plugins/dht through the kernel', function () {
  let testnet: LocalDht;
  const kernels: Kernel[] = [];
  const dirs: Array<{ path: string; cleanup(): void }> = [];

  async function node(dir: string, dhtOptions: Record<string, unknown>): Promise<{ kernel: Kernel; seen: Seen[] }> {
    const kernel = await createTestKernel(testConfig(dir, { plugins: { dht: { host: '127.0.0.1', allowPrivateAddresses: true, ...dhtOptions } } }));
    kernels.push(kernel);
    const seen: Seen[] = [];
    kernel.hooks.peerDiscovered.tap('test', (networkId, endpoint, source) => seen.push({ networkId, endpoint, source }));
    await kernel.start();
    return { kernel, seen };
  }

  function tempDir(): string {
    const d = makeTempDir('bitchat-dht-');
    dirs.push(d);
    return d.path;
  }

  beforeEach(async () => {
    testnet = await startLocalDht(5);
  });

  afterEach(async () => {
    for (const k of kernels.splice(0)) await k.stop().catch(() => {});
    await testnet.close();
    for (const d of dirs.splice(0)) d.cleanup();
  });

  it('defaults to the public routers only when the config names none (never used in tests)', async () => {
    const loaded = await loadPlugin('dht', {}, process.cwd());
    expect(loaded.options.bootstrap).to.deep.equal(PUBLIC_BOOTSTRAP);
    expect(loaded.options.allowPrivateAddresses).to.equal(false);
    let code = '';
    await loadPlugin('dht', { bootstrapp: [] }, process.cwd()).catch((e: { code: string }) => (code = e.code));
    expect(code).to.match(/^ERR_/);
  });

  it('opens its socket at start, not at load, and closes it at stop', async () => {
    const udp = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
    const before = udp();
    const kernel = await createTestKernel(testConfig(tempDir(), { plugins: { dht: { host: '127.0.0.1', allowPrivateAddresses: true, bootstrap: [] } } }));
    kernels.push(kernel);
    expect(udp()).to.equal(before);
    await kernel.start();
    expect(udp()).to.equal(before + 1);
    await kernel.stop();
    await waitFor(() => udp() === before, 'the DHT socket to close', 2_000);
  });

  it('announce hook -> peerDiscovered with source "dht"; the DHT is a service', async () => {
    const a = await node(tempDir(), { bootstrap: testnet.bootstrap });
    const b = await node(tempDir(), { bootstrap: testnet.bootstrap });
    const net = randomBytes(20);
    await a.kernel.hooks.announce.promise({ networkId: net, port: 4101 });
    const dhtB = b.kernel.resolve('dht');
    await waitFor(() => a.kernel.resolve('dht').stats.announces > 0, 'a to announce');
    await b.kernel.hooks.announce.promise({ networkId: net, port: 4102 });
    await waitFor(async () => {
      if (b.seen.some((s) => s.endpoint.port === 4101)) return true;
      await dhtB.lookup(net);
      return false;
    }, 'b to discover a');
    const hit = b.seen.find((s) => s.endpoint.port === 4101)!;
    expect(hit.source).to.equal('dht');
    expect(hit.networkId.equals(net)).to.equal(true);
    expect(hit.endpoint.host).to.equal('127.0.0.1');
  });

  it('keeps the routing table in the node database and rejoins from it with no bootstrap', async () => {
    const dir = tempDir();
    const first = await node(dir, { bootstrap: testnet.bootstrap });
    const dht = first.kernel.resolve('dht');
    await dht.lookup(randomBytes(20));
    await waitFor(() => dht.nodeCount() >= 5, 'the testnet in the table');
    await first.kernel.stop();

    const again = await node(dir, { bootstrap: [] });
    const restored = again.kernel.resolve('dht');
    expect(restored.stats.nodesRestored).to.be.greaterThanOrEqual(5);
    expect(restored.nodeCount()).to.be.greaterThanOrEqual(5);
  });
});
