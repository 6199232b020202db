/**
 * The strict DER certificate reader against the readers it replaced on the hot path
 * (node:crypto's X509Certificate and node-forge): the same fields for real certificates,
 * and, over thousands of mutated certificates, never accepting what OpenSSL refuses, never
 * reading a field differently, and never judging a signature differently.
 */
import { expect } from 'chai';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import { createCaCertificate, createSelfIssuedCertificate, issueUserCertificate, parseCertificate } from '../../../core/identity/certificate.js';
import { certificatePublicKey, readCertificate } from '../../../core/identity/certificate-der.js';
import { signatureVerifies } from '../../../core/identity/chain.js';
import { IdentityError } from '../../../core/identity/errors.js';
import { prng } from '../../helpers/prng.js';
import { EC_CERT_DER, flipBit } from './fixtures.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/secure-channel/', import.meta.url));
const key = (name: string): KeyObject => createPrivateKey(readFileSync(`${FIXTURES}${name}.key.pem`));
const fixtureDer = (name: string): Buffer => new X509Certificate(readFileSync(`${FIXTURES}${name}.cert.pem`)).raw;

/** What the previous parser read (X509Certificate for key and names, forge for the rest). */
function reference(der: Buffer) {
  const x509 = new X509Certificate(der);
  const cert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(der.toString('binary'), { strict: true, decodeBitStrings: true } as unknown as boolean));
  const attr = (short: string): string | null => {
    const a = cert.subject.attributes.find((x) => x.shortName === short);
    if (a === undefined) return null;
    const raw = String(a.value);
    if ((a.valueTagClass as unknown as number) !== forge.asn1.Type.UTF8) return raw;
    try {
      return forge.util.decodeUtf8(raw);
    } catch {
      return raw;
    }
  };
  const san = cert.getExtension('subjectAltName') as { altNames?: { type: number; value: string }[] } | null;
  const alt = (t: number): string | null => san?.altNames?.find((a) => a.type === t)?.value ?? null;
  const jwk = x509.publicKey.export({ format: 'jwk' });
  return {
    x509,
    /** forge reads the obsolete SAN OID 2.5.29.7 as subjectAltName too; RFC 5280 readers (ours) do not. */
    obsoleteSan: cert.extensions.some((e: { id?: string }) => e.id === '2.5.29.7'),
    fields: {
      serial: cert.serialNumber.toLowerCase(),
      name: attr('CN') ?? '',
      location: attr('L'),
      email: alt(1),
      website: alt(6),
      isCA: (cert.getExtension('basicConstraints') as { cA?: boolean } | null)?.cA === true,
      keyCertSign: (cert.getExtension('keyUsage') as { keyCertSign?: boolean } | null)?.keyCertSign === true,
      notBefore: cert.validity.notBefore.getTime(),
      notAfter: cert.validity.notAfter.getTime(),
      key: `${jwk.n}.${jwk.e}`,
      fingerprint: createHash('sha256').update(x509.publicKey.export({ type: 'spki', format: 'der' })).digest('hex'),
      selfIssued: x509.subject === x509.issuer,
    },
  };
}

function ours(der: Buffer) {
  const info = parseCertificate(der);
  const jwk = info.publicKey.export({ format: 'jwk' });
  return {
    info,
    fields: {
      serial: info.serial,
      name: info.name,
      location: info.location,
      email: info.email,
      website: info.website,
      isCA: info.isCA,
      keyCertSign: info.keyCertSign,
      notBefore: info.notBefore.getTime(),
      notAfter: info.notAfter.getTime(),
      key: `${jwk.n}.${jwk.e}`,
      fingerprint: info.fingerprint,
      selfIssued: info.selfIssued,
    },
  };
}

const attempt = <T>(fn: () => T): T | Error => {
  try {
    return fn();
  } catch (err) {
    return err as Error;
  }
};

