import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import { Kernel } from '../../core/kernel.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/plugins/', import.meta.url));

/** Counts of libuv handles and requests by type (sockets, servers, timers, files...). */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

describe('kernel lifecycle', () => {
  let temp: ReturnType<typeof makeTempDir>;
  beforeEach(() => (temp = makeTempDir()));
  afterEach(() => temp.cleanup());

  it('after stop no socket, timer or database handle is left', async () => {
    const file = join(temp.path, 'config.json');
    writeFileSync(file, JSON.stringify({ dataDir: 'data', plugins: { [join(FIXTURES, 'tcp-echo.ts')]: {} } }));
    const create = (): Promise<Kernel> => Kernel.create({ config: loadConfig({ configPath: file }), logger: createLogger('silent') });
    // The first import of a plugin file may leave loader timers (tsx) behind; measure a second node.
    await (await create()).stop();
    const before = resources();
    const kernel = await create();
    await kernel.start();
    const running = resources();
    expect(running.TCPServerWrap ?? 0, 'the plugin server is open while running').to.equal((before.TCPServerWrap ?? 0) + 1);
    expect(running.Timeout ?? 0).to.be.greaterThan(before.Timeout ?? 0);
    expect(kernel.storage.isOpen).to.equal(true);
    await kernel.stop();
    // A closed handle leaves the list once libuv has run its close callback: poll briefly.
    for (let i = 0; i < 50 && JSON.stringify(resources()) !== JSON.stringify(before); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(resources()).to.deep.equal(before);
    expect(kernel.storage.isOpen).to.equal(false);
  });
});
