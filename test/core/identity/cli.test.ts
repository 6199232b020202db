import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { main } from '../../../core/cli.js';
import { certificatesFromPem, parseCertificate } from '../../../core/identity/certificate.js';
import { loadProfile, saveProfile } from '../../../core/identity/profile.js';

describe('identity: CLI (profile and ca commands)', function () {
  let home: string;
  let saved: string | undefined;
  const lines: string[] = [];
  const errors: string[] = [];
  const io = { out: (l: string) => lines.push(l), err: (l: string) => errors.push(l) };

  async function run(...argv: string[]): Promise<number> {
    lines.length = 0;
    errors.length = 0;
    return main(argv, io);
  }

  before(function () {
    home = mkdtempSync(join(tmpdir(), 'bitchat-cli-'));
    saved = process.env['BITCHAT_HOME'];
    process.env['BITCHAT_HOME'] = home;
    writeFileSync(join(home, 'pw'), 'first password\n');
    writeFileSync(join(home, 'pw2'), 'second password\n');
  });
  after(function () {
    if (saved === undefined) delete process.env['BITCHAT_HOME'];
    else process.env['BITCHAT_HOME'] = saved;
    rmSync(home, { recursive: true, force: true });
  });

  it('profile create / show / passwd / export, with progress on stderr', async function () {
    const pw = join(home, 'pw');
    expect(await run('profile', 'create', '--name', 'Alice', '--email', 'alice@example.org', '--password-file', pw, '--bits', '2048')).to.equal(0);
    expect(errors.join('\n')).to.contain('generating RSA key').and.contain('deriving key from password');
    expect(await run('profile', 'create', '--name', 'Alice', '--email', 'alice@example.org', '--password-file', pw, '--bits', '2048')).to.equal(1);
    expect(errors.join('\n')).to.contain('ERR_PROFILE_EXISTS');
    expect(await run('profile', 'show', '--password-file', pw)).to.equal(0);
    expect(lines.join('\n')).to.match(/safety number: (\d{5} ){5}\d{5}/);
    expect(await run('profile', 'passwd', '--password-file', pw, '--new-password-file', join(home, 'pw2'))).to.equal(0);
    expect(await run('profile', 'show', '--password-file', pw)).to.equal(1);
    expect(errors.join('\n')).to.contain('ERR_PROFILE_BAD_PASSWORD');
    expect(await run('profile', 'export', '--password-file', join(home, 'pw2'))).to.equal(0);
    expect(parseCertificate(certificatesFromPem(lines.join('\n'))[0]!).email).to.equal('alice@example.org');
  });

  it('profile pins / accept-key: a changed peer key stays refused until accepted', async function () {
    const path = join(home, 'default.profile');
    const profile = await loadProfile(path, 'second password');
    profile.pins.observe('bob@example.org', 'aa'.repeat(32), 'Bob');
    profile.pins.observe('bob@example.org', 'bb'.repeat(32), 'Bob');
    await saveProfile(path, profile, 'second password');
    const pw = join(home, 'pw2');
    expect(await run('profile', 'pins', '--password-file', pw)).to.equal(0);
    expect(lines.join('\n')).to.contain('CHANGED  bob@example.org');
    expect(await run('profile', 'accept-key', 'bob@example.org', '--fingerprint', 'cc'.repeat(32), '--password-file', pw)).to.equal(1);
    expect(await run('profile', 'accept-key', 'bob@example.org', '--password-file', pw)).to.equal(0);
    expect((await loadProfile(path, 'second password')).pins.check('bob@example.org', 'bb'.repeat(32))).to.equal('match');
  });

  it('profile import-key makes a profile from an openssl key', async function () {
    const key = join(home, 'ext.pem');
    execFileSync('openssl', ['genrsa', '-out', key, '2048'], { stdio: 'ignore' });
    const path = join(home, 'imported.profile');
    expect(await run('profile', 'import-key', key, '--profile', path, '--name', 'Bob', '--email', 'bob@example.org', '--password-file', join(home, 'pw'))).to.equal(0);
    const profile = await loadProfile(path, 'first password');
    expect(profile.email).to.equal('bob@example.org');
    expect(profile.privateKey.asymmetricKeyDetails?.modulusLength).to.equal(2048);
  });

  it('ca init / issue / revoke / list', async function () {
    const dir = join(home, 'ca');
    const pp = join(home, 'pw');
    expect(await run('ca', 'init', '--dir', dir, '--name', 'CLI CA', '--smtp-host', '127.0.0.1', '--from', 'ca@ca.test', '--bits', '2048', '--passphrase-file', pp)).to.equal(0);
    expect(readFileSync(join(dir, 'ca.key.pem'), 'utf8')).to.contain('ENCRYPTED PRIVATE KEY');
    expect(lines.join('\n')).to.contain('root key fingerprint');
    const key = join(home, 'ext.pem');
    expect(await run('ca', 'list', '--dir', dir)).to.equal(1);
    expect(errors.join('\n')).to.contain('ERR_KEY_MALFORMED');
    expect(await run('ca', 'issue', '--dir', dir, '--passphrase-file', pp, '--public-key', key, '--name', 'Bob', '--email', 'bob@example.org', '--out', join(home, 'bob.pem'))).to.equal(0);
    const chain = certificatesFromPem(readFileSync(join(home, 'bob.pem'), 'utf8'));
    expect(chain).to.have.length(2);
    const serial = parseCertificate(chain[0]!).serial;
    expect(await run('ca', 'revoke', '--dir', dir, '--passphrase-file', pp, serial, '--reason', 'key-compromise')).to.equal(0);
    expect(await run('ca', 'revoke', '--dir', dir, '--passphrase-file', pp, 'abcdef')).to.equal(1);
    expect(await run('ca', 'list', '--dir', dir, '--passphrase-file', pp)).to.equal(0);
    expect(lines.join('\n')).to.contain(serial).and.contain('revoked (key-compromise)');
  });
});
