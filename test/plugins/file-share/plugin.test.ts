import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kernel } from '../../../core/kernel.js';
import { hasCode } from '../../../core/errors.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import fileSharePlugin, { FileShareService, resolveDownloadDir } from '../../../plugins/file-share/index.js';
import { linkEngines, type Linkable, type TcpLinkPair } from './helpers/tcp-links.js';

describe('file-share plugin', function () {
  this.timeout(20_000);
  let dir: ReturnType<typeof makeTempDir>;
  let kernels: Kernel[];
  let links: TcpLinkPair[];

  beforeEach(() => {
    dir = makeTempDir('fs-plugin-');
    kernels = [];
    links = [];
  });
  afterEach(async () => {
    for (const l of links) l.close();
    for (const k of kernels) await k.stop().catch(() => undefined);
    dir.cleanup();
  });

  async function kernel(id: string, options: Record<string, unknown> = {}): Promise<Kernel> {
    const k = await createTestKernel(testConfig(join(dir.path, id)), [{ definition: fileSharePlugin, options: { selfId: id, ...options } }]);
    kernels.push(k);
    return k;
  }

  /** The chat wiring's part (ChatLinks): links to the service and feeds it the messages. */
  function viaService(k: Kernel, id: string): Linkable {
    const service = k.resolve('fileShare');
    return {
      selfId: id,
      addPeer: (link) => service.attachPeer(link),
      handleMessage: (peerId, m) => service.handleMessage(peerId, m),
    };
  }

  it('registers its message types, migrations and the fileShare service, with option defaults', async () => {
    const k = await kernel('a');
    const service = k.resolve('fileShare');
    expect(service).to.be.instanceOf(FileShareService);
    expect(() => service.list()).to.throw().with.property('code', 'ERR_FILE_SHARE_BAD_STATE');
    const types: number[] = [];
    k.hooks.registerMessageTypes.call({ register: (t) => types.push(t) });
    expect(types).to.deep.equal([10, 11, 12, 14, 15, 16]);
    await k.start();
    expect(service.list()).to.deep.equal([]);
    const tables = k.storage.db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'file_share_%' ORDER BY name").all();
    expect(tables).to.deep.equal([{ name: 'file_share_chats' }, { name: 'file_share_files' }]);
    expect(resolveDownloadDir('downloads', '/data')).to.equal('/data/downloads');
    expect(resolveDownloadDir('/x/y', '/data')).to.equal('/x/y');
  });

  it('refuses bad options with a config error', async () => {
    const err = await createTestKernel(testConfig(join(dir.path, 'bad')), [{ definition: fileSharePlugin, options: { pipeline: 0 } }]).catch((e: unknown) => e);
    expect(hasCode(err, 'ERR_PLUGIN_OPTIONS_INVALID')).to.equal(true);
    expect((err as Error).message).to.include('pipeline');
  });

  it('two kernels share a file through the service, with events', async () => {
    const alice = await kernel('alice');
    const bob = await kernel('bob', { autoDownload: true });
    await alice.start();
    await bob.start();
    links.push(await linkEngines(viaService(alice, 'alice'), viaService(bob, 'bob')));
    const data = randomBytes(300_000);
    const path = join(dir.path, 'notes.txt');
    writeFileSync(path, data);
    const bobShare = bob.resolve('fileShare');
    const done = new Promise<string>((resolve) => bobShare.once('complete', (info) => resolve(info.path!)));
    const info = await alice.resolve('fileShare').share(path, 'group:friends');
    expect(alice.resolve('fileShare').chatsOf(info.fileId)).to.deep.equal(['group:friends']);
    const out = await done;
    expect(createHash('sha256').update(readFileSync(out)).digest().equals(createHash('sha256').update(data).digest())).to.equal(true);
    expect(out.startsWith(join(dir.path, 'bob', 'downloads'))).to.equal(true);
    expect(bobShare.list()[0]).to.include({ state: 'done', name: 'notes.txt', mimeType: 'text/plain' });
    expect(alice.resolve('fileShare').stats.uploadedBytes).to.equal(data.length);
  });
});
