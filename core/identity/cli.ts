/**
 * `bitchat profile ...` and `bitchat ca ...`. Passwords come from
 * `--password-file`, `$BITCHAT_PASSWORD` or a hidden prompt on a terminal;
 * never from a command-line argument (it would land in `ps` and shell history).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Argv } from 'yargs';
import type { CliIo } from '../cli-io.js';
import { defaultHome } from '../config.js';
import { CertificateAuthority } from './ca/authority.js';
import { CaClient } from './ca/client.js';
import { defaultCaConfig } from './ca/config.js';
import { createSmtpMailer } from './ca/mailer.js';
import { createCaServer } from './ca/server.js';
import { certificateToPem, createCertificateRequest, parseCertificate, type SubjectProfile } from './certificate.js';
import { IdentityError } from './errors.js';
import { keyFingerprintHex } from './fingerprint.js';
import { exportPrivateKeyPem, importRsaPrivateKeyPem, type RsaKeyPair } from './keys.js';
import { Profile, loadProfile, saveProfile } from './profile.js';
import type { ProgressHook } from './progress.js';


const DEFAULT_PROFILE_FILE = 'default.profile';
const DEFAULT_CA_DIR = 'ca';

interface PasswordArgs {
  'password-file'?: string;
}

function profilePath(args: { profile?: string }): string {
  return resolve(args.profile ?? join(defaultHome(), DEFAULT_PROFILE_FILE));
}

function caDir(args: { dir?: string }): string {
  return resolve(args.dir ?? join(defaultHome(), DEFAULT_CA_DIR));
}

function progress(io: CliIo): ProgressHook {
  const label = { keygen: 'generating RSA key', kdf: 'deriving key from password' };
  return (e) => {
    if (e.state === 'start') io.err(`${label[e.phase]}...`);
    else if (e.state === 'tick' && e.elapsedMs % 1000 < 100) io.err(`  ${label[e.phase]}: ${(e.elapsedMs / 1000).toFixed(1)} s`);
    else if (e.state === 'done') io.err(`  ${label[e.phase]}: done in ${(e.elapsedMs / 1000).toFixed(2)} s`);
  };
}

async function prompt(question: string, hidden: boolean): Promise<string> {
  if (!process.stdin.isTTY) {
    // Scripts pipe a verification code on stdin; secrets never come that way (use a file).
    if (hidden) throw new IdentityError('ERR_PROFILE_EMPTY_PASSWORD', `${question.trim()} needed: use --password-file or $BITCHAT_PASSWORD when not on a terminal`);
    process.stderr.write(question);
    const rl = createInterface({ input: process.stdin, terminal: false });
    try {
      return await new Promise<string>((res, rej) => {
        rl.once('line', (line) => res(line.trim()));
        rl.once('close', () => rej(new IdentityError('ERR_CA_WRONG_CODE', 'no input on stdin')));
      });
    } finally {
      rl.close();
    }
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (hidden) {
    // Echo nothing while the secret is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.includes(question)) process.stderr.write(question);
    };
  }
  try {
    return await new Promise<string>((res) => rl.question(question, res));
  } finally {
    rl.close();
    if (hidden) process.stderr.write('\n');
  }
}

export async function readPassword(args: PasswordArgs, what = 'profile password', fileKey: keyof PasswordArgs = 'password-file'): Promise<string> {
  const file = args[fileKey];
  if (file !== undefined) return (await readFile(file, 'utf8')).split(/\r?\n/)[0] ?? '';
  if (process.env['BITCHAT_PASSWORD'] !== undefined && what === 'profile password') return process.env['BITCHAT_PASSWORD'];
  return prompt(`${what}: `, true);
}

function subjectFrom(args: { name?: string; email?: string; location?: string; website?: string }): SubjectProfile {
  if (!args.name || !args.email) throw new IdentityError('ERR_CA_BAD_REQUEST', '--name and --email are required');
  return { name: args.name, email: args.email, ...(args.location ? { location: args.location } : {}), ...(args.website ? { website: args.website } : {}) };
}

function describeProfile(profile: Profile, io: CliIo): void {
  const leaf = profile.leaf;
  io.out(`name:          ${leaf.name}`);
  io.out(`e-mail:        ${leaf.email ?? '-'}`);
  if (leaf.location) io.out(`location:      ${leaf.location}`);
  if (leaf.website) io.out(`website:       ${leaf.website}`);
  io.out(`kind:          ${profile.kind === 'ca' ? `CA-issued (${parseCertificate(profile.certificateChain.at(-1)!).name})` : 'self-issued (peers pin it; compare the safety number)'}`);
  io.out(`key:           RSA-${profile.publicKey.asymmetricKeyDetails?.modulusLength ?? '?'}, fingerprint ${leaf.fingerprint}`);
  io.out(`safety number: ${profile.safetyNumber}`);
  io.out(`serial:        ${leaf.serial}`);
  io.out(`valid:         ${leaf.notBefore.toISOString()} .. ${leaf.notAfter.toISOString()}`);
  io.out(`trusted roots: ${profile.trustedRoots.length}`);
  io.out(`pinned peers:  ${profile.pins.list().length} (${profile.pins.pendingChanges().length} key changes pending)`);
}

async function registerWithCa(profile: Profile, caUrl: string, io: CliIo): Promise<void> {
  const client = new CaClient(caUrl);
  const root = await client.fetchRoot();
  io.err(`CA root: ${parseCertificate(root).name}, key fingerprint ${keyFingerprintHex(parseCertificate(root).publicKey)}`);
  const leaf = profile.leaf;
  const subject: SubjectProfile = { name: leaf.name, email: leaf.email ?? '', ...(leaf.location ? { location: leaf.location } : {}), ...(leaf.website ? { website: leaf.website } : {}) };
  const { requestId } = await client.register(subject, { csr: createCertificateRequest({ privateKey: profile.privateKey, profile: subject }) });
  io.err(`a verification code was sent to ${subject.email}`);
  const issued = await client.verify(requestId, await prompt('verification code (see your mail): ', false));
  profile.adoptCaCertificate(issued.chain, root, caUrl);
  profile.staple = await client.fetchStatus(issued.serial);
  if (issued.revoked.length > 0) io.err(`the CA revoked your earlier certificate(s): ${issued.revoked.join(', ')}`);
}

async function createProfile(args: Record<string, unknown>, io: CliIo, keyPair?: RsaKeyPair): Promise<void> {
  const path = profilePath(args as { profile?: string });
  const exists = await readFile(path).then(() => true, () => false);
  if (exists && args['force'] !== true) throw new IdentityError('ERR_PROFILE_EXISTS', `${path} exists (use --force to replace it)`);
  const password = await readPassword(args as PasswordArgs);
  const profile = await Profile.createSelfIssued({
    subject: subjectFrom(args as unknown as SubjectProfile),
    ...(keyPair ? { keyPair } : {}),
    ...(typeof args['bits'] === 'number' ? { bits: args['bits'] } : {}),
    onProgress: progress(io),
  });
  const saveOptions = { onProgress: progress(io), ...(typeof args['iterations'] === 'number' ? { iterations: args['iterations'] } : {}) };
  if (typeof args['ca'] === 'string') {
    // Keep the new key on disk before talking to the CA: a failed registration must not lose it.
    await saveProfile(path, profile, password, saveOptions);
    await registerWithCa(profile, args['ca'], io);
  }
  await saveProfile(path, profile, password, saveOptions);
  io.out(`profile written to ${path}`);
  describeProfile(profile, io);
}

function profileCommands(y: Argv, io: CliIo): Argv {
  const withProfile = (b: Argv) =>
    b
      .option('profile', { type: 'string', describe: 'Profile file (default: $BITCHAT_HOME/default.profile)' })
      .option('password-file', { type: 'string', describe: 'Read the profile password from the first line of this file' });
  const subject = (b: Argv) =>
    withProfile(b)
      .option('name', { type: 'string', demandOption: true, describe: 'Your display name' })
      .option('email', { type: 'string', demandOption: true, describe: 'Your e-mail address' })
      .option('location', { type: 'string' })
      .option('website', { type: 'string' })
      .option('ca', { type: 'string', describe: 'Register with this certification authority (URL); without it the profile is self-issued' })
      .option('iterations', { type: 'number', describe: 'PBKDF2 iterations (>= 200000)' })
      .option('force', { type: 'boolean', describe: 'Replace an existing profile file' });
  return y
    .command('create', 'Create a profile: new RSA-4096 key, self-issued or CA-issued certificate', (b) => subject(b).option('bits', { type: 'number', describe: 'RSA key size (default 4096)' }), (args) =>
      createProfile(args as Record<string, unknown>, io),
    )
    .command('import-key <key>', 'Create a profile from an existing RSA private key (PEM)', (b) => subject(b).positional('key', { type: 'string', demandOption: true }).option('key-passphrase-file', { type: 'string' }), async (args) => {
      const pem = await readFile(String(args.key), 'utf8');
      const passFile = args['key-passphrase-file'] as string | undefined;
      const passphrase = passFile !== undefined ? (await readFile(passFile, 'utf8')).split(/\r?\n/)[0] : undefined;
      await createProfile(args as Record<string, unknown>, io, importRsaPrivateKeyPem(pem, passphrase));
    })
    .command('show', 'Show the profile: identity, fingerprint, safety number, trust', (b) => withProfile(b), async (args) => {
      describeProfile(await loadProfile(profilePath(args), await readPassword(args), { onProgress: progress(io) }), io);
    })
    .command('export', 'Export the certificate chain (PEM); with --with-private-key also the key', (b) => withProfile(b).option('out', { type: 'string', describe: 'Write here instead of stdout' }).option('with-private-key', { type: 'boolean' }), async (args) => {
      const profile = await loadProfile(profilePath(args), await readPassword(args), { onProgress: progress(io) });
      let text = profile.certificateChain.map((c) => certificateToPem(c)).join('');
      if (args['with-private-key'] === true) text = exportPrivateKeyPem(profile.privateKey) + text;
      if (typeof args.out === 'string') {
        await writeFile(args.out, text, { mode: args['with-private-key'] === true ? 0o600 : 0o644 });
        io.out(`written to ${args.out}`);
      } else io.out(text.trimEnd());
    })
    .command('passwd', 'Change the profile password (new salt and nonce)', (b) => withProfile(b).option('new-password-file', { type: 'string' }), async (args) => {
      const path = profilePath(args);
      const profile = await loadProfile(path, await readPassword(args), { onProgress: progress(io) });
      const next = args['new-password-file'] !== undefined ? (await readFile(String(args['new-password-file']), 'utf8')).split(/\r?\n/)[0] ?? '' : await prompt('new password: ', true);
      await saveProfile(path, profile, next, { onProgress: progress(io) });
      io.out(`password changed for ${path}`);
    })
    .command('pins', 'List pinned peer keys and pending key changes', (b) => withProfile(b), async (args) => {
      const profile = await loadProfile(profilePath(args), await readPassword(args), { onProgress: progress(io) });
      for (const p of profile.pins.list()) io.out(`pinned   ${p.email}  ${p.fingerprint}  "${p.name}"  since ${new Date(p.firstSeen).toISOString()}`);
      for (const p of profile.pins.pendingChanges()) io.out(`CHANGED  ${p.email}  ${p.fingerprint}  "${p.name}"  seen ${new Date(p.seenAt).toISOString()}`);
    })
    .command('accept-key <email>', 'Accept the new key a pinned peer presented (after comparing safety numbers)', (b) => withProfile(b).positional('email', { type: 'string', demandOption: true }).option('fingerprint', { type: 'string', describe: 'Only accept this key (hex SHA-256 of the public key)' }), async (args) => {
      const path = profilePath(args);
      const password = await readPassword(args);
      const profile = await loadProfile(path, password, { onProgress: progress(io) });
      if (!profile.pins.accept(String(args.email), args.fingerprint as string | undefined)) {
        throw new IdentityError('ERR_CERT_PIN_MISMATCH', `no pending key change for ${String(args.email)}${args.fingerprint ? ' with that fingerprint' : ''}`);
      }
      await saveProfile(path, profile, password, { onProgress: progress(io) });
      io.out(`the new key of ${String(args.email)} is now pinned`);
    })
    .demandCommand(1, 'Name an action: create, show, export, passwd, import-key, pins, accept-key');
}

function caCommands(y: Argv, io: CliIo): Argv {
  const withDir = (b: Argv) =>
    b
      .option('dir', { type: 'string', describe: 'CA folder (default: $BITCHAT_HOME/ca)' })
      .option('passphrase-file', { type: 'string', describe: 'Passphrase of the CA key (first line); on init, encrypts the key' });
  const passphrase = async (args: Record<string, unknown>): Promise<{ passphrase?: string }> =>
    typeof args['passphrase-file'] === 'string' ? { passphrase: (await readFile(args['passphrase-file'], 'utf8')).split(/\r?\n/)[0] ?? '' } : {};
  const openCa = async (args: Record<string, unknown>): Promise<CertificateAuthority> => CertificateAuthority.open(caDir(args as { dir?: string }), await passphrase(args));
  return y
    .command('init', 'Create a certification authority (key, root certificate, ca.json, database)', (b) =>
      withDir(b)
        .option('name', { type: 'string', demandOption: true })
        .option('smtp-host', { type: 'string', demandOption: true })
        .option('smtp-port', { type: 'number', default: 25 })
        .option('from', { type: 'string', demandOption: true, describe: 'Sender address of verification mails' })
        .option('host', { type: 'string', default: '127.0.0.1' })
        .option('port', { type: 'number', default: 7448 })
        .option('bits', { type: 'number' }), async (args) => {
      const config = defaultCaConfig(String(args.name), { host: String(args['smtp-host']), port: Number(args['smtp-port']), from: String(args.from) });
      config.listen = { host: String(args.host), port: Number(args.port) };
      const ca = await CertificateAuthority.init(caDir(args), config, { ...(typeof args.bits === 'number' ? { bits: args.bits } : {}), ...(await passphrase(args)), onProgress: progress(io) });
      io.out(`CA "${config.name}" created in ${ca.dir}`);
      io.out(`root key fingerprint: ${ca.root.fingerprint}`);
      ca.close();
    })
    .command('serve', 'Run the CA HTTP service', (b) => withDir(b), async (args) => {
      const ca = await openCa(args);
      const mailer = createSmtpMailer(ca.config.smtp);
      const app = createCaServer(ca, mailer);
      const url = await app.listen({ host: ca.config.listen.host, port: ca.config.listen.port });
      io.out(`CA "${ca.config.name}" serving on ${url} (Ctrl-C to stop)`);
      await new Promise<void>((res) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          res();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await app.close();
      mailer.close();
      ca.close();
    })
    .command('issue', 'Issue a certificate without e-mail verification (the operator vouches)', (b) =>
      withDir(b)
        .option('public-key', { type: 'string', demandOption: true, describe: 'PEM public (or private) key file' })
        .option('name', { type: 'string', demandOption: true })
        .option('email', { type: 'string', demandOption: true })
        .option('out', { type: 'string' }), async (args) => {
      const { createPublicKey } = await import('node:crypto');
      const key = createPublicKey(await readFile(String(args['public-key']), 'utf8'));
      const ca = await openCa(args);
      try {
        const issued = ca.issue(key, subjectFrom(args as unknown as SubjectProfile));
        const pem = issued.chain.map((c) => certificateToPem(c)).join('');
        if (typeof args.out === 'string') await writeFile(args.out, pem);
        else io.out(pem.trimEnd());
        io.err(`issued serial ${issued.serial}${issued.revoked.length ? `; revoked ${issued.revoked.join(', ')}` : ''}`);
      } finally {
        ca.close();
      }
    })
    .command('revoke <serial>', 'Revoke a certificate', (b) => withDir(b).positional('serial', { type: 'string', demandOption: true }).option('reason', { type: 'string', default: 'unspecified' }), async (args) => {
      const ca = await openCa(args);
      try {
        if (!ca.revoke(String(args.serial), String(args.reason))) throw new IdentityError('ERR_CA_UNKNOWN_SERIAL', `no certificate with serial ${String(args.serial)}`);
        io.out(`revoked ${String(args.serial)}`);
      } finally {
        ca.close();
      }
    })
    .command('list', 'List issued certificates and their revocation state', (b) => withDir(b), async (args) => {
      const ca = await openCa(args);
      try {
        for (const r of ca.list()) {
          const state = r.revoked_at === null ? 'valid  ' : `revoked (${r.revocation_reason ?? ''})`;
          io.out(`${r.serial}  ${state}  ${r.email}  "${r.name}"  until ${new Date(r.not_after).toISOString().slice(0, 10)}`);
        }
      } finally {
        ca.close();
      }
    })
    .demandCommand(1, 'Name an action: init, serve, issue, revoke, list');
}

/** Adds `profile ...` and `ca ...` to the kernel's yargs program. */
export function addIdentityCommands(cli: Argv, io: CliIo): Argv {
  return cli
    .command('profile <action>', 'Your identity: profile file, key, certificate', (y) => profileCommands(y, io))
    .command('ca <action>', 'Run a certification authority', (y) => caCommands(y, io));
}

