import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { Kernel } from '../../../core/kernel.js';
import { hasCode } from '../../../core/errors.js';
import type { Endpoint, NetworkId } from '../../../core/types.js';
import { compileSchema } from '../../../core/schema.js';
import lanDiscovery, { optionsSchema, type LanDiscovery } from '../../../plugins/lan-discovery/index.js';
import { LAN_DISCOVERY_DEFAULTS } from '../../../plugins/lan-discovery/service.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { freeUdpPort, networkIdOf, waitFor } from './helpers.js';

describe('lan-discovery plugin', () => {
  it('has an options schema whose defaults are the service defaults, and refuses unknown keys', () => {
    const validate = compileSchema(optionsSchema);
    const filled: Record<string, unknown> = {};
    expect(validate(filled)).to.equal(true);
    expect(filled).to.deep.equal({ ...LAN_DISCOVERY_DEFAULTS });
    for (const [key, value] of Object.entries(optionsSchema.properties as Record<string, { description?: string }>)) {
      expect(value.description, `${key} has a description`).to.be.a('string');
    }
    expect(validate({ prot: 1 })).to.equal(false);
    expect(validate({ port: 0 })).to.equal(false);
    expect(validate({ broadcastAddresses: ['not-an-ip'] })).to.equal(false);
    expect(validate({ broadcastAddresses: ['127.255.255.255'], ipv6: false })).to.equal(true);
    expect(lanDiscovery.name).to.equal('lan-discovery');
    expect(lanDiscovery.requires).to.deep.equal([]);
  });

  it('documents every option with its default in README.md', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../plugins/lan-discovery/README.md', import.meta.url)), 'utf8');
    for (const [key, schema] of Object.entries(optionsSchema.properties as Record<string, { default: unknown }>)) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${key}\` |`));
      expect(row, `README row for ${key}`).to.be.a('string');
      expect(row).to.include(`\`${JSON.stringify(schema.default).replace(/^"|"$/g, '')}\``);
    }
  });

  describe('loaded by the kernel as a built-in', () => {
    const temps: ReturnType<typeof makeTempDir>[] = [];
    const kernels: Kernel[] = [];

    afterEach(async () => {
      await Promise.all(kernels.splice(0).map((k) => k.stop()));
      for (const t of temps.splice(0)) t.cleanup();
    });

    async function startNode(port: number, options: Record<string, unknown> = {}): Promise<{ kernel: Kernel; found: [NetworkId, Endpoint, string][] }> {
      const temp = makeTempDir('bitchat-lan-');
      temps.push(temp);
      const config = testConfig(temp.path, {
        plugins: {
          'lan-discovery': {
            port,
            ipv6: false,
            broadcastAddresses: ['127.255.255.255'],
            loopbackOnly: true,
            interfaceCheckIntervalMs: 0,
            ...options,
          },
        },
      });
      const kernel = await createTestKernel(config);
      kernels.push(kernel);
      const found: [NetworkId, Endpoint, string][] = [];
      kernel.hooks.peerDiscovered.tap('test', (networkId, endpoint, source) => {
        found.push([networkId, endpoint, source]);
      });
      await kernel.start();
      return { kernel, found };
    }

    it('announce on one node is found by another through hooks.peerDiscovered, and withdraw stops answers', async () => {
      const port = await freeUdpPort();
      const net = networkIdOf('kernel test');
      const a = await startNode(port);
      const b = await startNode(port);
      const status = a.kernel.pluginStatus().find((p) => p.name === 'lan-discovery');
      expect(status?.state).to.equal('loaded');
      expect(status?.taps).to.include.members(['start', 'stop', 'announce', 'withdraw']);
      await a.kernel.hooks.announce.promise({ networkId: net, port: 7101 });
      await b.kernel.hooks.announce.promise({ networkId: net, port: 7102 });
      await waitFor(() => a.found.length >= 1 && b.found.length >= 1, 'peerDiscovered on both kernels');
      expect(a.found[0]![1]).to.deep.equal({ host: '127.0.0.1', port: 7102 });
      expect(a.found[0]![2]).to.equal('lan');
      expect(b.found[0]![1]).to.deep.equal({ host: '127.0.0.1', port: 7101 });
      expect(a.found[0]![0].equals(net)).to.equal(true);

      const serviceB = b.kernel.resolve<LanDiscovery>('lan-discovery');
      await b.kernel.hooks.withdraw.promise(net);
      expect(serviceB.announced()).to.deep.equal([]);
      const answered = serviceB.stats.answersSent;
      const serviceA = a.kernel.resolve<LanDiscovery>('lan-discovery');
      serviceA.lookup(net);
      await waitFor(() => serviceB.stats.queriesIgnored >= 1, 'b to ignore the withdrawn network');
      expect(serviceB.stats.answersSent).to.equal(answered);
    });

    it('rejects bad options with the kernel error naming the key', async () => {
      const temp = makeTempDir('bitchat-lan-');
      temps.push(temp);
      const config = testConfig(temp.path, { plugins: { 'lan-discovery': { port: 'x', bogus: true } } });
      let error: unknown;
      try {
        kernels.push(await createTestKernel(config));
      } catch (err) {
        error = err;
      }
      expect(hasCode(error, 'ERR_PLUGIN_OPTIONS_INVALID')).to.equal(true);
      expect(String((error as Error).message)).to.match(/bogus/).and.to.match(/port/);
    });
  });
});
