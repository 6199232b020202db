import { createHash, type KeyObject } from 'node:crypto';
import { spkiDer } from './keys.js';

/** Digits per group and groups of a one-key safety number (30 digits). */
const SAFETY_GROUP_DIGITS = 5;
const SAFETY_GROUPS = 6;
/** Hash rounds behind a safety number; 30 digits (~100 bits) already resist a second-preimage search, so one is enough. */
const SAFETY_HASH_ITERATIONS = 1;
const SAFETY_DOMAIN = 'bitchat safety number v1';

/** SHA-256 of the DER SubjectPublicKeyInfo: the identity of a key, what pins store. */
export function keyFingerprint(key: KeyObject | Buffer): Buffer {
  const spki = Buffer.isBuffer(key) ? key : spkiDer(key);
  return createHash('sha256').update(spki).digest();
}

/** Fingerprint as colon-free lowercase hex (64 characters). */
export function keyFingerprintHex(key: KeyObject | Buffer): string {
  return keyFingerprint(key).toString('hex');
}

/**
 * A short, human-comparable number for one key: six groups of five digits.
 * Users read it to each other out of band to confirm a self-issued profile.
 * Bound to the e-mail so the same key under two addresses reads differently.
 */
export function safetyNumber(key: KeyObject | Buffer, email: string): string {
  const spki = Buffer.isBuffer(key) ? key : spkiDer(key);
  let digest = createHash('sha512').update(SAFETY_DOMAIN).update(spki).update(email.toLowerCase()).digest();
  for (let i = 1; i < SAFETY_HASH_ITERATIONS; i++) digest = createHash('sha512').update(digest).update(spki).digest();
  const groups: string[] = [];
  for (let g = 0; g < SAFETY_GROUPS; g++) {
    // 5 bytes -> 40 bits -> mod 10^5 (bias below 1e-7).
    const chunk = digest.readUIntBE(g * 5, 5);
    groups.push(String(chunk % 10 ** SAFETY_GROUP_DIGITS).padStart(SAFETY_GROUP_DIGITS, '0'));
  }
  return groups.join(' ');
}

/**
 * The number two users compare for their conversation: both one-key numbers,
 * in a fixed order so each side shows the same digits.
 */
export function pairSafetyNumber(a: { key: KeyObject | Buffer; email: string }, b: { key: KeyObject | Buffer; email: string }): string {
  const na = safetyNumber(a.key, a.email);
  const nb = safetyNumber(b.key, b.email);
  return na < nb ? `${na} ${nb}` : `${nb} ${na}`;
}
