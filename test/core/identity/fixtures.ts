import type { KeyObject } from 'node:crypto';
import { generateRsaKeyPair, type RsaKeyPair } from '../../../core/identity/keys.js';
import { createCaCertificate, issueUserCertificate, type SubjectProfile } from '../../../core/identity/certificate.js';

/** Test keys are 2048-bit: 4096-bit generation costs ~1 s each on this machine; one test covers 4096. */
export const TEST_BITS = 2048;

/** An EC P-256 self-signed certificate made with openssl (a non-RSA certificate). */
export const EC_CERT_DER = Buffer.from(
  'MIIBjDCCATOgAwIBAgIUN/RCJtwXHnKhdizimBC5UCkPNsgwCgYIKoZIzj0EAwIwDjEMMAoGA1UEAwwDRXZlMB4XDTI2MTEyNTA0NTYxNloXDTM2MTEyMjA0NTYxNlowDjEMMAoGA1UEAwwDRXZlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEE2zpQ2G0giQXqpt9igLq7UC7Ni5opO7+WBgLeTRgWpwmIMy6dVJtQi3Ol+eN0rJ3enPrlbzrEnKtTs+3x3ERUaNvMG0wHQYDVR0OBBYEFJpvGo6a+/JiINcvTjvBhBoHtaZ5MB8GA1UdIwQYMBaAFJpvGo6a+/JiINcvTjvBhBoHtaZ5MA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0RBBMwEYEPZXZlQGV4YW1wbGUub3JnMAoGCCqGSM49BAMCA0cAMEQCIBwcdyBev/A2PG8wumwfxFdMXC+pJlFvNpQ/KcWXnllwAiB/Jqas9yTmXEv+8RTcbKGGwoBJib+0YgHKAfNVNOTqQw==',
  'base64',
);

export interface TestCa {
  keys: RsaKeyPair;
  cert: Buffer;
  issue(subject: KeyObject, profile: SubjectProfile, extra?: { notBefore?: Date; notAfter?: Date; serial?: string }): Buffer;
}

export async function makeCa(name: string): Promise<TestCa> {
  const keys = await generateRsaKeyPair({ bits: TEST_BITS });
  const cert = createCaCertificate({ privateKey: keys.privateKey, name });
  return {
    keys,
    cert,
    issue: (subject, profile, extra = {}) => issueUserCertificate({ issuerCert: cert, issuerKey: keys.privateKey, subjectPublicKey: subject, profile, ...extra }),
  };
}

/** Flips one bit of a copy. */
export function flipBit(buf: Buffer, bit: number): Buffer {
  const out = Buffer.from(buf);
  out[Math.floor(bit / 8) % out.length]! ^= 1 << bit % 8;
  return out;
}
