/**
 * Signed revocation status for one certificate, produced by its issuing CA and
 * stapled by the certificate's owner to its handshake, so verifiers need not ask
 * the CA (which would tell the CA who talks to whom).
 *
 * Byte layout (all integers big-endian):
 * | offset | size | field |
 * | --- | --- | --- |
 * | 0 | 2 | ASCII "RS" |
 * | 2 | 1 | version, 1 |
 * | 3 | 1 | status: 0 good, 1 revoked |
 * | 4 | 32 | issuer key hash: SHA-256 of the issuer's DER SubjectPublicKeyInfo |
 * | 36 | 1 | serial length n, 1..20 |
 * | 37 | n | serial: the certificate's serialNumber INTEGER content bytes |
 * | 37+n | 8 | producedAt, u64 milliseconds since the epoch |
 * | 45+n | 8 | revokedAt, u64 ms (0 when good) |
 * | 53+n | 2 | signature length s, 1..1024 |
 * | 55+n | s | RSASSA-PKCS1-v1_5 SHA-256 signature by the issuer over bytes 0..53+n |
 */
import { sign as rsaSign, verify as rsaVerify, type KeyObject } from 'node:crypto';
import { CLOCK_SKEW_MS } from './constants.js';
import { IdentityError } from './errors.js';
import { keyFingerprint } from './fingerprint.js';
import type { CertificateInfo } from './certificate.js';

const MAGIC = Buffer.from('RS', 'ascii');
const VERSION = 1;
const ISSUER_HASH_BYTES = 32;
const MAX_SERIAL_BYTES = 20;
const MAX_SIGNATURE_BYTES = 1024;
const FIXED_BYTES = 2 + 1 + 1 + ISSUER_HASH_BYTES + 1 + 8 + 8 + 2;
export const MAX_REVOCATION_STATUS_BYTES = FIXED_BYTES + MAX_SERIAL_BYTES + MAX_SIGNATURE_BYTES;
/** A staple older than this is stale (the CA's default re-signing interval is well below it). */
export const DEFAULT_STAPLE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export type RevocationState = 'good' | 'revoked';

export interface RevocationStatus {
  status: RevocationState;
  issuerKeyHash: Buffer;
  /** Lowercase hex of the serial bytes. */
  serial: string;
  producedAt: number;
  revokedAt: number;
  /** The signed bytes (everything before the signature length). */
  signed: Buffer;
  signature: Buffer;
}

function serialBytes(serialHex: string): Buffer {
  const bytes = Buffer.from(serialHex, 'hex');
  if (bytes.length === 0 || bytes.length > MAX_SERIAL_BYTES || bytes.toString('hex') !== serialHex.toLowerCase()) {
    throw new IdentityError('ERR_REVOCATION_MALFORMED', `serial must be 1..${MAX_SERIAL_BYTES} bytes of even-length hex`);
  }
  return bytes;
}

/** The signed part of a status (the CA signs it). */
export function encodeRevocationStatusBody(s: { status: RevocationState; issuerKeyHash: Buffer; serial: string; producedAt: number; revokedAt: number }): Buffer {
  const serial = serialBytes(s.serial);
  if (s.issuerKeyHash.length !== ISSUER_HASH_BYTES) throw new IdentityError('ERR_REVOCATION_MALFORMED', 'issuer key hash must be 32 bytes');
  const out = Buffer.alloc(FIXED_BYTES - 2 + serial.length);
  let o = 0;
  o += MAGIC.copy(out, o);
  out[o++] = VERSION;
  out[o++] = s.status === 'revoked' ? 1 : 0;
  o += s.issuerKeyHash.copy(out, o);
  out[o++] = serial.length;
  o += serial.copy(out, o);
  out.writeBigUInt64BE(BigInt(s.producedAt), o);
  o += 8;
  out.writeBigUInt64BE(BigInt(s.revokedAt), o);
  return out;
}

/** Encodes and signs a status with the issuer's private key. */
export function signRevocationStatus(s: { status: RevocationState; serial: string; producedAt: number; revokedAt?: number; issuerKey: KeyObject; issuerCertificate: CertificateInfo }): Buffer {
  const body = encodeRevocationStatusBody({
    status: s.status,
    serial: s.serial,
    producedAt: s.producedAt,
    revokedAt: s.status === 'revoked' ? (s.revokedAt ?? s.producedAt) : 0,
    issuerKeyHash: keyFingerprint(s.issuerCertificate.publicKey),
  });
  const signature = rsaSign('sha256', body, s.issuerKey);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(signature.length);
  return Buffer.concat([body, len, signature]);
}

