import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../../core/cli.js';
import { hasCode } from '../../../core/errors.js';
import { saveProfile } from '../../../core/identity/profile.js';
import { runFiles, runShare } from '../../../plugins/file-share/index.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { testProfile } from '../../helpers/testnet.js';

const PASSWORD = 'file-share cli password';

describe('bitchat share / files (file-share plugin commands)', function () {
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
    await runShare({ config, file, chat: 'photo club' }, io(shared));
    expect(shared[0]).to.match(/^shared holiday\.jpg \(0\.1 MiB, 2 blocks\) into "photo club"$/);
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
});
