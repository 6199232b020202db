import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../../core/cli.js';
import { saveProfile } from '../../../core/identity/profile.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { testProfile } from '../../helpers/testnet.js';

const PASSWORD = 'cli test password';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('bitchat join / send / history', function () {
  this.timeout(30_000);
  const dir = makeTempDir('bitchat-chat-cli-');
  const saved = process.env['BITCHAT_PASSWORD'];

  before(async () => {
    const profile = await testProfile('cli@test.local', 0);
    await saveProfile(join(dir.path, 'me.profile'), profile, PASSWORD);
    writeFileSync(
      join(dir.path, 'config.json'),
      JSON.stringify({ dataDir: dir.path, profile: join(dir.path, 'me.profile'), listen: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', plugins: {} }),
    );
    process.env['BITCHAT_PASSWORD'] = PASSWORD;
  });

  after(() => {
    if (saved === undefined) delete process.env['BITCHAT_PASSWORD'];
    else process.env['BITCHAT_PASSWORD'] = saved;
    dir.cleanup();
  });

  it('joins a group, sends to it with nobody online, and reads it back from history', async () => {
    const config = join(dir.path, 'config.json');
    const joined = await run(['--config', config, 'join', 'Garden Club', '--secret', 'roses', '--exit-after', '0']);
    expect(joined.code, joined.err).to.equal(0);
    expect(joined.out).to.match(/in "Garden Club" on port \d+/);

    const sent = await run(['--config', config, 'send', 'garden club', 'first bloom', '--wait', '0']);
    expect(sent.code, sent.err).to.equal(0);
    expect(sent.out).to.match(/^sent/m);

    const history = await run(['--config', config, 'history', 'Garden Club']);
    expect(history.code, history.err).to.equal(0);
    expect(history.out).to.match(/cli@test\.local: first bloom$/);

    const unknown = await run(['--config', config, 'history', 'no such chat']);
    expect(unknown.code).to.equal(1);
    expect(unknown.err).to.include('ERR_NODE_UNKNOWN_CHAT');
  });

  it('refuses a wrong password', async () => {
    process.env['BITCHAT_PASSWORD'] = 'not it';
    try {
      const r = await run(['--config', join(dir.path, 'config.json'), 'history', 'Garden Club']);
      expect(r.code).to.equal(1);
    } finally {
      process.env['BITCHAT_PASSWORD'] = PASSWORD;
    }
  });
});