/** Decodes untrusted bytes; checks every length before reading. Does not verify the signature. */
export function decodeRevocationStatus(buf: Buffer): RevocationStatus {
  const bad = (why: string): never => {
    throw new IdentityError('ERR_REVOCATION_MALFORMED', `revocation status: ${why}`);
  };
  if (!Buffer.isBuffer(buf) || buf.length < FIXED_BYTES + 1 + 1) bad('too short');
  if (buf.length > MAX_REVOCATION_STATUS_BYTES) bad('too long');
  if (!buf.subarray(0, 2).equals(MAGIC)) bad('bad magic');
  if (buf[2] !== VERSION) bad(`unsupported version ${buf[2]}`);
  const statusByte = buf[3]!;
  if (statusByte > 1) bad('unknown status');
  const issuerKeyHash = Buffer.from(buf.subarray(4, 4 + ISSUER_HASH_BYTES));
  const n = buf[36]!;
  if (n < 1 || n > MAX_SERIAL_BYTES) bad('bad serial length');
  const bodyEnd = 37 + n + 16;
  if (buf.length < bodyEnd + 2) bad('truncated');
  const serial = buf.subarray(37, 37 + n).toString('hex');
  const producedAt = buf.readBigUInt64BE(37 + n);
  const revokedAt = buf.readBigUInt64BE(45 + n);
  if (producedAt > BigInt(Number.MAX_SAFE_INTEGER) || revokedAt > BigInt(Number.MAX_SAFE_INTEGER)) bad('time out of range');
  const s = buf.readUInt16BE(bodyEnd);
  if (s < 1 || s > MAX_SIGNATURE_BYTES) bad('bad signature length');
  if (buf.length !== bodyEnd + 2 + s) bad('length mismatch');
  if (statusByte === 0 && revokedAt !== 0n) bad('good status with a revocation time');
  return {
    status: statusByte === 1 ? 'revoked' : 'good',
    issuerKeyHash,
    serial,
    producedAt: Number(producedAt),
    revokedAt: Number(revokedAt),
    signed: Buffer.from(buf.subarray(0, bodyEnd)),
    signature: Buffer.from(buf.subarray(bodyEnd + 2)),
  };
}

/** What a staple says about a certificate, after every check. */
export type StapleState = 'good' | 'revoked' | 'stale' | 'forged' | 'missing';

export interface StapleCheck {
  state: StapleState;
  reason?: string;
  producedAt?: number;
}

/**
 * Judges a staple for `leaf`, issued by `issuer`: `forged` when it does not
 * parse, names another issuer or serial, has a bad signature or comes from the
 * future; `revoked` for a genuine revoked status of any age; `stale` for a
 * genuine good status older than `maxAgeMs`; `good` otherwise.
 */
export function checkStaple(staple: Buffer | undefined, leaf: CertificateInfo, issuer: CertificateInfo, options: { now?: number; maxAgeMs?: number; clockSkewMs?: number } = {}): StapleCheck {
  if (staple === undefined || staple.length === 0) return { state: 'missing' };
  const now = options.now ?? Date.now();
  const maxAge = options.maxAgeMs ?? DEFAULT_STAPLE_MAX_AGE_MS;
  const skew = options.clockSkewMs ?? CLOCK_SKEW_MS;
  let status: RevocationStatus;
  try {
    status = decodeRevocationStatus(staple);
  } catch (err) {
    return { state: 'forged', reason: (err as Error).message };
  }
  if (!status.issuerKeyHash.equals(Buffer.from(issuer.fingerprint, 'hex'))) return { state: 'forged', reason: 'status signed for another issuer key' };
  if (status.serial !== leaf.serial) return { state: 'forged', reason: `status is for serial ${status.serial}, not ${leaf.serial}` };
  let ok = false;
  try {
    ok = rsaVerify('sha256', status.signed, issuer.publicKey, status.signature);
  } catch {
    ok = false;
  }
  if (!ok) return { state: 'forged', reason: 'status signature does not verify' };
  if (status.producedAt > now + skew) return { state: 'forged', reason: 'status produced in the future' };
  if (status.status === 'revoked') return { state: 'revoked', producedAt: status.producedAt, reason: `revoked on ${new Date(status.revokedAt).toISOString()}` };
  if (now - status.producedAt > maxAge) return { state: 'stale', producedAt: status.producedAt, reason: `status is ${Math.round((now - status.producedAt) / 1000)} s old` };
  return { state: 'good', producedAt: status.producedAt };
}
