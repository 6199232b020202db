import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Kernel } from '../../../core/kernel.js';
import type { Endpoint, NetworkId } from '../../../core/types.js';
import { loadPlugin } from '../../../core/plugin-loader.js';
import { PUBLIC_TRACKERS } from '../../../plugins/trackers/constants.js';
import { waitFor } from '../../compliance/discovery.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { startLocalTracker, type LocalTracker } from '../../helpers/local-tracker.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

describe('plugins/trackers through the kernel', function () {
  let tracker: LocalTracker;
  const kernels: Kernel[] = [];
  const dirs: Array<{ cleanup(): void }> = [];

  async function node(options: Record<string, unknown>): Promise<{ kernel: Kernel; seen: Array<{ networkId: NetworkId; endpoint: Endpoint; source: string }> }> {
    const dir = makeTempDir('bitchat-trackers-');
    dirs.push(dir);
    const kernel = await createTestKernel(testConfig(dir.path, { plugins: { trackers: { allowPrivateAddresses: true, ...options } } }));
    kernels.push(kernel);
    const seen: Array<{ networkId: NetworkId; endpoint: Endpoint; source: string }> = [];
    kernel.hooks.peerDiscovered.tap('test', (networkId, endpoint, source) => seen.push({ networkId, endpoint, source }));
    await kernel.start();
    return { kernel, seen };
  }

  beforeEach(async () => {
    tracker = await startLocalTracker();
  });

  afterEach(async () => {
    for (const k of kernels.splice(0)) await k.stop().catch(() => {});
    await tracker.close();
    for (const d of dirs.splice(0)) d.cleanup();
  });

  it('has public trackers only as schema defaults, and rejects unknown or websocket options', async () => {
    const loaded = await loadPlugin('trackers', {}, process.cwd());
    expect(loaded.options.announce).to.deep.equal(PUBLIC_TRACKERS);
    expect(loaded.options.honourMinInterval).to.equal(true);
    for (const bad of [{ anounce: [] }, { announce: ['wss://tracker.example'] }, { networks: { nothex: [] } }]) {
      let code = '';
      await loadPlugin('trackers', bad, process.cwd()).catch((e: { code: string }) => (code = e.code));
      expect(code, JSON.stringify(bad)).to.match(/^ERR_/);
    }
  });

  it('announce hook -> peerDiscovered with source "trackers"; withdraw hook sends stopped', async () => {
    const net = randomBytes(20);
    const a = await node({ announce: [tracker.udpUrl] });
    // b uses a per-network list from config rather than the default.
    const b = await node({ announce: [], networks: { [net.toString('hex')]: [tracker.httpUrl] } });
    await a.kernel.hooks.announce.promise({ networkId: net, port: 4301 });
    await waitFor(() => a.kernel.resolve('trackers').stats.responses > 0, 'a announced');
    await b.kernel.hooks.announce.promise({ networkId: net, port: 4302 });
    await waitFor(() => b.seen.some((s) => s.endpoint.port === 4301), 'b to discover a');
    expect(b.seen[0]!.source).to.equal('trackers');

    await a.kernel.hooks.withdraw.promise(net);
    const c = await node({ announce: [tracker.httpUrl] });
    await c.kernel.hooks.announce.promise({ networkId: net, port: 4303 });
    await waitFor(() => c.seen.some((s) => s.endpoint.port === 4302), 'c to discover b');
    expect(c.seen.some((s) => s.endpoint.port === 4301)).to.equal(false);
  });
});
