import { expect } from 'chai';
import { createSelfIssuedCertificate } from '../../../core/identity/certificate.js';
import { CertificateCache } from '../../../core/identity/certificate-cache.js';
import { generateRsaKeyPair, type RsaKeyPair } from '../../../core/identity/keys.js';
import { PinStore } from '../../../core/identity/pins.js';
import { createCertificateVerifier } from '../../../core/identity/verifier.js';
import { IdentityError } from '../../../core/identity/errors.js';
import { TEST_BITS, flipBit, makeCa, type TestCa } from './fixtures.js';

describe('identity: certificate cache (parse once per DER, judge every time)', function () {
  const DAY = 86_400_000;
  let ca: TestCa;
  let alice: RsaKeyPair;
  let bob: RsaKeyPair;
  let leaf: Buffer;

  before(async function () {
    [ca, alice, bob] = await Promise.all([makeCa('Cache CA'), generateRsaKeyPair({ bits: TEST_BITS }), generateRsaKeyPair({ bits: TEST_BITS })]);
    leaf = ca.issue(alice.publicKey, { name: 'Alice', email: 'alice@example.org' }, { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 2 * DAY) });
  });

  it('a peer seen again is not parsed again, and gets the same verdict', async function () {
    const verifier = createCertificateVerifier({ mode: 'ca', trustedRoots: [ca.cert], revocationPolicy: { mode: 'off' } });
    const first = await verifier.verifyPeer([leaf]);
    // A copy of the bytes (as a new connection delivers them) hits the cache too.
    const again = await verifier.verifyPeer([Buffer.from(leaf)]);
    expect(first.ok).to.equal(true);
    expect(again).to.deep.include({ ok: true });
    expect(again.peer?.fingerprint).to.equal(first.peer?.fingerprint);
    expect(verifier.stats).to.include({ cacheMisses: 1, cacheHits: 1, verified: 2 });
  });

  it('validity is judged on every use, not remembered with the parse', async function () {
    let now = Date.now();
    const verifier = createCertificateVerifier({ mode: 'ca', trustedRoots: [ca.cert], revocationPolicy: { mode: 'off' }, now: () => now });
    expect((await verifier.verifyPeer([leaf])).ok).to.equal(true);
    now += 3 * DAY;
    expect(await verifier.verifyPeer([leaf])).to.include({ ok: false, code: 'ERR_CERT_EXPIRED' });
    expect(verifier.stats.cacheHits).to.equal(1);
  });

  it('a tampered copy of a cached certificate is refused', async function () {
    const verifier = createCertificateVerifier({ mode: 'ca', trustedRoots: [ca.cert], revocationPolicy: { mode: 'off' } });
    expect((await verifier.verifyPeer([leaf])).ok).to.equal(true);
    // Flip bits in the signature value (the last bytes): the DER still parses, the signature fails.
    for (const bit of [8, 100, 300]) {
      const bad = flipBit(leaf, (leaf.length - 40) * 8 + bit);
      const v = await verifier.verifyPeer([bad]);
      expect(v.ok, `bit ${bit}`).to.equal(false);
      expect(v.code).to.match(/^ERR_CERT_(TAMPERED|MALFORMED)$/);
    }
    expect((await verifier.verifyPeer([leaf])).ok).to.equal(true);
  });

  it('pins are checked on every use of a cached self-issued certificate', async function () {
    const pins = new PinStore();
    const verifier = createCertificateVerifier({ mode: 'self', pins });
    const first = createSelfIssuedCertificate({ privateKey: alice.privateKey, profile: { name: 'A', email: 'a@example.org' } });
    const changed = createSelfIssuedCertificate({ privateKey: bob.privateKey, profile: { name: 'A', email: 'a@example.org' } });
    expect((await verifier.verifyPeer([first])).peer).to.include({ pin: 'unknown' });
    expect((await verifier.verifyPeer([first])).peer).to.include({ pin: 'match' });
    expect(await verifier.verifyPeer([changed])).to.include({ ok: false, code: 'ERR_CERT_PIN_MISMATCH' });
    expect(await verifier.verifyPeer([changed])).to.include({ ok: false, code: 'ERR_CERT_PIN_MISMATCH' });
    expect(verifier.stats.cacheHits).to.equal(2);
  });

  it('keeps at most its capacity, least recently used out first; bad input is never cached', function () {
    const other = ca.issue(bob.publicKey, { name: 'Bob', email: 'bob@example.org' });
    const cache = new CertificateCache(2);
    const a = cache.parse(leaf);
    cache.parse(other);
    expect(cache.parse(leaf)).to.equal(a);
    cache.parse(ca.cert); // evicts `other`, the least recently used
    expect(cache.size).to.equal(2);
    expect(cache.parse(leaf)).to.equal(a);
    const misses = cache.stats.misses;
    cache.parse(other);
    expect(cache.stats.misses).to.equal(misses + 1);
    expect(() => cache.parse(Buffer.from('junk'))).to.throw(IdentityError);
    expect(() => cache.parse(Buffer.from('junk'))).to.throw(IdentityError);
    expect(cache.size).to.equal(2);
  });

  it('publicKeyOf shares the parse with verifyPeer (the secure channel reads the key first)', async function () {
    const verifier = createCertificateVerifier({ mode: 'ca', trustedRoots: [ca.cert], revocationPolicy: { mode: 'off' } });
    const key = verifier.publicKeyOf(leaf);
    expect(key.equals(alice.publicKey)).to.equal(true);
    const v = await verifier.verifyPeer([leaf]);
    expect(v.peer?.leaf.publicKey).to.equal(key);
    expect(verifier.stats).to.include({ cacheMisses: 1, cacheHits: 1 });
    expect(() => verifier.publicKeyOf(Buffer.from('junk'))).to.throw(IdentityError);
  });

  it('cacheEntries: 0 turns the cache off', async function () {
    const verifier = createCertificateVerifier({ mode: 'ca', trustedRoots: [ca.cert], revocationPolicy: { mode: 'off' }, cacheEntries: 0 });
    expect((await verifier.verifyPeer([leaf])).ok).to.equal(true);
    expect((await verifier.verifyPeer([leaf])).ok).to.equal(true);
    expect(verifier.stats).to.include({ cacheHits: 0, cacheMisses: 0, verified: 2 });
  });
});
