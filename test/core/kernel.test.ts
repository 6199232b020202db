import { expect } from 'chai';
import { PluginError } from '../../core/errors.js';
import { Kernel } from '../../core/kernel.js';
import { definePlugin, type PluginDefinition } from '../../core/plugin.js';
import { createTestKernel, testConfig } from '../helpers/kernel.js';
import { makeTempDir } from '../helpers/temp-dir.js';

async function rejection(promise: Promise<unknown>): Promise<PluginError> {
  try {
    await promise;
  } catch (err) {
    return err as PluginError;
  }
  throw new Error('expected a rejection');
}

/** A plugin that records start/stop into a shared log. */
function recorder(name: string, log: string[], requires: string[] = []): PluginDefinition {
  return definePlugin({
    name,
    version: '1.0.0',
    requires,
    apply(api) {
      api.hooks.start.tapPromise(name, async () => void log.push(`start ${name}`));
      api.hooks.stop.tapPromise(name, async () => void log.push(`stop ${name}`));
    },
  });
}

describe('kernel', () => {
  let temp: ReturnType<typeof makeTempDir>;
  const kernels: Kernel[] = [];
  const make = async (...args: Parameters<typeof createTestKernel>): Promise<Kernel> => {
    const kernel = await createTestKernel(...args);
    kernels.push(kernel);
    return kernel;
  };
  beforeEach(() => (temp = makeTempDir()));
  afterEach(async () => {
    for (const kernel of kernels.splice(0)) await kernel.stop().catch(() => {});
    temp.cleanup();
  });

  it('loads plugins in dependency order, starts in that order and stops in reverse', async () => {
    const log: string[] = [];
    const kernel = await make(testConfig(temp.path), [
      { definition: recorder('c', log, ['b']) },
      { definition: recorder('a', log) },
      { definition: recorder('b', log, ['a']) },
    ]);
    await kernel.start();
    expect(kernel.state).to.equal('running');
    await kernel.stop();
    expect(kernel.state).to.equal('stopped');
    expect(log).to.deep.equal(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it('a missing requirement fails with a typed error naming both plugins', async () => {
    const err = await rejection(make(testConfig(temp.path), [{ definition: recorder('relay', [], ['dht']) }]));
    expect(err).to.be.instanceOf(PluginError);
    expect(err.code).to.equal('ERR_PLUGIN_REQUIREMENT_MISSING');
    expect(err.plugin).to.equal('relay');
    expect(err.message).to.contain('"dht"');
  });

  it('a circular requirement fails with the cycle spelled out', async () => {
    const err = await rejection(
      make(testConfig(temp.path), [{ definition: recorder('x', [], ['y']) }, { definition: recorder('y', [], ['z']) }, { definition: recorder('z', [], ['x']) }]),
    );
    expect(err.code).to.equal('ERR_PLUGIN_CIRCULAR');
    expect(err.message).to.contain('x -> y -> z -> x');
  });

  it('an unknown plugin in the config fails start with a typed error', async () => {
    const err = await rejection(make(testConfig(temp.path, { plugins: { 'no-such-bitchat-plugin-xyz': {} } })));
    expect(err.code).to.equal('ERR_PLUGIN_NOT_FOUND');
    expect(err.plugin).to.equal('no-such-bitchat-plugin-xyz');
  });

  it('a plugin that throws in apply fails with a typed error naming it', async () => {
    const bad = definePlugin({
      name: 'explodes',
      version: '0.0.1',
      apply() {
        throw new Error('boom');
      },
    });
    const err = await rejection(make(testConfig(temp.path), [{ definition: bad }]));
    expect(err.code).to.equal('ERR_PLUGIN_APPLY_FAILED');
    expect(err.plugin).to.equal('explodes');
    expect(err.message).to.contain('boom');
  });

  it('a throw in a tap names the plugin and the hook, and start cleans up', async () => {
    const log: string[] = [];
    const bad = definePlugin({
      name: 'bad-start',
      version: '0.0.1',
      apply(api) {
        api.hooks.start.tapPromise('bad-start', async () => {
          throw new Error('port in use');
        });
      },
    });
    const kernel = await make(testConfig(temp.path), [{ definition: recorder('good', log) }, { definition: bad }]);
    const err = await rejection(kernel.start());
    expect(err).to.be.instanceOf(PluginError);
    expect(err.code).to.equal('ERR_PLUGIN_HOOK_FAILED');
    expect(err.plugin).to.equal('bad-start');
    expect(err.hook).to.equal('start');
    expect(err.message).to.contain('port in use');
    expect(log).to.deep.equal(['start good', 'stop good']);
    expect(kernel.state).to.equal('stopped');
    expect(kernel.storage.isOpen).to.equal(false);
  });

  it('stop runs every stop tap even when one fails, then reports the failure', async () => {
    const log: string[] = [];
    const bad = definePlugin({
      name: 'bad-stop',
      version: '0.0.1',
      apply(api) {
        api.hooks.stop.tapPromise('bad-stop', async () => {
          throw new Error('stuck');
        });
      },
    });
    const kernel = await make(testConfig(temp.path), [{ definition: recorder('first', log) }, { definition: bad }]);
    await kernel.start();
    const err = await rejection(kernel.stop());
    expect(err.code).to.equal('ERR_PLUGIN_HOOK_FAILED');
    expect(err.hook).to.equal('stop');
    expect(log).to.deep.equal(['start first', 'stop first']);
    expect(kernel.storage.isOpen).to.equal(false);
  });

  it('plugin options are validated and defaulted by the plugin schema', async () => {
    let seen: unknown;
    const withSchema = definePlugin<{ port: number; name: string }>({
      name: 'schema-plugin',
      version: '1.0.0',
      optionsSchema: {
        type: 'object',
        additionalProperties: false,
        properties: { port: { type: 'integer', default: 41733 }, name: { type: 'string', default: 'x' } },
      },
      apply(_api, options) {
        seen = options;
      },
    });
    await make(testConfig(temp.path), [{ definition: withSchema, options: { name: 'y' } }]);
    expect(seen).to.deep.equal({ port: 41733, name: 'y' });
    const err = await rejection(make(testConfig(temp.path), [{ definition: withSchema, options: { port: 'high', extra: 1 } }]));
    expect(err.code).to.equal('ERR_PLUGIN_OPTIONS_INVALID');
    expect(err.message).to.contain('expected integer, found string "high"');
    expect(err.message).to.contain('unknown key');
  });

  it('services registered by one plugin resolve in another; a missing one is a typed error', async () => {
    let got: unknown;
    const provider = definePlugin({ name: 'provider', version: '1.0.0', apply: (api) => api.register('answer', 42) });
    const consumer = definePlugin({
      name: 'consumer',
      version: '1.0.0',
      requires: ['provider'],
      apply(api) {
        got = api.resolve('answer');
        expect(api.tryResolve('nothing-here')).to.equal(undefined);
        expect(() => api.resolve('nothing-here')).to.throw().with.property('code', 'ERR_SERVICE_NOT_REGISTERED');
        expect(() => api.register('answer', 1)).to.throw().with.property('code', 'ERR_SERVICE_DUPLICATE');
      },
    });
    const kernel = await make(testConfig(temp.path), [{ definition: consumer }, { definition: provider }]);
    expect(got).to.equal(42);
    expect(kernel.resolve('storage')).to.equal(kernel.storage);
  });

  it('plugins can tap but not call hooks', async () => {
    let hooks: Record<string, unknown> = {};
    const peeker = definePlugin({ name: 'peeker', version: '1.0.0', apply: (api) => void (hooks = api.hooks as never) });
    await make(testConfig(temp.path), [{ definition: peeker }]);
    const start = hooks.start as Record<string, unknown>;
    expect(start.tapPromise).to.be.a('function');
    expect(start.promise).to.equal(undefined);
    expect(start.call).to.equal(undefined);
    expect(Object.isFrozen(hooks)).to.equal(true);
  });

  it('reportPeer reaches peerDiscovered taps, and a throwing observer does not break the reporter', async () => {
    const seen: string[] = [];
    const reporter = definePlugin({
      name: 'reporter',
      version: '1.0.0',
      apply(api) {
        api.hooks.start.tapPromise('reporter', async () => api.reportPeer(Buffer.alloc(20, 1), { host: '127.0.0.1', port: 9 }, 'test'));
      },
    });
    const observer = definePlugin({
      name: 'observer',
      version: '1.0.0',
      apply(api) {
        api.hooks.peerDiscovered.tap('observer', (_id, endpoint, source) => void seen.push(`${endpoint.host}:${endpoint.port} via ${source}`));
        api.hooks.peerDiscovered.tap('observer', () => {
          throw new Error('observer bug');
        });
      },
    });
    const kernel = await make(testConfig(temp.path), [{ definition: observer }, { definition: reporter }]);
    await kernel.start();
    expect(seen).to.deep.equal(['127.0.0.1:9 via test']);
  });

  it('migrations registered through the hook are applied at start', async () => {
    const migrating = definePlugin({
      name: 'migrating',
      version: '1.0.0',
      apply(api) {
        api.hooks.migrations.tap('migrating', (registry) =>
          registry.add({ owner: 'migrating', id: '001', up: (db) => db.exec('CREATE TABLE migrating_things (x)') }),
        );
      },
    });
    const kernel = await make(testConfig(temp.path), [{ definition: migrating }]);
    await kernel.start();
    expect(kernel.storage.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'migrating_things'").get()).to.deep.equal({ n: 1 });
  });

  it('several kernels live in one process', async () => {
    const a = await make(testConfig(`${temp.path}/a`), [{ definition: recorder('p', []) }]);
    const b = await make(testConfig(`${temp.path}/b`), [{ definition: recorder('p', []) }]);
    await Promise.all([a.start(), b.start()]);
    expect(a.hooks).not.to.equal(b.hooks);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('a node without a profile (relay-only shape) starts and stops', async () => {
    const kernel = await make(testConfig(temp.path, { profile: null }));
    expect(kernel.config.profile).to.equal(null);
    await kernel.start();
    await kernel.stop();
  });
});
