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

/** DER SubjectPublicKeyInfo of a (public or private) key. */
export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/** True when both keys have the same public half. */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return createHash('sha256').update(spkiDer(a)).digest().equals(createHash('sha256').update(spkiDer(b)).digest());
}
