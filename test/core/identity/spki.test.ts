import { expect } from 'chai';
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spkiDer } from '../../../core/identity/keys.js';
import { keyFingerprintHex } from '../../../core/identity/fingerprint.js';
import { EC_CERT_DER } from './fixtures.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/secure-channel/', import.meta.url));

describe('identity: SubjectPublicKeyInfo bytes (fingerprints, safety numbers, pins)', function () {
  const opensslSpki = (key: KeyObject): Buffer => (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });

  it('the RSA SPKI built from the modulus and exponent equals OpenSSL export, byte for byte', function () {
    const keys: KeyObject[] = ['alice', 'bob', 'mallory', 'weak-rsa1024'].map((n) => createPrivateKey(readFileSync(`${FIXTURES}${n}.key.pem`)));
    // Odd sizes and exponents: lengths that cross DER length-form boundaries, a short e, a 3-byte e with its high bit set.
    for (const [modulusLength, publicExponent] of [
      [1024, 3],
      [1032, 65537],
      [2048, 65537],
      [2056, 0x800001],
    ] as const) {
      keys.push(generateKeyPairSync('rsa', { modulusLength, publicExponent }).privateKey);
    }
    for (const key of keys) {
      const pub = createPublicKey(key);
      expect(spkiDer(pub).equals(opensslSpki(pub)), `${pub.asymmetricKeyDetails?.modulusLength} bits`).to.equal(true);
      expect(spkiDer(key).equals(opensslSpki(key))).to.equal(true);
      expect(keyFingerprintHex(pub)).to.equal(keyFingerprintHex(opensslSpki(pub)));
    }
  });

  it('other key types still come from OpenSSL', function () {
    const ec = new X509Certificate(EC_CERT_DER).publicKey;
    expect(spkiDer(ec).equals(opensslSpki(ec))).to.equal(true);
    const ed = generateKeyPairSync('ed25519').publicKey;
    expect(spkiDer(ed).equals(opensslSpki(ed))).to.equal(true);
  });
});
