import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import { CertificateAuthority } from '../../../core/identity/ca/authority.js';
import { CaClient } from '../../../core/identity/ca/client.js';
import { defaultCaConfig } from '../../../core/identity/ca/config.js';
import { createSmtpMailer, type VerificationMailer } from '../../../core/identity/ca/mailer.js';
import { createCaServer } from '../../../core/identity/ca/server.js';
import { createCertificateRequest, parseCertificate } from '../../../core/identity/certificate.js';
import { IdentityError } from '../../../core/identity/errors.js';
import { exportPublicKeyPem, generateRsaKeyPair, type RsaKeyPair } from '../../../core/identity/keys.js';
import { checkStaple } from '../../../core/identity/revocation.js';
import { Profile, loadProfile } from '../../../core/identity/profile.js';
import { refreshOwnStaple } from '../../../core/identity/staple.js';
import { verifierAsHookTap } from '../../../core/identity/verifier.js';
import { createCertificateVerifier } from '../../../core/identity/verifier.js';
import { codeFrom, startSmtp } from '../../helpers/smtp.js';
import { TEST_BITS } from './fixtures.js';

async function errorOf(p: Promise<unknown>): Promise<IdentityError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof IdentityError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('identity: certification authority over HTTP with real SMTP', function () {
  let dir: string;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let ca: CertificateAuthority;
  let mailer: VerificationMailer;
  let app: FastifyInstance;
  let client: CaClient;
  let alice: RsaKeyPair;
  let alice2: RsaKeyPair;
  let root: Buffer;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'bitchat-ca-'));
    smtp = await startSmtp();
    const config = defaultCaConfig('Loopback Test CA', { host: '127.0.0.1', port: smtp.port, from: 'ca@ca.test' });
    config.limits = { ...config.limits, perAddressPerHour: 3, perIpPerHour: 9 };
    ca = await CertificateAuthority.init(join(dir, 'ca'), config, { bits: TEST_BITS });
    mailer = createSmtpMailer(ca.config.smtp);
    app = createCaServer(ca, mailer);
    await app.listen({ host: '127.0.0.1', port: 0 });
    client = new CaClient(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
    [alice, alice2] = await Promise.all([generateRsaKeyPair({ bits: TEST_BITS }), generateRsaKeyPair({ bits: TEST_BITS })]);
    root = await client.fetchRoot();
  });

  after(async function () {
    await app.close();
    mailer.close();
    ca.close();
    await new Promise<void>((resolve) => smtp.server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  let firstSerial = '';
  let firstLeaf: Buffer = Buffer.alloc(0);

  it('registers: mails a code, refuses a wrong one, issues on the right one; the staple verifies', async function () {
    expect(root.equals(ca.root.der)).to.equal(true);
    const { requestId } = await client.register({ name: 'Alice', email: 'Alice@Example.org' }, { publicKey: alice.publicKey });
    const code = codeFrom(await smtp.waitFor('alice@example.org'));
    const wrong = await errorOf(client.verify(requestId, code === '00000000' ? '00000001' : '00000000'));
    expect(wrong.code).to.equal('ERR_CA_WRONG_CODE');
    expect((wrong as unknown as { triesLeft: number }).triesLeft).to.equal(4);
    const issued = await client.verify(requestId, code);
    expect(issued.chain).to.have.length(2);
    const leaf = parseCertificate(issued.chain[0]!);
    expect(leaf.email).to.equal('alice@example.org');
    expect(leaf.serial).to.equal(issued.serial);
    firstSerial = issued.serial;
    firstLeaf = issued.chain[0]!;
    const staple = await client.fetchStatus(issued.serial);
    const verifier = createCertificateVerifier({ mode: 'ca', trustedRoots: [root], revocationPolicy: { mode: 'require-staple' } });
    const verdict = await verifier.verifyPeer(issued.chain, staple);
    expect(verdict.ok, verdict.reason).to.equal(true);
    expect(verdict.peer).to.include({ email: 'alice@example.org', revocation: 'good' });
    // The request is used up.
    expect((await errorOf(client.verify(requestId, code))).code).to.equal('ERR_CA_UNKNOWN_REQUEST');
  });

  it('re-registration (with a CSR) revokes the previous certificate for the address', async function () {
    const csr = createCertificateRequest({ privateKey: alice2.privateKey, profile: { name: 'Alice', email: 'alice@example.org' } });
    const { requestId } = await client.register({ name: 'Alice', email: 'alice@example.org', website: 'https://alice.example/' }, { csr });
    const issued = await client.verify(requestId, codeFrom(await smtp.waitFor('alice@example.org')));
    expect(issued.revoked).to.deep.equal([firstSerial]);
    expect(parseCertificate(issued.chain[0]!).website).to.equal('https://alice.example/');
    const oldStatus = await client.fetchStatus(firstSerial);
    const oldLeaf = parseCertificate(firstLeaf);
    expect(checkStaple(oldStatus, oldLeaf, parseCertificate(root)).state).to.equal('revoked');
    // A verifier that asks the CA refuses the old certificate even without a staple.
    const askCa = createCertificateVerifier({
      mode: 'ca',
      trustedRoots: [root],
      revocationPolicy: { mode: 'ask-ca', fetchStatus: (l) => client.fetchStatus(l.serial) },
    });
    expect(await askCa.verifyPeer([oldLeaf.der])).to.include({ ok: false, code: 'ERR_CERT_REVOKED' });
    expect((await askCa.verifyPeer(issued.chain)).ok).to.equal(true);
    expect(ca.list().map((r) => [r.serial, r.revocation_reason])).to.deep.include([firstSerial, 'superseded']);
    // The owner of the new certificate refreshes its staple; the owner of the old one learns it is revoked.
    const current = new Profile({ kind: 'ca', privateKey: alice2.privateKey, certificateChain: issued.chain, trustedRoots: [root], caUrl: client.baseUrl });
    expect(await refreshOwnStaple(current)).to.equal('good');
    const tap = verifierAsHookTap(createCertificateVerifier({ mode: 'ca', trustedRoots: [root], revocationPolicy: { mode: 'require-staple' } }));
    expect(await tap({ chain: current.certificateChain, staple: current.staple! })).to.deep.equal({ ok: true });
    const old = new Profile({ kind: 'ca', privateKey: alice.privateKey, certificateChain: [firstLeaf, root], caUrl: client.baseUrl });
    expect((await errorOf(refreshOwnStaple(old))).code).to.equal('ERR_CERT_REVOKED');
    expect(await tap({ chain: old.certificateChain, staple: await client.fetchStatus(firstSerial) })).to.include({ ok: false, code: 'ERR_CERT_REVOKED' });
  });

  it('closes a request after too many wrong codes', async function () {
    const { requestId } = await client.register({ name: 'Carol', email: 'carol@example.org' }, { publicKey: alice.publicKey });
    const code = codeFrom(await smtp.waitFor('carol@example.org'));
    const wrongCode = code === '12345678' ? '87654321' : '12345678';
    for (let i = 0; i < 4; i++) expect((await errorOf(client.verify(requestId, wrongCode))).code).to.equal('ERR_CA_WRONG_CODE');
    expect((await errorOf(client.verify(requestId, wrongCode))).code).to.equal('ERR_CA_TOO_MANY_TRIES');
    expect((await errorOf(client.verify(requestId, code))).code).to.equal('ERR_CA_TOO_MANY_TRIES');
  });

  it('bitchat profile create --ca registers end to end (code typed on stdin)', async function () {
    const home = join(dir, 'cli-home');
    mkdirSync(home);
    writeFileSync(join(home, 'pw'), 'zed password\n');
    const path = join(home, 'zed.profile');
    const entry = fileURLToPath(new URL('./cli-entry.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', entry, 'profile', 'create', '--name', 'Zed', '--email', 'zed@example.org', '--ca', client.baseUrl, '--password-file', join(home, 'pw'), '--profile', path, '--bits', '2048'], {
      env: { ...process.env, BITCHAT_HOME: home },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      const code = codeFrom(await smtp.waitFor('zed@example.org'));
      child.stdin.end(`${code}\n`);
      expect(await exited, output).to.equal(0);
    } finally {
      clearTimeout(killer);
    }
    expect(output).to.contain('kind:          CA-issued (Loopback Test CA)');
    const profile = await loadProfile(path, 'zed password');
    expect(profile.kind).to.equal('ca');
    expect(profile.trustedRoots[0]!.equals(root)).to.equal(true);
    const verifier = createCertificateVerifier({ mode: 'ca', trustedRoots: [root], revocationPolicy: { mode: 'require-staple' } });
    expect((await verifier.verifyPeer(profile.certificateChain, profile.staple)).ok).to.equal(true);
  });

  it('rate-limits per address and per IP, refuses bad keys and CSRs', async function () {
    for (let i = 0; i < 3; i++) await client.register({ name: 'Dave', email: 'dave@example.org' }, { publicKey: alice.publicKey });
    expect((await errorOf(client.register({ name: 'Dave', email: 'dave@example.org' }, { publicKey: alice.publicKey }))).code).to.equal('ERR_CA_RATE_LIMITED');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect((await errorOf(client.register({ name: 'E', email: 'e@example.org' }, { publicKey: ec }))).code).to.equal('ERR_KEY_NOT_RSA');
    const csr = createCertificateRequest({ privateKey: alice.privateKey, profile: { name: 'Eve', email: 'eve@example.org' } });
    const der = Buffer.from(csr.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    der[der.length - 1]! ^= 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect((await errorOf(client.register({ name: 'E', email: 'e@example.org' }, { csr: tampered }))).code).to.equal('ERR_CA_BAD_CSR');
    expect((await errorOf(client.register({ name: '', email: 'not-an-address' }, { publicKey: alice.publicKey }))).code).to.equal('ERR_CA_BAD_REQUEST');
    // So far 1 + 1 + 1 + 1 + 3 accepted requests from 127.0.0.1; the IP limit is 9.
    for (let i = 0; i < 2; i++) await client.register({ name: 'F', email: `f${i}@example.org` }, { publicKey: alice.publicKey });
    expect((await errorOf(client.register({ name: 'G', email: 'g@example.org' }, { publicKey: alice.publicKey }))).code).to.equal('ERR_CA_RATE_LIMITED');
    expect(ca.stats.rateLimited).to.equal(2);
    expect((await errorOf(client.fetchStatus('00ff'))).code).to.equal('ERR_CA_UNKNOWN_SERIAL');
  });

  it('answers malformed API input with a 4xx and a typed code, never a 5xx (fuzz)', async function () {
    const base = client.baseUrl;
    const samples: unknown[] = [null, 1, 'x', [], {}, { email: 5 }, { email: 'a@b.c', name: {} }, { email: 'a@b.c', name: 'A', publicKey: 7 }, { email: 'a@b.c', name: 'A', csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----' }, { email: 'a@b.c', name: 'A', website: 'javascript:alert(1)', publicKey: exportPublicKeyPem(alice.publicKey) }];
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 150; i++) {
      const bytes = Buffer.from(Array.from({ length: rnd() % 80 }, () => rnd() % 256));
      samples.push(i % 2 === 0 ? bytes.toString('latin1') : { email: bytes.toString('utf8'), name: bytes.toString('hex'), publicKey: bytes.toString('base64') });
    }
    for (const body of samples) {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      const res = await fetch(`${base}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      expect(res.status, raw.slice(0, 60)).to.be.within(400, 499);
      const verify = await fetch(`${base}/v1/requests/${encodeURIComponent(raw.slice(0, 40))}/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      expect(verify.status, raw.slice(0, 60)).to.be.within(400, 499);
    }
    for (const serial of ['zz', '', '0'.repeat(200), '%00', '../etc']) {
      const res = await fetch(`${base}/v1/status/${encodeURIComponent(serial)}`);
      expect(res.status).to.be.within(400, 499);
    }
  });

  it('reports an unreachable SMTP server as ERR_CA_MAIL_FAILED', async function () {
    const dead = createSmtpMailer({ host: '127.0.0.1', port: 1, from: 'ca@ca.test' });
    try {
      expect((await errorOf(dead.sendCode('x@example.org', '12345678', 'CA'))).code).to.equal('ERR_CA_MAIL_FAILED');
    } finally {
      dead.close();
    }
    expect(exportPublicKeyPem(alice.publicKey)).to.contain('PUBLIC KEY');
  });
});
