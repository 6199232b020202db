import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../../core/cli.js';
import { hasCode } from '../../../core/errors.js';
import { saveProfile } from '../../../core/identity/profile.js';
import { DATABASE_FILE_NAME, Storage } from '../../../core/storage.js';
import { hashFile } from '../../../plugins/file-share/hasher.js';
import { runDownload, runFileAction, runFiles, runShare } from '../../../plugins/file-share/index.js';
import { FILE_SHARE_MIGRATIONS, FileShareStore } from '../../../plugins/file-share/store.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { testProfile } from '../../helpers/testnet.js';

const PASSWORD = 'file-share cli password';

describe('bitchat share / files [download|pause|resume|cancel] (file-share plugin commands)', function () {
  this.timeout(30_000);
  const dir = makeTempDir('bitchat-fs-cli-');
  const saved = process.env['BITCHAT_PASSWORD'];
  const config = join(dir.path, 'config.json');
  const io = (lines: string[]) => ({ out: (l: string) => lines.push(l), untilStopped: async () => undefined });

  before(async () => {
    const profile = await testProfile('share-cli@test.local', 0);
    await saveProfile(join(dir.path, 'me.profile'), profile, PASSWORD);
    writeFileSync(
      config,
      JSON.stringify({ dataDir: dir.path, profile: join(dir.path, 'me.profile'), listen: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', plugins: { 'file-share': {} } }),
    );
    process.env['BITCHAT_PASSWORD'] = PASSWORD;
  });

  after(() => {
    if (saved === undefined) delete process.env['BITCHAT_PASSWORD'];
    else process.env['BITCHAT_PASSWORD'] = saved;
    dir.cleanup();
  });

  it('shares a file into a joined group, then lists it (offline) with its state', async () => {
    const joined = await main(['--config', config, 'join', 'Photo Club', '--secret', 'lens', '--exit-after', '0'], { out: () => undefined, err: () => undefined });
    expect(joined).to.equal(0);
    const file = join(dir.path, 'holiday.jpg');
    writeFileSync(file, randomBytes(100_000));

    const shared: string[] = [];
    const hashing: string[] = [];
    await runShare({ config, file, chat: 'photo club' }, { ...io(shared), progress: { isTTY: true, columns: 120, write: (t: string) => hashing.push(t) } });
    expect(shared[0]).to.match(/^shared holiday\.jpg \(0\.1 MiB, 2 blocks\) into "photo club"$/);
    // The hashing progress: one redrawn terminal line, ended once done.
    expect(hashing[0]).to.match(/^\rhashing holiday\.jpg \[#+\] 100% {2}97\.7 KiB\/97\.7 KiB .* {2}done\x1b\[K$/);
    expect(hashing.at(-1)).to.equal('\n');
    expect(shared[1]).to.match(/^file id [0-9a-f]{64}$/);

    const listed: string[] = [];
    await runFiles({ config }, io(listed));
    expect(listed).to.have.length(1);
    expect(listed[0]).to.match(/^[0-9a-f]{16} {2}done {7}100% .* holiday\.jpg$/);
    expect(shared[1]!.slice(8, 24)).to.equal(listed[0]!.slice(0, 16));
  });

  it('refuses a chat that was not joined', async () => {
    const file = join(dir.path, 'other.txt');
    writeFileSync(file, 'x');
    const err = await runShare({ config, file, chat: 'nowhere' }, io([])).then(() => undefined, (e: unknown) => e);
    expect(hasCode(err, 'ERR_FILE_SHARE_UNKNOWN_CHAT')).to.equal(true);
  });

  it('resumes, pauses and cancels a download by ID prefix (offline), and downloads with a progress bar until stopped', async () => {
    // A file another member advertised, as the node's store holds it (paused, nothing fetched yet).
    const remote = join(dir.path, 'remote-film.mkv');
    writeFileSync(remote, randomBytes(200_000));
    const hashed = await hashFile(remote);
    const storage = new Storage(join(dir.path, DATABASE_FILE_NAME));
    storage.open();
    try {
      storage.migrate(FILE_SHARE_MIGRATIONS);
      new FileShareStore(storage.db).put({
        fileId: hashed.fileId, advertisement: hashed.advertisement, name: 'remote-film.mkv', size: 200_000, state: 'paused',
        origin: 'remote', path: null, partPath: null, bitmap: Buffer.alloc(0), error: null,
      });
    } finally {
      storage.close();
    }
    const id = hashed.fileId.toString('hex').slice(0, 10);

    const lines: string[] = [];
    await runFileAction({ config, id }, 'resume', io(lines));
    expect(lines.pop()).to.match(/^[0-9a-f]{16} {2}active {5} {2}0% .* remote-film\.mkv$/);
    // Through the real command line: `bitchat files pause <prefix>`.
    expect(await main(['--config', config, 'files', 'pause', id], { out: () => undefined, err: () => undefined })).to.equal(0);
    await runFiles({ config }, io(lines));
    expect(lines.find((l) => l.endsWith('remote-film.mkv'))).to.match(/ paused /);

    // Nobody online has it: the download shows progress and stops when told to, for later.
    const progress: string[] = [];
    const out: string[] = [];
    await runDownload({ config, id }, { ...io(out), progress: { isTTY: false, write: (t: string) => progress.push(t) } });
    expect(out).to.deep.equal(['stopped at 0/4 blocks; the download goes on when the node runs again']);
    expect(progress[0]).to.match(/^remote-film\.mkv .*0% {2}0 B\/195\.3 KiB {2}0 B\/s {2}0 peers {2}ETA --:--\n$/);

    await runFileAction({ config, id }, 'cancel', io(lines));
    expect(lines.pop()).to.match(/ cancelled /);
    const unknown = await runFileAction({ config, id: 'ffff' }, 'pause', io([])).then(() => undefined, (e: unknown) => e);
    expect(hasCode(unknown, 'ERR_FILE_SHARE_UNKNOWN_FILE')).to.equal(true);
  });
});
