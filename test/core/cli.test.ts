import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../core/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { spawnBitchat } from '../helpers/bitchat-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'hook-logger', 'index.ts');
/** The same plugin as `npm install` builds it, for the real executable (plain Node, no TypeScript loader). */
const EXAMPLE_BUILT = join(ROOT, 'dist', 'examples', 'hook-logger', 'index.js');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('cli', () => {
  let temp: ReturnType<typeof makeTempDir>;
  beforeEach(() => (temp = makeTempDir()));
  afterEach(() => temp.cleanup());

  const writeConfig = (config: unknown): string => {
    const file = join(temp.path, 'config.json');
    writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
    return file;
  };

  it('bitchat --help lists the commands', async () => {
    const result = await spawnBitchat(['--help'], { BITCHAT_HOME: temp.path });
    expect(result.code).to.equal(0);
    for (const command of ['start', 'plugins', 'config']) expect(result.out).to.match(new RegExp(`bitchat ${command}`));
  });

  it('config check accepts a good config and reports a bad one readably', async () => {
    const good = await run(['--config', writeConfig({ profile: null, plugins: { [EXAMPLE]: { prefix: '>' } } }), 'config', 'check']);
    expect(good.code).to.equal(0);
    expect(good.out).to.contain('ok:').and.contain('(1 plugin)');

    const file = writeConfig({ listen: { port: -1 }, plugins: { [EXAMPLE]: { prefix: 7 } } });
    const bad = await run(['--config', file, 'config', 'check']);
    expect(bad.code).to.equal(1);
    expect(bad.err).to.contain(file).and.contain('"listen.port"').and.contain('[ERR_CONFIG_INVALID]');

    const badOptions = await run(['--config', writeConfig({ plugins: { [EXAMPLE]: { prefix: 7 } } }), 'config', 'check']);
    expect(badOptions.code).to.equal(1);
    expect(badOptions.err).to.contain('.prefix').and.contain('expected string, found number 7').and.contain('ERR_PLUGIN_OPTIONS_INVALID');
  });

  it('the embedded default config passes config check with its built-in plugins', async () => {
    const previous = process.env.BITCHAT_HOME;
    process.env.BITCHAT_HOME = temp.path;
    try {
      const result = await run(['config', 'check']);
      expect(result.code, result.err).to.equal(0);
      expect(result.out).to.contain('embedded default config (6 plugins)');
    } finally {
      if (previous === undefined) delete process.env.BITCHAT_HOME;
      else process.env.BITCHAT_HOME = previous;
    }
  });

  it('bitchat plugins says what loaded, what did not and why, and what each taps', async () => {
    const file = writeConfig({ plugins: { [EXAMPLE]: {}, 'file-share': false, './missing.js': {} } });
    const result = await run(['--config', file, 'plugins']);
    expect(result.code).to.equal(0);
    expect(result.out).to.match(/loaded\s+hook-logger@1\.0\.0/);
    expect(result.out).to.contain('taps: start, stop, peerDiscovered, connection');
    expect(result.out).to.match(/disabled\s+file-share/);
    expect(result.out).to.match(/failed\s+\.\/missing\.js/).and.contain('ERR_PLUGIN_NOT_FOUND');
  });

  it('an unknown command is a usage error', async () => {
    const result = await run(['frobnicate']);
    expect(result.code).to.equal(2);
    expect(result.err).to.contain('Unknown argument: frobnicate');
  });

  it('a node without a profile starts, loads the example plugin by path, and stops cleanly on Ctrl-C', async () => {
    const file = writeConfig({ dataDir: 'data', profile: null, listen: { host: '127.0.0.1', port: 0 }, plugins: { [EXAMPLE_BUILT]: { prefix: '[t]' } } });
    const result = await spawnBitchat(['start', '--config', file, '--log-level', 'info'], {}, /Press Ctrl-C/);
    expect(result.code, result.err).to.equal(0);
    expect(result.out).to.contain('plugins: hook-logger');
    expect(result.out).to.contain('stopping');
    expect(result.err).to.contain('[t] node started').and.contain('[t] node stopping');
  });
});
