import { expect } from 'chai';
import { createSelfIssuedCertificate, parseCertificate } from '../../../core/identity/certificate.js';
import { generateRsaKeyPair, type RsaKeyPair } from '../../../core/identity/keys.js';
import { PinStore } from '../../../core/identity/pins.js';
import { checkStaple, decodeRevocationStatus, encodeRevocationStatusBody, signRevocationStatus } from '../../../core/identity/revocation.js';
import { createCertificateVerifier } from '../../../core/identity/verifier.js';
import { IdentityError } from '../../../core/identity/errors.js';
import { TEST_BITS, flipBit, makeCa, type TestCa } from './fixtures.js';

describe('identity: revocation staples, pinning and verifyPeer', function () {
  let ca: TestCa;
  let otherCa: TestCa;
  let alice: RsaKeyPair;
  let alice2: RsaKeyPair;
  let leaf: Buffer;
  const HOUR = 3_600_000;

  before(async function () {
    [ca, otherCa, alice, alice2] = await Promise.all([makeCa('Staple CA'), makeCa('Staple CA'), generateRsaKeyPair({ bits: TEST_BITS }), generateRsaKeyPair({ bits: TEST_BITS })]);
    leaf = ca.issue(alice.publicKey, { name: 'Alice', email: 'alice@example.org' });
  });

  function staple(status: 'good' | 'revoked', producedAt = Date.now(), signer: TestCa = ca, serial = parseCertificate(leaf).serial): Buffer {
    return signRevocationStatus({ status, serial, producedAt, issuerKey: signer.keys.privateKey, issuerCertificate: parseCertificate(signer.cert) });
  }

  it('round-trips a status and classifies staples: good, revoked, stale, forged, missing', function () {
    const info = parseCertificate(leaf);
    const issuer = parseCertificate(ca.cert);
    const good = staple('good');
    expect(decodeRevocationStatus(good)).to.include({ status: 'good', serial: info.serial, revokedAt: 0 });
    expect(checkStaple(good, info, issuer).state).to.equal('good');
    expect(checkStaple(staple('revoked', Date.now() - 100 * HOUR), info, issuer).state).to.equal('revoked');
    expect(checkStaple(staple('good', Date.now() - 25 * HOUR), info, issuer).state).to.equal('stale');
    expect(checkStaple(undefined, info, issuer).state).to.equal('missing');
    // Forged: signed by another key under the same CA name, for another serial, from the future, bits flipped.
    expect(checkStaple(staple('good', Date.now(), otherCa), info, issuer).state).to.equal('forged');
    expect(checkStaple(staple('good', Date.now(), ca, '0badc0de'), info, issuer).state).to.equal('forged');
    expect(checkStaple(staple('good', Date.now() + 2 * HOUR), info, issuer).state).to.equal('forged');
    // Turning "revoked" into "good" breaks the signature.
    const revoked = staple('revoked');
    const flipped = Buffer.from(revoked);
    flipped[3] = 0;
    flipped.fill(0, 37 + 16 + 8, 37 + 16 + 16);
    expect(checkStaple(flipped, info, issuer).state).to.equal('forged');
  });

  it('matches the documented status body vector', function () {
    const body = encodeRevocationStatusBody({ status: 'revoked', issuerKeyHash: Buffer.alloc(32, 0x11), serial: '0123456789abcdef', producedAt: 1764000000000, revokedAt: 1763900000000 });
    expect(body.toString('hex')).to.equal('5253010111111111111111111111111111111111111111111111111111111111111111110801234567' + '89abcdef0000019ab697e8000000019ab0a20700');
  });

  it('every truncation and bit flip of a staple is malformed or forged (fuzz)', function () {
    const info = parseCertificate(leaf);
    const issuer = parseCertificate(ca.cert);
    const good = staple('good');
    for (let n = 0; n < 2000; n++) {
      const bad = n % 4 === 0 ? good.subarray(0, n % good.length) : flipBit(good, (n * 104729) % (good.length * 8));
      try {
        decodeRevocationStatus(bad);
      } catch (err) {
        expect(err).to.be.instanceOf(IdentityError);
        expect((err as IdentityError).code).to.equal('ERR_REVOCATION_MALFORMED');
      }
      const state = checkStaple(bad, info, issuer).state;
      expect(state === 'forged' || state === 'missing', `case ${n}: ${state}`).to.equal(true);
    }
  });

  it('verifyPeer applies the revocation policy', async function () {
    const trustedRoots = [ca.cert];
    const requireStaple = createCertificateVerifier({ mode: 'ca', trustedRoots, revocationPolicy: { mode: 'require-staple' } });
    expect((await requireStaple.verifyPeer([leaf], staple('good'))).ok).to.equal(true);
    expect(await requireStaple.verifyPeer([leaf])).to.include({ ok: false, code: 'ERR_REVOCATION_MISSING' });
    expect(await requireStaple.verifyPeer([leaf], staple('good', Date.now() - 48 * HOUR))).to.include({ ok: false, code: 'ERR_REVOCATION_STALE' });
    expect(await requireStaple.verifyPeer([leaf], staple('good', Date.now(), otherCa))).to.include({ ok: false, code: 'ERR_REVOCATION_FORGED' });
    expect(await requireStaple.verifyPeer([leaf], staple('revoked'))).to.include({ ok: false, code: 'ERR_CERT_REVOKED' });

    const lenient = createCertificateVerifier({ mode: 'ca', trustedRoots, revocationPolicy: { mode: 'accept-missing' } });
    const v = await lenient.verifyPeer([leaf]);
    expect(v.ok).to.equal(true);
    expect(v.peer).to.include({ email: 'alice@example.org', kind: 'ca', revocation: 'missing' });
    expect(await lenient.verifyPeer([leaf], staple('revoked'))).to.include({ ok: false, code: 'ERR_CERT_REVOKED' });

    let asked = 0;
    const askCa = createCertificateVerifier({
      mode: 'ca',
      trustedRoots,
      revocationPolicy: { mode: 'ask-ca', fetchStatus: async () => { asked++; return staple('revoked'); } },
    });
    expect(await askCa.verifyPeer([leaf], staple('good'))).to.include({ ok: true });
    expect(asked).to.equal(0);
    expect(await askCa.verifyPeer([leaf])).to.include({ ok: false, code: 'ERR_CERT_REVOKED' });
    expect(asked).to.equal(1);
    const unreachable = createCertificateVerifier({
      mode: 'ca',
      trustedRoots,
      revocationPolicy: { mode: 'ask-ca', fetchStatus: async () => { throw new Error('connection refused'); } },
    });
    expect(await unreachable.verifyPeer([leaf])).to.include({ ok: false, code: 'ERR_REVOCATION_UNAVAILABLE' });
    expect(requireStaple.stats.refused).to.equal(4);
  });

  it('self mode pins on first use and refuses a changed key until accepted', async function () {
    const pins = new PinStore();
    const verifier = createCertificateVerifier({ mode: 'self', pins });
    const first = createSelfIssuedCertificate({ privateKey: alice.privateKey, profile: { name: 'Alice', email: 'alice@example.org' } });
    const changed = createSelfIssuedCertificate({ privateKey: alice2.privateKey, profile: { name: 'Alice', email: 'Alice@Example.org' } });
    const v1 = await verifier.verifyPeer([first]);
    expect(v1.peer).to.include({ pin: 'unknown', kind: 'self' });
    expect(v1.peer?.safetyNumber).to.match(/^(\d{5} ){5}\d{5}$/);
    expect((await verifier.verifyPeer([first])).peer).to.include({ pin: 'match' });
    expect(await verifier.verifyPeer([changed])).to.include({ ok: false, code: 'ERR_CERT_PIN_MISMATCH' });
    expect(await verifier.verifyPeer([changed])).to.include({ ok: false, code: 'ERR_CERT_PIN_MISMATCH' });
    expect(pins.pendingChanges()).to.have.length(1);
    expect(pins.accept('alice@example.org', 'not-the-fingerprint')).to.equal(false);
    expect(pins.accept('alice@example.org', parseCertificate(changed).fingerprint)).to.equal(true);
    expect((await verifier.verifyPeer([changed])).ok).to.equal(true);
    expect(await verifier.verifyPeer([first])).to.include({ ok: false, code: 'ERR_CERT_PIN_MISMATCH' });
    // Pins survive serialisation (they live in the profile file).
    const copy = new PinStore(JSON.parse(JSON.stringify(pins.toJSON())));
    expect(copy.check('ALICE@example.org', parseCertificate(changed).fingerprint)).to.equal('match');
    // A CA-issued certificate is refused in self mode; garbage gets a typed verdict.
    expect(await verifier.verifyPeer([leaf])).to.include({ ok: false, code: 'ERR_CERT_NOT_SELF_SIGNED' });
    expect(await verifier.verifyPeer([Buffer.from('junk')])).to.include({ ok: false, code: 'ERR_CERT_MALFORMED' });
    expect(await verifier.verifyPeer([])).to.include({ ok: false, code: 'ERR_CERT_MALFORMED' });
  });

  it('either mode takes CA-issued and self-issued profiles', async function () {
    const verifier = createCertificateVerifier({ mode: 'either', trustedRoots: [ca.cert], pins: new PinStore(), revocationPolicy: { mode: 'off' } });
    expect((await verifier.verifyPeer([leaf])).peer).to.include({ kind: 'ca' });
    const self = createSelfIssuedCertificate({ privateKey: alice2.privateKey, profile: { name: 'B', email: 'b@example.org' } });
    expect((await verifier.verifyPeer([self])).peer).to.include({ kind: 'self', pin: 'unknown' });
    const ca2 = createCertificateVerifier({ mode: 'ca', trustedRoots: [ca.cert] });
    expect(await ca2.verifyPeer([self])).to.include({ ok: false, code: 'ERR_CERT_SELF_SIGNED' });
  });
});