describe('identity: strict DER certificate reader', function () {
  this.timeout(60_000);
  const caKey = key('mallory');
  const root = createCaCertificate({ privateKey: caKey, name: 'Reader CA' });
  const issued = issueUserCertificate({
    issuerCert: root,
    issuerKey: caKey,
    subjectPublicKey: createPublicKey(key('alice')),
    profile: { name: 'Zoë Łukasz 日本', email: 'zoe@example.org', location: 'Kraków, PL', website: 'https://example.org/zoe' },
  });
  const self = createSelfIssuedCertificate({ privateKey: key('bob'), profile: { name: 'Bob', email: 'bob@example.org' }, notAfter: new Date(Date.UTC(2061, 0, 2)) });

  it('reads the same fields as X509Certificate + forge for CA, CA-issued, self-issued and openssl-made certificates', () => {
    for (const der of [root, issued, self, fixtureDer('alice'), fixtureDer('bob'), fixtureDer('mallory')]) {
      expect(ours(der).fields).to.deep.equal(reference(der).fields);
    }
    // A GeneralizedTime (after 2049) was read too.
    expect(parseCertificate(self).notAfter.toISOString()).to.equal('2061-01-02T00:00:00.000Z');
    expect(parseCertificate(issued).name).to.equal('Zoë Łukasz 日本');
  });

  it('checks signatures as OpenSSL does, and refuses non-RSA and weak keys as before', () => {
    const leaf = parseCertificate(issued);
    const ca = parseCertificate(root);
    expect(signatureVerifies(leaf, ca.publicKey)).to.equal(true);
    expect(signatureVerifies(leaf, leaf.publicKey)).to.equal(false);
    expect(signatureVerifies(ca, ca.publicKey)).to.equal(true);
    for (const [der, code] of [
      [EC_CERT_DER, 'ERR_CERT_NOT_RSA'],
      [fixtureDer('carol-ed25519'), 'ERR_CERT_NOT_RSA'],
      [fixtureDer('weak-rsa1024'), 'ERR_CERT_WEAK_KEY'],
    ] as const) {
      expect(attempt(() => parseCertificate(der))).to.be.instanceOf(IdentityError).with.property('code', code);
    }
    // The secure channel reads any key type (Ed25519 profiles are allowed there).
    const ed = certificatePublicKey(readCertificate(fixtureDer('carol-ed25519')));
    expect(ed.asymmetricKeyType).to.equal('ed25519');
    expect(ed.export({ format: 'jwk' })).to.deep.equal(new X509Certificate(fixtureDer('carol-ed25519')).publicKey.export({ format: 'jwk' }));
  });

  it('over mutated certificates never accepts what OpenSSL refuses, nor reads or verifies anything differently (fuzz)', () => {
    const next = prng(11);
    const caKeyPublic = createPublicKey(caKey);
    let bothAccepted = 0;
    let signatureChecks = 0;
    const cases = 2500;
    for (let n = 0; n < cases; n++) {
      const base = n % 2 === 0 ? issued : self;
      const r = next();
      let der: Buffer;
      if (r < 0.15) der = base.subarray(0, Math.floor(next() * base.length));
      else if (r < 0.2) der = Buffer.concat([base, Buffer.from([Math.floor(next() * 256)])]);
      else if (r < 0.35) {
        der = Buffer.from(base);
        der[Math.floor(next() * der.length)] = Math.floor(next() * 256);
      } else der = flipBit(base, Math.floor(next() * base.length * 8));
      const mine = attempt(() => ours(der));
      if (mine instanceof Error) {
        // Refusals are typed, never a crash of another kind.
        expect(mine, String(mine)).to.be.instanceOf(IdentityError);
        continue;
      }
      // OpenSSL must accept whatever we accept.
      const x509 = attempt(() => new X509Certificate(der));
      expect(x509 instanceof Error ? `OpenSSL refused: ${x509.message}` : 'accepted', `case ${n}`).to.equal('accepted');
      if (x509 instanceof Error) continue;
      const signer = base === issued ? caKeyPublic : mine.info.publicKey;
      expect(signatureVerifies(mine.info, signer), `case ${n}`).to.equal(x509.verify(signer));
      signatureChecks++;
      // forge also decodes extensions we do not read (key identifiers, extKeyUsage) and may refuse
      // a mutant for them; where it reads the certificate, every field must agree.
      const ref = attempt(() => reference(der));
      if (ref instanceof Error || ref.obsoleteSan) continue;
      bothAccepted++;
      expect(mine.fields, `case ${n}`).to.deep.equal(ref.fields);
    }
    // The mutations must have exercised both paths.
    expect(bothAccepted).to.be.greaterThan(cases * 0.05);
    expect(signatureChecks).to.be.at.least(bothAccepted);
  });
});
