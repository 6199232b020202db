import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient, controlSocketPath } from '../../../core/control/index.js';
import { hasCode } from '../../../core/errors.js';
import fileSharePlugin, { runDownload, runFileAction, runFiles, runShare, type FileInfo } from '../../../plugins/file-share/index.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Testnet, waitFor, type TestPeer } from '../../helpers/testnet.js';

const FILE_SIZE = 3 * 64 * 1024 + 777;
const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

describe('bitchat share / files beside a running node (files.* control methods)', function () {
  this.timeout(60_000);
  let net: Testnet | undefined;
  const dir = makeTempDir('fs-control-');
  const savedPassword = process.env['BITCHAT_PASSWORD'];

  after(async () => {
    await net?.stop();
    dir.cleanup();
    if (savedPassword !== undefined) process.env['BITCHAT_PASSWORD'] = savedPassword;
  });

  /** A config file naming only the node's data folder: the CLI finds the node's socket there. */
  const configOf = (p: TestPeer, name: string): string => {
    const file = join(dir.path, `${name}.json`);
    writeFileSync(file, JSON.stringify({ dataDir: p.dataDir, profile: null, logLevel: 'silent', plugins: {} }));
    return file;
  };
  const io = (lines: string[], progress: string[] = []) => ({
    out: (l: string) => lines.push(l),
    untilStopped: async () => undefined,
    progress: { isTTY: false, write: (t: string) => progress.push(t) },
  });

  it('shares through one node\'s socket and downloads through the other\'s, with progress; no password asked', async () => {
    net = new Testnet();
    net.extraPlugins = () => [{ definition: fileSharePlugin, options: {} }];
    const [alice, bob] = [await net.addPeer('alice@test.local', 0), await net.addPeer('bob@test.local', 1)];
    for (const p of [alice, bob]) await p.chat.createGroup('shelf', 'books');
    await waitFor(() => [alice, bob].every((p) => p.chat.members(p.chat.list()[0]!.chatId).some((m) => m.online)), 'mesh');
    delete process.env['BITCHAT_PASSWORD'];

    const content = randomBytes(FILE_SIZE);
    const source = join(dir.path, 'novel.txt');
    writeFileSync(source, content);
    const shared: string[] = [];
    await runShare({ config: configOf(alice, 'alice'), file: source, chat: 'Shelf' }, io(shared));
    expect(shared[0]).to.match(/^shared novel\.txt \(0\.2 MiB, 4 blocks\) into "Shelf"$/);
    expect(shared.at(-1)).to.equal('the running node seeds it.');
    const fileId = shared[1]!.slice('file id '.length);

    const bobConfig = configOf(bob, 'bob');
    await waitFor(() => bob.kernel.resolve('fileShare').list().some((f: FileInfo) => f.fileId === fileId), 'advertisement at bob');
    const listed: string[] = [];
    await runFiles({ config: bobConfig }, io(listed));
    expect(listed).to.have.length(1);
    expect(listed[0]).to.match(new RegExp(`^${fileId.slice(0, 16)} .* novel\\.txt$`));

    const out: string[] = [];
    const progress: string[] = [];
    await runDownload({ config: bobConfig, id: fileId.slice(0, 12) }, { ...io(out, progress), untilStopped: () => new Promise(() => undefined) });
    const done = out[0]!.match(/^downloaded novel\.txt to (.+)$/);
    expect(done, out.join('\n')).to.not.equal(null);
    expect(sha256(readFileSync(done![1]!))).to.equal(sha256(content));
    expect(progress.at(-1)).to.match(/100%/);

    // The running node answers the rest too, and its errors cross the socket with their codes.
    const cancelled: string[] = [];
    await runFileAction({ config: configOf(alice, 'alice'), id: fileId }, 'cancel', io(cancelled));
    expect(cancelled[0]).to.match(/ cancelled /);
    const unknown = await runFileAction({ config: bobConfig, id: 'abcdef' }, 'pause', io([])).then(() => undefined, (e: unknown) => e);
    expect(hasCode(unknown, 'ERR_FILE_SHARE_UNKNOWN_FILE')).to.equal(true);
  });

  it('refuses a relative path and malformed IDs over the socket', async () => {
    const alice = net!.peers[0]!;
    const client = (await ControlClient.connect(controlSocketPath(alice.dataDir)))!;
    try {
      const relative = await client.call('files.share', { path: 'novel.txt', chat: 'shelf' }).then(() => undefined, (e: unknown) => e);
      expect(hasCode(relative, 'ERR_FILE_SHARE_BAD_PATH')).to.equal(true);
      for (const id of ['', 'xyz', '1'.repeat(65)]) {
        const bad = await client.call('files.download', { id }).then(() => undefined, (e: unknown) => e);
        expect(hasCode(bad, 'ERR_CONTROL_BAD_PARAMS'), id).to.equal(true);
      }
    } finally {
      client.close();
    }
  });
});
