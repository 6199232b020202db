import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { MIN_RSA_BITS, RSA_BITS, RSA_PUBLIC_EXPONENT } from './constants.js';
import { IdentityError } from './errors.js';
import { withProgress, type ProgressHook } from './progress.js';

/** An RSA key pair as node:crypto key objects. */
export interface RsaKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * Generates an RSA key pair with node:crypto's asynchronous (thread pool) API:
 * RSA-4096 takes 0.4-3 s, so the event loop must stay free and the caller can
 * show progress.
 */
export async function generateRsaKeyPair(options: { bits?: number; onProgress?: ProgressHook } = {}): Promise<RsaKeyPair> {
  const bits = options.bits ?? RSA_BITS;
  if (bits < MIN_RSA_BITS) throw new IdentityError('ERR_KEY_WEAK', `RSA keys need at least ${MIN_RSA_BITS} bits, asked for ${bits}`);
  return withProgress('keygen', options.onProgress, () =>
    new Promise<RsaKeyPair>((resolve, reject) => {
      generateKeyPair('rsa', { modulusLength: bits, publicExponent: RSA_PUBLIC_EXPONENT }, (err, publicKey, privateKey) => {
        if (err) reject(err);
        else resolve({ publicKey, privateKey });
      });
    }),
  );
}

/** Throws unless `key` is an RSA key of at least MIN_RSA_BITS bits. */
export function assertRsaKey(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new IdentityError('ERR_KEY_NOT_RSA', `only RSA keys are accepted, got ${key.asymmetricKeyType ?? key.type}`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw new IdentityError('ERR_KEY_WEAK', `RSA key has ${bits} bits, at least ${MIN_RSA_BITS} are needed`);
}

/**
 * Reads an externally generated RSA private key (PKCS#1 or PKCS#8 PEM, optionally
 * passphrase-protected) and returns it with its public half.
 */
export function importRsaPrivateKeyPem(pem: string | Buffer, passphrase?: string): RsaKeyPair {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(passphrase === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase });
  } catch (err) {
    throw new IdentityError('ERR_KEY_MALFORMED', 'not a readable PEM private key (or wrong passphrase)', { cause: err });
  }
  assertRsaKey(privateKey);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** PKCS#8 PEM of a private key (unencrypted: the profile file encrypts it). */
export function exportPrivateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** SPKI PEM of a public key. */
export function exportPublicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }) as string;
}

/** AlgorithmIdentifier { rsaEncryption, NULL }, as every RSA SubjectPublicKeyInfo carries it. */
const RSA_ALGORITHM_ID = Buffer.from('300d06092a864886f70d0101010500', 'hex');

/** A DER tag-length-value (definite length, shortest form). */
function derTlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  let length: number[];
  if (n < 0x80) length = [n];
  else if (n < 0x100) length = [0x81, n];
  else if (n < 0x10000) length = [0x82, n >> 8, n & 0xff];
  else length = [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

/** A DER INTEGER from an unsigned big-endian magnitude (minimal, positive). */
function derUnsignedInteger(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const bytes = magnitude.subarray(start);
  return derTlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

/**
 * DER SubjectPublicKeyInfo of a (public or private) key.
 *
 * For RSA it is built from the modulus and exponent the key holds: DER is canonical, so
 * these are the bytes `export({ type: 'spki' })` returns, but OpenSSL 3's encoder takes
 * ~300 µs per call here and the JWK export ~2 µs. Fingerprints, safety numbers and pins
 * hash these bytes on every peer verification.
 */
export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType === 'rsa') {
    const jwk = pub.export({ format: 'jwk' });
    if (typeof jwk.n === 'string' && typeof jwk.e === 'string') {
      const rsaPublicKey = derTlv(
        0x30,
        Buffer.concat([derUnsignedInteger(Buffer.from(jwk.n, 'base64url')), derUnsignedInteger(Buffer.from(jwk.e, 'base64url'))]),
      );
      return derTlv(0x30, Buffer.concat([RSA_ALGORITHM_ID, derTlv(0x03, Buffer.concat([Buffer.from([0]), rsaPublicKey]))]));
    }
  }
  return pub.export({ type: 'spki', format: 'der' });
}

/** True when both keys have the same public half. */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return createHash('sha256').update(spkiDer(a)).digest().equals(createHash('sha256').update(spkiDer(b)).digest());
}
