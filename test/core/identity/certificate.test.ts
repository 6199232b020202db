import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import {
  certificateToPem,
  certificatesFromPem,
  createSelfIssuedCertificate,
  parseCertificate,
} from '../../../core/identity/certificate.js';
import { verifyChain } from '../../../core/identity/chain.js';
import { exportPrivateKeyPem, generateRsaKeyPair, importRsaPrivateKeyPem, samePublicKey, type RsaKeyPair } from '../../../core/identity/keys.js';
import { pairSafetyNumber, safetyNumber } from '../../../core/identity/fingerprint.js';
import { IdentityError } from '../../../core/identity/errors.js';
import type { ProgressEvent } from '../../../core/identity/progress.js';
import { EC_CERT_DER, TEST_BITS, flipBit, makeCa, type TestCa } from './fixtures.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof IdentityError) return err.code;
    throw err;
  }
  return undefined;
}

describe('identity: certificates and chains', function () {
  let ca: TestCa;
  let otherCa: TestCa;
  let alice: RsaKeyPair;
  let mallory: RsaKeyPair;
  const DAY = 86_400_000;

  before(async function () {
    [ca, otherCa, alice, mallory] = await Promise.all([
      makeCa('Test CA'),
      makeCa('Other CA'),
      generateRsaKeyPair({ bits: TEST_BITS }),
      generateRsaKeyPair({ bits: TEST_BITS }),
    ]);
  });

  it('generates RSA-4096 by default with progress events', async function () {
    const events: ProgressEvent[] = [];
    const keys = await generateRsaKeyPair({ onProgress: (e) => events.push(e) });
    expect(keys.privateKey.asymmetricKeyDetails?.modulusLength).to.equal(4096);
    expect(events[0]).to.include({ phase: 'keygen', state: 'start' });
    expect(events.at(-1)).to.include({ phase: 'keygen', state: 'done' });
  });

  it('builds a self-issued profile certificate that node and openssl read', function () {
    const der = createSelfIssuedCertificate({
      privateKey: alice.privateKey,
      profile: { name: 'Alice Ünicode', email: 'alice@example.org', location: 'Berlin', website: 'https://alice.example/' },
    });
    const info = parseCertificate(der);
    expect(info).to.include({ name: 'Alice Ünicode', email: 'alice@example.org', location: 'Berlin', website: 'https://alice.example/', isCA: false, selfIssued: true });
    expect(new X509Certificate(der).checkEmail('alice@example.org')).to.equal('alice@example.org');
    const dir = mkdtempSync(join(tmpdir(), 'bitchat-cert-'));
    try {
      writeFileSync(join(dir, 'c.pem'), certificateToPem(der));
      const text = execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-text'], { encoding: 'utf8' });
      expect(text).to.contain('email:alice@example.org');
      expect(text).to.contain('CA:FALSE');
      expect(text).to.contain('sha256WithRSAEncryption');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(certificatesFromPem(certificateToPem(der) + certificateToPem(ca.cert))).to.have.length(2);
  });

  it('CA certificates carry basic constraints and keyCertSign', function () {
    const info = parseCertificate(ca.cert);
    expect(info.isCA).to.equal(true);
    expect(info.keyCertSign).to.equal(true);
  });

  it('verifies a CA-issued chain with and without the root attached', function () {
    const leaf = ca.issue(alice.publicKey, { name: 'Alice', email: 'alice@example.org' });
    const roots = [parseCertificate(ca.cert)];
    expect(verifyChain([leaf], { mode: 'ca', trustedRoots: roots }).leaf.email).to.equal('alice@example.org');
    expect(verifyChain([leaf, ca.cert], { mode: 'ca', trustedRoots: roots }).anchor.der.equals(ca.cert)).to.equal(true);
  });

  it('refuses expired, not-yet-valid, wrong issuer, self-signed, non-RSA, tampered', function () {
    const roots = [parseCertificate(ca.cert)];
    const opts = { mode: 'ca' as const, trustedRoots: roots };
    const now = Date.now();
    const expired = ca.issue(alice.publicKey, { name: 'A', email: 'a@example.org' }, { notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) });
    expect(codeOf(() => verifyChain([expired], opts))).to.equal('ERR_CERT_EXPIRED');
    const future = ca.issue(alice.publicKey, { name: 'A', email: 'a@example.org' }, { notBefore: new Date(now + DAY), notAfter: new Date(now + 10 * DAY) });
    expect(codeOf(() => verifyChain([future], opts))).to.equal('ERR_CERT_NOT_YET_VALID');
    // Within the clock margin: 1 minute in the future is fine.
    const skewed = ca.issue(alice.publicKey, { name: 'A', email: 'a@example.org' }, { notBefore: new Date(now + 60_000), notAfter: new Date(now + 10 * DAY) });
    expect(codeOf(() => verifyChain([skewed], opts))).to.equal(undefined);
    const foreign = otherCa.issue(alice.publicKey, { name: 'A', email: 'a@example.org' });
    expect(codeOf(() => verifyChain([foreign], opts))).to.equal('ERR_CERT_WRONG_ISSUER');
    expect(codeOf(() => verifyChain([foreign, otherCa.cert], opts))).to.equal('ERR_CERT_WRONG_ISSUER');
    const self = createSelfIssuedCertificate({ privateKey: alice.privateKey, profile: { name: 'A', email: 'a@example.org' } });
    expect(codeOf(() => verifyChain([self], opts))).to.equal('ERR_CERT_SELF_SIGNED');
    expect(codeOf(() => verifyChain([EC_CERT_DER], opts))).to.equal('ERR_CERT_NOT_RSA');
    expect(codeOf(() => verifyChain([ca.cert], opts))).to.equal('ERR_CERT_CA_AS_LEAF');
    // A user certificate cannot act as an issuer.
    const userAsIssuer = ca.issue(mallory.publicKey, { name: 'M', email: 'm@example.org' });
    expect(codeOf(() => verifyChain([userAsIssuer, ca.cert, ca.cert, ca.cert, ca.cert], opts))).to.equal('ERR_CERT_CHAIN_TOO_LONG');
    // Tampered: change the e-mail inside the signed part.
    const good = ca.issue(alice.publicKey, { name: 'A', email: 'a@example.org' });
    const i = good.indexOf(Buffer.from('a@example.org'));
    const forged = Buffer.from(good);
    forged.write('b', i, 'ascii');
    expect(codeOf(() => verifyChain([forged], opts))).to.equal('ERR_CERT_TAMPERED');
  });

  it('mode self accepts only a self-signed profile', function () {
    const self = createSelfIssuedCertificate({ privateKey: alice.privateKey, profile: { name: 'A', email: 'a@example.org' } });
    expect(verifyChain([self], { mode: 'self', trustedRoots: [] }).leaf.fingerprint).to.have.length(64);
    const issued = ca.issue(alice.publicKey, { name: 'A', email: 'a@example.org' });
    expect(codeOf(() => verifyChain([issued], { mode: 'self', trustedRoots: [] }))).to.equal('ERR_CERT_NOT_SELF_SIGNED');
  });

  it('answers every bit flip and truncation of a certificate with a typed error or a valid parse (fuzz)', function () {
    const leaf = ca.issue(alice.publicKey, { name: 'Alice', email: 'alice@example.org' });
    const roots = [parseCertificate(ca.cert)];
    let refused = 0;
    const cases = 1500;
    for (let n = 0; n < cases; n++) {
      const bad = n % 3 === 0 ? leaf.subarray(0, (n * 7) % leaf.length) : flipBit(leaf, (n * 7919) % (leaf.length * 8));
      const code = codeOf(() => verifyChain([bad], { mode: 'ca', trustedRoots: roots }));
      // A flip in an unsigned field (outer signature algorithm params) may still verify; everything else is refused.
      if (code !== undefined) refused++;
      expect(code === undefined || code.startsWith('ERR_CERT_')).to.equal(true);
    }
    expect(refused).to.be.greaterThan(cases * 0.95);
  });

  it('imports an externally generated RSA PEM key and refuses non-RSA or weak keys', function () {
    const dir = mkdtempSync(join(tmpdir(), 'bitchat-key-'));
    try {
      execFileSync('openssl', ['genrsa', '-out', join(dir, 'k.pem'), '2048'], { stdio: 'ignore' });
      const pem = execFileSync('cat', [join(dir, 'k.pem')], { encoding: 'utf8' });
      const keys = importRsaPrivateKeyPem(pem);
      expect(keys.privateKey.asymmetricKeyDetails?.modulusLength).to.equal(2048);
      expect(samePublicKey(importRsaPrivateKeyPem(exportPrivateKeyPem(keys.privateKey)).publicKey, keys.publicKey)).to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(codeOf(() => importRsaPrivateKeyPem(ec))).to.equal('ERR_KEY_NOT_RSA');
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(codeOf(() => importRsaPrivateKeyPem(weak))).to.equal('ERR_KEY_WEAK');
    expect(codeOf(() => importRsaPrivateKeyPem('-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n'))).to.equal('ERR_KEY_MALFORMED');
  });

  it('safety numbers are 30 digits, stable, and differ per key and per address', function () {
    const a = safetyNumber(alice.publicKey, 'alice@example.org');
    expect(a).to.match(/^(\d{5} ){5}\d{5}$/);
    expect(safetyNumber(alice.publicKey, 'ALICE@example.org')).to.equal(a);
    expect(safetyNumber(mallory.publicKey, 'alice@example.org')).to.not.equal(a);
    expect(safetyNumber(alice.publicKey, 'bob@example.org')).to.not.equal(a);
    const ab = pairSafetyNumber({ key: alice.publicKey, email: 'alice@example.org' }, { key: mallory.publicKey, email: 'm@example.org' });
    const ba = pairSafetyNumber({ key: mallory.publicKey, email: 'm@example.org' }, { key: alice.publicKey, email: 'alice@example.org' });
    expect(ab).to.equal(ba);
  });
});
