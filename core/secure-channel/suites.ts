/**
 * Cipher suites and their ephemeral key exchanges. Each suite fixes the key exchange,
 * the record protection and (for all of ours) RSA or Ed25519 certificate signatures.
 *
 * Key share encodings (the `share` bytes of the hellos):
 *
 * | suite | share | shared secret Z |
 * | --- | --- | --- |
 * | X25519 | 32-byte u-coordinate (RFC 7748) | 32 bytes, all-zero rejected |
 * | ECDHE-P256 | 65-byte uncompressed point `04 ‖ X ‖ Y` | 32-byte X coordinate |
 * | DHE-2048 | 256-byte big-endian `g^x mod p` (RFC 3526 group 14), 2 <= y <= p-2 | 256-byte big-endian |
 */
import {
  createDiffieHellman,
  createDiffieHellmanGroup,
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { SC_ERROR, SecureChannelError, protocolError } from './errors.js';

export const SUITE = Object.freeze({
  DHE2048_RSA_AES256_CBC_SHA256: 1,
  ECDHE_P256_RSA_AES256_CBC_SHA256: 2,
  X25519_RSA_AES256_GCM: 3,
});
export type SuiteId = (typeof SUITE)[keyof typeof SUITE];

export const SUITE_NAMES = Object.freeze({
  'X25519/RSA/AES-256-GCM': SUITE.X25519_RSA_AES256_GCM,
  'ECDHE-P256/RSA/AES-256-CBC+HMAC-SHA256': SUITE.ECDHE_P256_RSA_AES256_CBC_SHA256,
  'DHE-2048/RSA/AES-256-CBC+HMAC-SHA256': SUITE.DHE2048_RSA_AES256_CBC_SHA256,
});
export type SuiteName = keyof typeof SUITE_NAMES;

/** Preference order when the caller names none: the modern suite first. */
export const DEFAULT_SUITES: readonly SuiteName[] = Object.freeze([
  'X25519/RSA/AES-256-GCM',
  'ECDHE-P256/RSA/AES-256-CBC+HMAC-SHA256',
  'DHE-2048/RSA/AES-256-CBC+HMAC-SHA256',
]);

export type RecordCipher = 'aes-256-gcm' | 'aes-256-cbc-hmac-sha256';

export function suiteName(id: SuiteId): SuiteName {
  for (const [name, value] of Object.entries(SUITE_NAMES)) if (value === id) return name as SuiteName;
  throw new Error(`unknown suite ${id}`);
}

export function isSuiteId(n: number): n is SuiteId {
  return n === 1 || n === 2 || n === 3;
}

export function recordCipherOf(id: SuiteId): RecordCipher {
  return id === SUITE.X25519_RSA_AES256_GCM ? 'aes-256-gcm' : 'aes-256-cbc-hmac-sha256';
}

/** One side's ephemeral key pair for one suite. */
export interface KeyShare {
  readonly suite: SuiteId;
  readonly share: Buffer;
  /** Z from the peer's share; throws ERR_SC_PROTOCOL for an invalid share. */
  computeSecret(peerShare: Buffer): Buffer;
}

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_BYTES = 32;
const P256_SHARE_BYTES = 65;
const DHE_BYTES = 256;

/**
 * X25519 keys cross the API as JWK (raw 32-byte coordinates): OpenSSL 3's DER/SPKI
 * decoder costs 130-170 µs per key, the raw import about 6 µs (measured here), and this
 * runs twice per handshake on each side.
 */
function x25519PublicKey(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function x25519Share(fixedPrivate?: Buffer): KeyShare {
  let privateKey: KeyObject;
  let publicKey: KeyObject;
  if (fixedPrivate) {
    privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, fixedPrivate]), format: 'der', type: 'pkcs8' });
    publicKey = createPublicKey(privateKey);
  } else {
    ({ privateKey, publicKey } = generateKeyPairSync('x25519'));
  }
  const x = publicKey.export({ format: 'jwk' }).x;
  const share = x === undefined ? Buffer.alloc(0) : Buffer.from(x, 'base64url');
  if (share.length !== X25519_BYTES) throw new SecureChannelError(SC_ERROR.INTERNAL, 'X25519 public key not exportable');
  return {
    suite: SUITE.X25519_RSA_AES256_GCM,
    share,
    computeSecret(peerShare) {
      if (peerShare.length !== X25519_BYTES) throw protocolError('X25519 share must be 32 bytes');
      let z: Buffer;
      try {
        z = diffieHellman({ privateKey, publicKey: x25519PublicKey(peerShare) });
      } catch (err) {
        throw new SecureChannelError(SC_ERROR.PROTOCOL, 'invalid X25519 share', { cause: err });
      }
      // A low-order point gives Z = 0: the peer would control the key (RFC 7748 §6.1).
      let acc = 0;
      for (const b of z) acc |= b;
      if (acc === 0) throw protocolError('X25519 share is a low-order point');
      return z;
    },
  };
}

function p256Share(fixedPrivate?: Buffer): KeyShare {
  const ecdh = createECDH('prime256v1');
  if (fixedPrivate) ecdh.setPrivateKey(fixedPrivate);
  else ecdh.generateKeys();
  return {
    suite: SUITE.ECDHE_P256_RSA_AES256_CBC_SHA256,
    share: ecdh.getPublicKey(),
    computeSecret(peerShare) {
      if (peerShare.length !== P256_SHARE_BYTES || peerShare[0] !== 0x04) throw protocolError('P-256 share must be an uncompressed point');
      try {
        // computeSecret rejects points that are not on the curve.
        return ecdh.computeSecret(peerShare);
      } catch (err) {
        throw new SecureChannelError(SC_ERROR.PROTOCOL, 'invalid P-256 share', { cause: err });
      }
    },
  };
}

function leftPad(buf: Buffer, size: number): Buffer {
  if (buf.length === size) return buf;
  const out = Buffer.alloc(size);
  buf.copy(out, size - buf.length);
  return out;
}

function dheShare(fixedPrivate?: Buffer): KeyShare {
  const group = createDiffieHellmanGroup('modp14');
  // A named group cannot take a given private key; the same prime as a plain DH object can.
  const dh = fixedPrivate ? createDiffieHellman(group.getPrime(), 2) : group;
  if (fixedPrivate) (dh as ReturnType<typeof createDiffieHellman>).setPrivateKey(fixedPrivate);
  dh.generateKeys();
  const pMinus1 = BigInt('0x' + dh.getPrime('hex')) - 1n;
  return {
    suite: SUITE.DHE2048_RSA_AES256_CBC_SHA256,
    share: leftPad(dh.getPublicKey(), DHE_BYTES),
    computeSecret(peerShare) {
      if (peerShare.length !== DHE_BYTES) throw protocolError('DHE share must be 256 bytes');
      // 1 and p-1 (and anything outside the group) would force Z into a tiny subgroup.
      const y = BigInt('0x' + peerShare.toString('hex'));
      if (y < 2n || y >= pMinus1) throw protocolError('DHE share out of range');
      return leftPad(dh.computeSecret(peerShare), DHE_BYTES);
    },
  };
}

/** A fresh ephemeral key share, or a fixed one (test vectors only). */
export function createKeyShare(suite: SuiteId, fixedPrivate?: Buffer): KeyShare {
  switch (suite) {
    case SUITE.X25519_RSA_AES256_GCM:
      return x25519Share(fixedPrivate);
    case SUITE.ECDHE_P256_RSA_AES256_CBC_SHA256:
      return p256Share(fixedPrivate);
    case SUITE.DHE2048_RSA_AES256_CBC_SHA256:
      return dheShare(fixedPrivate);
  }
}
