import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, resolveConfig } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { makeTempDir } from '../helpers/temp-dir.js';

function expectConfigError(fn: () => unknown, code: string, ...fragments: string[]): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a ConfigError').to.be.instanceOf(ConfigError);
  expect((thrown as ConfigError).code).to.equal(code);
  for (const fragment of fragments) expect((thrown as Error).message).to.contain(fragment);
}

describe('config', () => {
  let temp: ReturnType<typeof makeTempDir>;
  beforeEach(() => (temp = makeTempDir()));
  afterEach(() => temp.cleanup());

  it('uses the embedded default on a fresh machine, under $BITCHAT_HOME', () => {
    const config = loadConfig({ env: { BITCHAT_HOME: temp.path } });
    expect(config.source).to.equal(null);
    expect(config.dataDir).to.equal(temp.path);
    expect(config.profile).to.equal(join(temp.path, 'default.profile'));
    expect(config.listen).to.deep.equal({ host: '0.0.0.0', port: 0 });
    expect(config.logLevel).to.equal('info');
    expect(Object.keys(config.plugins)).to.deep.equal(['dht', 'trackers', 'lan-discovery', 'relay', 'file-share', 'http-ui']);
  });

  it('reads $BITCHAT_HOME/config.json and resolves relative paths against its folder', () => {
    writeFileSync(join(temp.path, 'config.json'), JSON.stringify({ dataDir: 'data', profile: 'me.profile', plugins: { './p.js': {}, dht: false } }));
    const config = loadConfig({ env: { BITCHAT_HOME: temp.path } });
    expect(config.source).to.equal(join(temp.path, 'config.json'));
    expect(config.dataDir).to.equal(join(temp.path, 'data'));
    expect(config.profile).to.equal(join(temp.path, 'me.profile'));
    expect(config.plugins).to.deep.equal({ './p.js': {}, dht: false });
  });

  it('prefers --config over $BITCHAT_HOME', () => {
    mkdirSync(join(temp.path, 'other'));
    const file = join(temp.path, 'other', 'node.json');
    writeFileSync(file, JSON.stringify({ logLevel: 'debug' }));
    writeFileSync(join(temp.path, 'config.json'), JSON.stringify({ logLevel: 'warn' }));
    expect(loadConfig({ configPath: file, env: { BITCHAT_HOME: temp.path } }).logLevel).to.equal('debug');
  });

  it('a relay-only config has no profile', () => {
    const config = resolveConfig({ plugins: { dht: {}, relay: { serve: true } } }, null);
    expect(config.profile).to.equal(null);
  });

  it('an explicit --config that does not exist is an error naming the file', () => {
    expectConfigError(() => loadConfig({ configPath: join(temp.path, 'missing.json') }), 'ERR_CONFIG_NOT_FOUND', 'missing.json');
  });

  it('bad JSON names the file, line and column', () => {
    const file = join(temp.path, 'config.json');
    writeFileSync(file, '{\n  "logLevel": "info",\n}\n');
    expectConfigError(() => loadConfig({ configPath: file }), 'ERR_CONFIG_NOT_JSON', file, 'line 3');
  });

  it('names the file, key path, what was expected and what was found', () => {
    const file = join(temp.path, 'config.json');
    writeFileSync(file, JSON.stringify({ listen: { port: '80' }, logLevel: 'loud', plugins: { dht: 3 } }));
    expectConfigError(
      () => loadConfig({ configPath: file }),
      'ERR_CONFIG_INVALID',
      file,
      'at "listen.port": expected integer, found string "80"',
      'at "logLevel": expected one of',
      'found string "loud"',
      'at "plugins.dht": expected an object, false or true, found number 3',
    );
  });

  it('rejects unknown keys, at any depth', () => {
    expectConfigError(() => resolveConfig({ listn: {} }, '/x/config.json'), 'ERR_CONFIG_INVALID', 'unknown key "listn"');
    expectConfigError(() => resolveConfig({ listen: { hots: 'a' } }, '/x/config.json'), 'ERR_CONFIG_INVALID', 'unknown key "listen.hots"', 'host, port');
  });

  it('rejects out-of-range ports', () => {
    expectConfigError(() => resolveConfig({ listen: { port: 70000 } }, null), 'ERR_CONFIG_INVALID', 'listen.port');
  });

  it('does not modify the object it is given', () => {
    const raw = { plugins: {} };
    resolveConfig(raw, null);
    expect(raw).to.deep.equal({ plugins: {} });
  });
});
